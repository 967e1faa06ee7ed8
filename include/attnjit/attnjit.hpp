// attnjit: the public C++ API. If it is not in include/attnjit/, it is not API.
//
// A Runtime resolves a problem (op, dtype, shape) to loaded kernels once and then only launches them.
// Pointers are CUDA device pointers; a stream is a CUstream (nullptr = the legacy default stream) of the
// context current on the calling thread (the device's primary context if none is current).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnjit {

// ---- errors ------------------------------------------------------------------------------------
// One family: every error attnjit raises is an attnjit::Error with a code and a message that says
// what failed, with which values, and what to do.
enum class ErrorCode {
  invalid_argument,  // the problem or a pointer is wrong; the message names the values
  no_driver,         // libcuda.so.1 could not be loaded, or no GPU is present
  driver,            // a CUDA driver call failed
  no_compiler,       // NVRTC could not be loaded and the kernel is not in the store
  compile,           // NVRTC rejected a generated kernel (the message carries the log)
  store,             // the SQLite store failed in a way that could not be worked around
  internal,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

const char* to_string(ErrorCode code);

// ---- problems ----------------------------------------------------------------------------------
enum class DType { f32, f16, bf16 };
enum class Norm { softmax, sparsemax };
enum class Bias { none, present };

const char* to_string(DType dtype);
const char* to_string(Norm norm);
std::size_t size_of(DType dtype);

struct Padding {
  int top = 0, bottom = 0, left = 0, right = 0;
  static Padding symmetric(int p) { return {p, p, p, p}; }
  bool operator==(const Padding&) const = default;
};

// Multi-Token Attention, convolution after the normalization (SPEC.md section 1).
//   scores (batch, in_channels, length, length), weight (out_channels, in_channels/groups,
//   kernel_h, kernel_w), bias (out_channels), out (batch, out_channels, out_h(), out_w()).
// Weight, bias and every gradient have the scores' dtype.
struct MtaProblem {
  int batch = 1;
  int in_channels = 1;
  int out_channels = 1;
  int length = 1;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  Padding padding{};
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
  Bias bias = Bias::none;
  Norm norm = Norm::softmax;
  DType dtype = DType::f32;

  int out_h() const;  // floor((L + top + bottom - dh*(Kh-1) - 1) / sh) + 1
  int out_w() const;  // floor((L + left + right - dw*(Kw-1) - 1) / sw) + 1
  bool operator==(const MtaProblem&) const = default;
};

// Throws Error{invalid_argument} naming the offending values and what to do.
void validate(const MtaProblem& problem);
std::string describe(const MtaProblem& problem);  // one line, for messages and tables

// Elements of the row-statistics buffer that forward fills and backward reads: float32,
// batch * in_channels * length values (the softmax log-sum-exp or the sparsemax threshold per row).
std::size_t mta_row_stats_elements(const MtaProblem& problem);

struct MtaForwardArgs {
  const void* scores = nullptr;
  const void* weight = nullptr;
  const void* bias = nullptr;  // required iff problem.bias == Bias::present
  void* out = nullptr;
  float* row_stats = nullptr;  // mta_row_stats_elements(problem) floats, kept for backward
};

struct MtaBackwardArgs {
  const void* scores = nullptr;
  const void* weight = nullptr;
  const float* row_stats = nullptr;  // as written by mta_forward for the same scores
  const void* grad_out = nullptr;
  void* grad_scores = nullptr;
  void* grad_weight = nullptr;
  void* grad_bias = nullptr;  // required iff problem.bias == Bias::present
  void* workspace = nullptr;  // Runtime::mta_backward_workspace_bytes(problem) bytes
};

// 1-D neighborhood attention (SPEC.md section 3): query, key, value and out are (batch, heads, length,
// head_dim). Query i attends key j only inside its window:
//   clipped (SPEC.md, Liger-Kernel): |i - j| <= (kernel_size / 2) * dilation and (j - i) % dilation == 0,
//     the window cut at the sequence's ends (query 0 with kernel 7 sees keys 0..3);
//   shifted (NATTEN): the same dilation group, kernel_size keys, the window moved inward at the ends so every
//     query sees exactly kernel_size keys (all of its group's keys when the group is shorter);
//   causal: j = i - t * dilation for t = 0 .. kernel_size - 1, j >= 0.
// out_i = sum_j softmax_j(scale * q_i . k_j) v_j over the window; scale 0 means 1 / sqrt(head_dim).
enum class NaWindow { clipped, shifted, causal };
const char* to_string(NaWindow window);

struct NaProblem {
  int batch = 1;
  int heads = 1;
  int length = 1;
  int head_dim = 1;
  int kernel_size = 1;  // odd (clipped and shifted windows are centred), >= 1
  int dilation = 1;
  NaWindow window = NaWindow::clipped;
  double scale = 0;  // 0: 1 / sqrt(head_dim)
  DType dtype = DType::f32;

