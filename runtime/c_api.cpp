// The C ABI (include/attnjit/attnjit.h): each entry converts its arguments to the C++ API's, calls it, and
// turns an exception into a status with the message kept for attnjit_last_error. Nothing else happens here.
#include "attnjit/attnjit.h"

#include <exception>
#include <new>
#include <string>

#include "attnjit/attnjit.hpp"

namespace {

thread_local std::string last_error;

attnjit_status status_of(attnjit::ErrorCode code) {
  switch (code) {
    case attnjit::ErrorCode::invalid_argument: return ATTNJIT_INVALID_ARGUMENT;
    case attnjit::ErrorCode::no_driver: return ATTNJIT_NO_DRIVER;
    case attnjit::ErrorCode::driver: return ATTNJIT_DRIVER;
    case attnjit::ErrorCode::no_compiler: return ATTNJIT_NO_COMPILER;
    case attnjit::ErrorCode::compile: return ATTNJIT_COMPILE;
    case attnjit::ErrorCode::store: return ATTNJIT_STORE;
    case attnjit::ErrorCode::internal: return ATTNJIT_INTERNAL;
  }
  return ATTNJIT_INTERNAL;
}

// Runs f, mapping every exception to a status and keeping its message; no exception crosses the ABI.
template <class F>
attnjit_status guarded(F&& f) {
  last_error.clear();
  try {
    f();
    return ATTNJIT_OK;
  } catch (const attnjit::Error& e) {
    last_error = e.what();
    return status_of(e.code());
  } catch (const std::bad_alloc&) {
    last_error = "out of host memory";
    return ATTNJIT_INTERNAL;
  } catch (const std::exception& e) {
    last_error = e.what();
    return ATTNJIT_INTERNAL;
  }
}

void require(bool ok, const char* what) {
  if (!ok) throw attnjit::Error(attnjit::ErrorCode::invalid_argument, what);
}

attnjit::MtaProblem to_cpp(const attnjit_mta_problem* p) {
  require(p != nullptr, "the problem pointer is NULL; pass an attnjit_mta_problem");
  require(p->dtype >= ATTNJIT_F32 && p->dtype <= ATTNJIT_BF16, "dtype is not ATTNJIT_F32, ATTNJIT_F16 or ATTNJIT_BF16");
  require(p->norm == ATTNJIT_SOFTMAX || p->norm == ATTNJIT_SPARSEMAX, "norm is not ATTNJIT_SOFTMAX or ATTNJIT_SPARSEMAX");
  require(p->has_bias == 0 || p->has_bias == 1, "has_bias must be 0 or 1");
  attnjit::MtaProblem q;
  q.batch = p->batch;
  q.in_channels = p->in_channels;
  q.out_channels = p->out_channels;
  q.length = p->length;
  q.kernel_h = p->kernel_h;
  q.kernel_w = p->kernel_w;
  q.stride_h = p->stride_h;
  q.stride_w = p->stride_w;
  q.padding = {p->pad_top, p->pad_bottom, p->pad_left, p->pad_right};
  q.dilation_h = p->dilation_h;
  q.dilation_w = p->dilation_w;
  q.groups = p->groups;
  q.bias = p->has_bias ? attnjit::Bias::present : attnjit::Bias::none;
  q.norm = p->norm == ATTNJIT_SOFTMAX ? attnjit::Norm::softmax : attnjit::Norm::sparsemax;
  q.dtype = p->dtype == ATTNJIT_F32 ? attnjit::DType::f32 : p->dtype == ATTNJIT_F16 ? attnjit::DType::f16 : attnjit::DType::bf16;
  return q;
}

attnjit::NaProblem to_cpp(const attnjit_na_problem* p) {
  require(p != nullptr, "the problem pointer is NULL; pass an attnjit_na_problem");
  require(p->dtype >= ATTNJIT_F32 && p->dtype <= ATTNJIT_BF16, "dtype is not ATTNJIT_F32, ATTNJIT_F16 or ATTNJIT_BF16");
  require(p->window >= ATTNJIT_NA_CLIPPED && p->window <= ATTNJIT_NA_CAUSAL,
          "window is not ATTNJIT_NA_CLIPPED, ATTNJIT_NA_SHIFTED or ATTNJIT_NA_CAUSAL");
  attnjit::NaProblem q;
  q.batch = p->batch;
  q.heads = p->heads;
  q.length = p->length;
  q.head_dim = p->head_dim;
  q.kernel_size = p->kernel_size;
  q.dilation = p->dilation;
  q.window = p->window == ATTNJIT_NA_CLIPPED   ? attnjit::NaWindow::clipped
             : p->window == ATTNJIT_NA_SHIFTED ? attnjit::NaWindow::shifted
                                               : attnjit::NaWindow::causal;
  q.scale = p->scale;
  q.dtype = p->dtype == ATTNJIT_F32 ? attnjit::DType::f32 : p->dtype == ATTNJIT_F16 ? attnjit::DType::f16 : attnjit::DType::bf16;
  return q;
}

attnjit::Runtime& runtime_of(attnjit_runtime* r) {
  require(r != nullptr, "the runtime is NULL; make one with attnjit_runtime_create");
  return *reinterpret_cast<attnjit::Runtime*>(r);
}

}  // namespace

