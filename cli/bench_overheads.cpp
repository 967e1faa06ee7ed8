// attnjit bench --overheads: attnjit's own costs on a GPU machine. Cold NVRTC compile of each kernel
// (no CUDA headers are parsed: the templates are the only includes; for comparison, the same kernels
// again with cuda_fp16.h and cuda_bf16.h included, when the toolkit's headers are there), loading each kernel from the
// store (lookup, checksum, cuModuleLoadData), and the dispatch overhead of Runtime::mta_forward (or
// neighborhood_attention_forward) over bare cuLaunchKernel calls of the same kernels (host time to submit,
// the GPU left to run).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "cli/common.hpp"
#include "runtime/driver.hpp"
#include "runtime/mta_plan.hpp"
#include "runtime/na_plan.hpp"
#include "runtime/nvrtc.hpp"
#include "tuner/tune_report.hpp"
#include "generator/render.hpp"
#include "generator/templates.hpp"
#include "tuner/device_memory.hpp"

namespace attnjit::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Median over batches of `calls` submissions; the stream is drained between batches, untimed.
template <class F>
double median_submit_us(F&& submit, int batches, int calls) {
  std::vector<double> per_call;
  for (int b = 0; b < batches; ++b) {
    const auto start = Clock::now();
    for (int c = 0; c < calls; ++c) submit();
    per_call.push_back(1e6 * seconds_since(start) / calls);
    ATTNJIT_CU_CHECK(detail::driver().cuCtxSynchronize());
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

// The CUDA toolkit's include folder, for the with-headers comparison: the first of cuda_toolkit_roots (the
// folders NVRTC is looked for in) that holds include/cuda_bf16.h; empty when none does.
std::string cuda_include_dir() {
  for (const std::string& root : detail::cuda_toolkit_roots()) {
    const auto dir = std::filesystem::path(root) / "include";
    if (std::filesystem::exists(dir / "cuda_bf16.h")) return dir.string();
  }
  return "";
}

// The kernel's source as a CUDA program usually starts: the toolkit's fp16/bf16 headers included
// (attnjit's templates define their own 16-bit types and never include them).
RenderedKernel with_cuda_headers(RenderedKernel kernel, const std::string& include_dir) {
  kernel.source = "#include <cuda_fp16.h>\n#include <cuda_bf16.h>\n" + kernel.source;
  kernel.options.push_back("--include-path=" + include_dir);
  return kernel;
}

// Cold compile, compile with the CUDA headers, and load from the store, of each of `specs` (into r);
// smem_bytes(spec) is its launch's dynamic shared memory.
template <class SmemBytes>
void measure_kernel_costs(nlohmann::json& r, const std::vector<KernelSpec>& specs, CUcontext context,
                          const detail::DeviceInfo& device, SmemBytes&& smem_bytes) {
  const auto store = std::filesystem::temp_directory_path() / fmt::format("attnjit-overheads-{}.db", ::getpid());
  std::filesystem::remove(store);
  // Cold compiles, one at a time. NVRTC 13 answers a repeated compile of the same kernel from a cache
  // of its own within a process (0.5 s, then 0.03 s; a distinct trailing comment in the source does not
  // defeat it), so the cold figure is the first compile of each kernel in this process; the repeats
  // are reported beside it as cold_compile_runs_s, to show the cache.
  constexpr int kCompiles = 3;
  const CompileTarget target{device.arch, detail::nvrtc_version()};
  for (const KernelSpec& spec : specs) {
    std::vector<double> seconds;
    for (int i = 0; i < kCompiles; ++i) seconds.push_back(detail::compile(render(spec), target, templates()).seconds);
    r["cold_compile_runs_s"][name(spec)] = seconds;
    r["cold_compile_s"][name(spec)] = seconds.front();
  }
  // The same kernels with the CUDA headers a hand-written kernel would include (cuda_fp16.h,
  // cuda_bf16.h) parsed by NVRTC first: what attnjit saves by never including them.
  if (const std::string include_dir = cuda_include_dir(); !include_dir.empty()) {
    for (const KernelSpec& spec : specs) {
      r["cold_compile_with_cuda_headers_s"][name(spec)] =
          detail::compile(with_cuda_headers(render(spec), include_dir), target, templates()).seconds;
    }
    r["cuda_include_dir"] = include_dir;
  } else {
    r["cold_compile_with_cuda_headers_s"] =
        fmt::format("not measured: no include/cuda_bf16.h in {}", fmt::join(detail::cuda_toolkit_roots(), ", "));
  }
  {
    detail::KernelCache cache(RuntimeOptions{store.string(), CacheMode::read_write});
    for (const KernelSpec& spec : specs) cache.binary(spec, device.arch);
  }
  {  // a new process's view: every kernel from the store into the context
    detail::KernelCache cache(RuntimeOptions{store.string(), CacheMode::read_write});
    for (const KernelSpec& spec : specs) {
      const auto start = Clock::now();
      cache.function(spec, context, device.arch, smem_bytes(spec));
      r["store_load_ms"][name(spec)] = 1e3 * seconds_since(start);
    }
    r["store_hits"] = cache.stats().store_hits;
    r["nvrtc_compiles_on_load"] = cache.stats().nvrtc_compiles;
  }
  std::filesystem::remove(store);
}

}  // namespace

nlohmann::json measure_overheads(const MtaProblem& p) {
  nlohmann::json r;
  const CUcontext context = detail::current_context();
  const detail::DeviceInfo device = detail::device_info(context);
  const MtaKernelSpecs s = mta_kernel_specs(p, mta_configs(p));
  measure_kernel_costs(r, in_launch_order(s), context, device,
                       [&](const KernelSpec& spec) { return launch_shape(spec, p).smem_bytes; });

  Runtime runtime(RuntimeOptions{"", CacheMode::off});
  detail::KernelCache cache(RuntimeOptions{"", CacheMode::off});
  const auto plan = detail::make_mta_plan(cache, p, context, device);
  const std::size_t L = p.length, es = size_of(p.dtype);
  detail::DeviceBuffer scores(p.batch * p.in_channels * L * L * es), weight(p.out_channels * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w * es),
      out(p.batch * p.out_channels * p.out_h() * p.out_w() * es), stats(mta_row_stats_elements(p) * 4);
  scores.fill(0x3c);  // small finite values in every dtype
  weight.fill(0x3c);
  const MtaForwardArgs args{scores.get(), weight.get(), nullptr, out.get(), static_cast<float*>(stats.get())};
  const MtaParams params = detail::forward_params(p, args);
  runtime.mta_forward(p, args, nullptr);  // plan it
  constexpr int kBatches = 51, kCalls = 200;
  const double runtime_us = median_submit_us([&] { runtime.mta_forward(p, args, nullptr); }, kBatches, kCalls);
  const double bare_us = median_submit_us([&] {
    detail::launch(plan->row_stats, params, nullptr);
    detail::launch(plan->forward, params, nullptr);
  }, kBatches, kCalls);
  r["dispatch"] = {{"problem", describe(p)}, {"runtime_mta_forward_us", runtime_us},
                   {"bare_two_cuLaunchKernel_us", bare_us}, {"overhead_us", runtime_us - bare_us},
                   {"calls_per_batch", kCalls}, {"batches", kBatches}};
  return r;
}

nlohmann::json measure_overheads(const NaProblem& p) {
  nlohmann::json r;
  const CUcontext context = detail::current_context();
  const detail::DeviceInfo device = detail::device_info(context);
  detail::KernelCache cache(RuntimeOptions{"", CacheMode::off});
  const auto plan = detail::make_na_plan(cache, p, context, device);  // the configs the runtime would run
  measure_kernel_costs(r, in_launch_order(na_kernel_specs(p, plan->configs)), context, device,
                       [&](const KernelSpec& spec) { return launch_shape(spec, p).smem_bytes; });

  Runtime runtime(RuntimeOptions{"", CacheMode::off});
  const std::size_t elements = static_cast<std::size_t>(p.batch) * p.heads * p.length * p.head_dim;
  detail::DeviceBuffer query(elements * size_of(p.dtype)), key(elements * size_of(p.dtype)),
      value(elements * size_of(p.dtype)), out(elements * size_of(p.dtype)), lse(na_logsumexp_elements(p) * 4);
  for (detail::DeviceBuffer* b : {&query, &key, &value}) b->fill(0x3c);  // small finite values in every dtype
  const NaForwardArgs args{query.get(), key.get(), value.get(), out.get(), static_cast<float*>(lse.get())};
  runtime.neighborhood_attention_forward(p, args, nullptr);  // plan it
  // The forward's parameters, made per call (with the warpgroup forward's tensor maps, encoded per call
  // because a map holds the tensors' addresses): their cost alone, then the whole dispatch over a bare
  // launch of parameters made once.
  constexpr int kBatches = 51, kCalls = 200;
  volatile int made = 0;  // what the timed calls made is read, so they stay
  const double params_us =
      median_submit_us([&] { made = made + detail::na_forward_params(*plan, args).batch_heads; }, kBatches, kCalls);
  const NaParams params = detail::na_forward_params(*plan, args);
  const double runtime_us =
      median_submit_us([&] { runtime.neighborhood_attention_forward(p, args, nullptr); }, kBatches, kCalls);
  const double bare_us = median_submit_us([&] { detail::launch(plan->forward, params, nullptr); }, kBatches, kCalls);
  r["dispatch"] = {{"problem", describe(p)}, {"forward_config", config_text(KernelKind::na_forward, plan->configs.forward)},
                   {"runtime_neighborhood_attention_forward_us", runtime_us}, {"bare_cuLaunchKernel_us", bare_us},
                   {"overhead_us", runtime_us - bare_us}, {"of_which_forward_params_us", params_us},
                   {"calls_per_batch", kCalls}, {"batches", kBatches}};
  return r;
}

}  // namespace attnjit::cli