  double softmax_scale() const;  // scale, or 1 / sqrt(head_dim) when scale is 0
  bool operator==(const NaProblem&) const = default;
};

void validate(const NaProblem& problem);  // Error{invalid_argument} naming the values and what to do
std::string describe(const NaProblem& problem);

// Floats of the row log-sum-exp that the forward writes and the backward reads: batch * heads * length
// (natural log of sum_j exp(scale q_i . k_j) over query i's window).
std::size_t na_logsumexp_elements(const NaProblem& problem);

// query, key, value, out and the gradients are (batch, heads, length, head_dim), contiguous, in the
// problem's dtype. No L x L tensor exists anywhere: the backward recomputes the window's scores from the
// log-sum-exp, as FlashAttention does.
struct NaForwardArgs {
  const void* query = nullptr;
  const void* key = nullptr;
  const void* value = nullptr;
  void* out = nullptr;
  float* logsumexp = nullptr;  // na_logsumexp_elements(problem) floats, kept for backward
};

struct NaBackwardArgs {
  const void* query = nullptr;
  const void* key = nullptr;
  const void* value = nullptr;
  const void* out = nullptr;         // as the forward wrote it
  const float* logsumexp = nullptr;  // as the forward wrote it
  const void* grad_out = nullptr;
  void* grad_query = nullptr;
  void* grad_key = nullptr;
  void* grad_value = nullptr;
  void* workspace = nullptr;  // Runtime::neighborhood_attention_workspace_bytes(problem) bytes
};

// ---- runtime -----------------------------------------------------------------------------------
enum class CacheMode { read_write, read_only, off };

struct RuntimeOptions {
  std::string cache_path;  // empty: $ATTNJIT_CACHE, else $XDG_CACHE_HOME/attnjit/attnjit.db
  CacheMode cache_mode = CacheMode::read_write;
};

// Counters since the Runtime was made; what the tests use to prove a kernel was not recompiled.
struct RuntimeStats {
  std::uint64_t nvrtc_compiles = 0;  // kernels compiled by NVRTC in this process
  std::uint64_t store_hits = 0;      // kernels read from the SQLite store
  std::uint64_t module_loads = 0;    // cuModuleLoadData calls
  std::uint64_t plans = 0;           // problems resolved to kernels (each once)
};

using Stream = void*;  // a CUstream

// Which kernel runs at one step of a problem, and why (DESIGN.md "Two scopes of validity"): a tuned winner
// only when it was tuned in the current environment (GPU, SM count, arch, driver, NVRTC, attnjit).
struct KernelChoice {
  std::string step;    // "row_stats", "forward", "backward_input", "backward_weight", "reduce_weight"
  std::string kernel;  // the kernel's name: its spec, tile config included
  bool tuned = false;  // true: the current environment's tuned winner
  // "tuned winner from 2026-11-24 on NVIDIA H100 80GB HBM3, 132 SMs, driver 580.159.04: median 141 us, ...",
  // "heuristic: no tuned winner for this problem", "pinned by ATTNJIT_MTA_CONFIG"
  std::string why;
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Resolve without launching: compile or load every kernel the problem needs (forward and backward).
  void prepare_mta(const MtaProblem& problem);

  void mta_forward(const MtaProblem& problem, const MtaForwardArgs& args, Stream stream);
  void mta_backward(const MtaProblem& problem, const MtaBackwardArgs& args, Stream stream);
  std::size_t mta_backward_workspace_bytes(const MtaProblem& problem);

  // The kernels the problem runs in this thread's context, in launch order, each with the reason it was
  // chosen; plans the problem first if needed (compiling or loading, as a first launch would).
  std::vector<KernelChoice> explain_mta(const MtaProblem& problem);

  // Neighborhood attention (SPEC.md section 3), the same way.
  void prepare_neighborhood_attention(const NaProblem& problem);
  void neighborhood_attention_forward(const NaProblem& problem, const NaForwardArgs& args, Stream stream);
  void neighborhood_attention_backward(const NaProblem& problem, const NaBackwardArgs& args, Stream stream);
  std::size_t neighborhood_attention_workspace_bytes(const NaProblem& problem);
  std::vector<KernelChoice> explain_neighborhood_attention(const NaProblem& problem);

  RuntimeStats stats() const;
  std::string cache_path() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

const char* version();  // attnjit's version string, part of every kernel key

}  // namespace attnjit