extern "C" {

const char* attnjit_last_error(void) { return last_error.c_str(); }
const char* attnjit_version(void) { return attnjit::version(); }

attnjit_status attnjit_runtime_create(const char* cache_path, attnjit_cache_mode mode, attnjit_runtime** runtime) {
  return guarded([&] {
    require(runtime != nullptr, "the output pointer is NULL; pass the address of an attnjit_runtime*");
    *runtime = nullptr;
    require(mode >= ATTNJIT_CACHE_READ_WRITE && mode <= ATTNJIT_CACHE_OFF,
            "mode is not ATTNJIT_CACHE_READ_WRITE, ATTNJIT_CACHE_READ_ONLY or ATTNJIT_CACHE_OFF");
    attnjit::RuntimeOptions options;
    options.cache_path = cache_path != nullptr ? cache_path : "";
    options.cache_mode = mode == ATTNJIT_CACHE_READ_WRITE ? attnjit::CacheMode::read_write
                         : mode == ATTNJIT_CACHE_READ_ONLY ? attnjit::CacheMode::read_only
                                                           : attnjit::CacheMode::off;
    *runtime = reinterpret_cast<attnjit_runtime*>(new attnjit::Runtime(options));
  });
}

void attnjit_runtime_destroy(attnjit_runtime* runtime) { delete reinterpret_cast<attnjit::Runtime*>(runtime); }

attnjit_status attnjit_mta_validate(const attnjit_mta_problem* problem) {
  return guarded([&] { attnjit::validate(to_cpp(problem)); });
}

attnjit_status attnjit_mta_row_stats_elements(const attnjit_mta_problem* problem, size_t* elements) {
  return guarded([&] {
    require(elements != nullptr, "the output pointer is NULL");
    const attnjit::MtaProblem p = to_cpp(problem);
    attnjit::validate(p);
    *elements = attnjit::mta_row_stats_elements(p);
  });
}

attnjit_status attnjit_mta_prepare(attnjit_runtime* runtime, const attnjit_mta_problem* problem) {
  return guarded([&] { runtime_of(runtime).prepare_mta(to_cpp(problem)); });
}

attnjit_status attnjit_mta_workspace_bytes(attnjit_runtime* runtime, const attnjit_mta_problem* problem, size_t* bytes) {
  return guarded([&] {
    require(bytes != nullptr, "the output pointer is NULL");
    *bytes = runtime_of(runtime).mta_backward_workspace_bytes(to_cpp(problem));
  });
}

attnjit_status attnjit_mta_forward(attnjit_runtime* runtime, const attnjit_mta_problem* problem, const void* scores,
                                   const void* weight, const void* bias, void* out, float* row_stats, void* stream) {
  return guarded([&] {
    runtime_of(runtime).mta_forward(to_cpp(problem), {scores, weight, bias, out, row_stats}, stream);
  });
}

attnjit_status attnjit_mta_backward(attnjit_runtime* runtime, const attnjit_mta_problem* problem, const void* scores,
                                    const void* weight, const float* row_stats, const void* grad_out,
                                    void* grad_scores, void* grad_weight, void* grad_bias, void* workspace,
                                    void* stream) {
  return guarded([&] {
    runtime_of(runtime).mta_backward(
        to_cpp(problem), {scores, weight, row_stats, grad_out, grad_scores, grad_weight, grad_bias, workspace}, stream);
  });
}

attnjit_status attnjit_na_validate(const attnjit_na_problem* problem) {
  return guarded([&] { attnjit::validate(to_cpp(problem)); });
}

attnjit_status attnjit_na_logsumexp_elements(const attnjit_na_problem* problem, size_t* elements) {
  return guarded([&] {
    require(elements != nullptr, "the output pointer is NULL");
    const attnjit::NaProblem p = to_cpp(problem);
    attnjit::validate(p);
    *elements = attnjit::na_logsumexp_elements(p);
  });
}

attnjit_status attnjit_na_prepare(attnjit_runtime* runtime, const attnjit_na_problem* problem) {
  return guarded([&] { runtime_of(runtime).prepare_neighborhood_attention(to_cpp(problem)); });
}

attnjit_status attnjit_na_workspace_bytes(attnjit_runtime* runtime, const attnjit_na_problem* problem, size_t* bytes) {
  return guarded([&] {
    require(bytes != nullptr, "the output pointer is NULL");
    *bytes = runtime_of(runtime).neighborhood_attention_workspace_bytes(to_cpp(problem));
  });
}

attnjit_status attnjit_na_forward(attnjit_runtime* runtime, const attnjit_na_problem* problem, const void* query,
                                  const void* key, const void* value, void* out, float* logsumexp, void* stream) {
  return guarded([&] {
    runtime_of(runtime).neighborhood_attention_forward(to_cpp(problem), {query, key, value, out, logsumexp}, stream);
  });
}

attnjit_status attnjit_na_backward(attnjit_runtime* runtime, const attnjit_na_problem* problem, const void* query,
                                   const void* key, const void* value, const void* out, const float* logsumexp,
                                   const void* grad_out, void* grad_query, void* grad_key, void* grad_value,
                                   void* workspace, void* stream) {
  return guarded([&] {
    runtime_of(runtime).neighborhood_attention_backward(
        to_cpp(problem),
        {query, key, value, out, logsumexp, grad_out, grad_query, grad_key, grad_value, workspace}, stream);
  });
}

}  // extern "C"
