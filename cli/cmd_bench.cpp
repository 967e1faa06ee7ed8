// attnjit bench, the main job: compile a problem's kernels, verify them against the double-precision
// reference, time them on the device and print a table against the memory floor. Without a GPU it
// compiles them for --arch (sm_90) into the store and says so.
#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/bench_common.hpp"
#include "cli/bench_na.hpp"
#include "cli/common.hpp"
#include "cli/problem_args.hpp"
#include "cli/table.hpp"
#include "runtime/driver.hpp"
#include "runtime/kernel_cache.hpp"
#include "tuner/device_memory.hpp"
#include "tuner/mta_verify.hpp"
#include "tuner/timing.hpp"

namespace attnjit::cli {

nlohmann::json measure_overheads(const MtaProblem& problem);  // bench_overheads.cpp
nlohmann::json measure_overheads(const NaProblem& problem);

namespace {

struct BenchArgs {
  ProblemArgs problem;
  bool overheads = false;
  std::string arch = "sm_90";
  int repetitions = 50, warmup = 5;
  std::uint64_t seed = 1;
  bool no_verify = false, json = false;
};

double causal_count(double rows, double cols) {  // positions with j <= i in a rows x cols grid
  double n = 0;
  for (double i = 0; i < rows; ++i) n += std::min(i + 1, cols);
  return n;
}

struct Floors {
  double forward_bytes, backward_bytes;
};

Floors floors(const MtaProblem& p) {
  const double es = static_cast<double>(size_of(p.dtype)), b = p.batch, L = p.length;
  const double scores_lower = b * p.in_channels * causal_count(L, L);
  const double out_full = b * p.out_channels * static_cast<double>(p.out_h()) * p.out_w();
  const double grad_out_lower = b * p.out_channels * causal_count(p.out_h(), p.out_w());
  return {es * (scores_lower + out_full), es * (scores_lower + grad_out_lower + b * p.in_channels * L * L)};
}

// Device buffers of one problem, the inputs random normal (random_buffer).
struct BenchBuffers {
  detail::DeviceBuffer scores, weight, bias, out, stats, grad_out, grad_scores, grad_weight, grad_bias, workspace;
};

BenchBuffers make_buffers(Runtime& runtime, const MtaProblem& p, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::size_t es = size_of(p.dtype), L = p.length;
  const std::size_t n_scores = p.batch * p.in_channels * L * L, n_out = p.batch * p.out_channels * p.out_h() * p.out_w();
  const std::size_t n_weight = p.out_channels * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
  const std::size_t n_bias = p.bias == Bias::present ? p.out_channels : 0;
  return {random_buffer(p.dtype, n_scores, rng), random_buffer(p.dtype, n_weight, rng), random_buffer(p.dtype, n_bias, rng),
          detail::DeviceBuffer(n_out * es), detail::DeviceBuffer(mta_row_stats_elements(p) * 4),
          random_buffer(p.dtype, n_out, rng), detail::DeviceBuffer(n_scores * es), detail::DeviceBuffer(n_weight * es),
          detail::DeviceBuffer(n_bias * es), detail::DeviceBuffer(runtime.mta_backward_workspace_bytes(p))};
}

nlohmann::json bench_one(Runtime& runtime, const NamedProblem& named, const BenchArgs& args) {
  const MtaProblem& p = named.problem;
  nlohmann::json r = {{"name", named.name.empty() ? describe(p) : named.name}, {"problem", to_json(p)}, {"describe", describe(p)}};
  const auto start = std::chrono::steady_clock::now();
  runtime.prepare_mta(p);
  r["plan_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!args.no_verify && named.verify) {
    const detail::MtaVerification v = detail::verify_mta(runtime, p, args.seed, detail::Direction::forward_backward);
    r["verify"] = {{"passed", v.passed()}, {"summary", v.summary()}};
  }
  BenchBuffers b = make_buffers(runtime, p, args.seed + 1);
  const MtaForwardArgs fwd{b.scores.get(), b.weight.get(), b.bias.bytes() ? b.bias.get() : nullptr, b.out.get(),
                           static_cast<float*>(b.stats.get())};
  const MtaBackwardArgs bwd{b.scores.get(), b.weight.get(), static_cast<const float*>(b.stats.get()), b.grad_out.get(),
                            b.grad_scores.get(), b.grad_weight.get(), b.grad_bias.bytes() ? b.grad_bias.get() : nullptr,
                            b.workspace.get()};
  const detail::TimingOptions timing{args.warmup, args.repetitions, true};
  const Floors f = floors(p);
  r["forward"] = timing_json(detail::time_on_device([&](CUstream s) { runtime.mta_forward(p, fwd, s); }, nullptr, timing),
                             f.forward_bytes);
  runtime.mta_forward(p, fwd, nullptr);  // the row statistics the backward reads
  r["backward"] = timing_json(detail::time_on_device([&](CUstream s) { runtime.mta_backward(p, bwd, s); }, nullptr, timing),
                              f.backward_bytes);
  ATTNJIT_CU_CHECK(detail::driver().cuCtxSynchronize());
  return r;
}

void print_table(const nlohmann::json& results) {
  Table table({"problem", "pass", "median us", "p20-p80 us", "floor us", "x floor", "verify"});
  for (const auto& r : results) {
    const std::string verify = r.contains("verify") ? (r["verify"]["passed"] ? "ok" : "FAIL") : "skipped";
    for (const char* pass : {"forward", "backward"}) {
      const auto& t = r[pass];
      table.add({pass == std::string("forward") ? r["name"].get<std::string>() : "", pass,
                 fmt::format("{:.1f}", t["median_us"].get<double>()),
                 fmt::format("{:.1f}-{:.1f}", t["p20_us"].get<double>(), t["p80_us"].get<double>()),
                 fmt::format("{:.1f}", t["floor_us"].get<double>()), fmt::format("{:.2f}", t["x_floor"].get<double>()),
                 verify});
    }
  }
  fmt::print("{}", table.render());
  for (const auto& r : results) {
    fmt::print("{}: {}\n  verify: {}\n", r["name"].get<std::string>(), r["describe"].get<std::string>(),
               r.contains("verify") ? r["verify"]["summary"].get<std::string>() : "skipped");
  }
}

int compile_only(const BenchArgs& args, const GlobalOptions& global, const std::string& why) {
  const std::vector<KernelSpec> specs = specs_of(args.problem, args.arch);
  detail::KernelCache cache(runtime_options(global));
  compile_all(cache, specs, args.arch);
  const RuntimeStats stats = cache.stats();
  fmt::print("No GPU found: {}\n", why);
  fmt::print("Generated and compiled the {} kernels of {} problem(s) for {} instead: {} compiled by NVRTC, {} already in "
             "the store {}.\nNothing was verified or timed: run `attnjit bench` on a machine with an NVIDIA GPU for that.\n",
             specs.size(), any_problems_from(args.problem).mta.size() + any_problems_from(args.problem).na.size(), args.arch, stats.nvrtc_compiles, stats.store_hits,
             cache.store_path().empty() ? "(none)" : cache.store_path());
  return 0;
}

}  // namespace

Command add_bench(CLI::App& app, const GlobalOptions& global) {
  auto args = std::make_shared<BenchArgs>();
  add_problem_options(app, args->problem);
  app.add_option("--arch", args->arch, "without a GPU: the arch to compile for")->capture_default_str();
  app.add_option("--reps", args->repetitions, "timed repetitions (median reported)")->capture_default_str();
  app.add_option("--warmup", args->warmup, "untimed runs first")->capture_default_str();
  app.add_option("--seed", args->seed, "seed of the random inputs")->capture_default_str();
  app.add_flag("--no-verify", args->no_verify, "skip the comparison with the CPU reference");
  app.add_flag("--json", args->json, "print JSON instead of a table");
  app.add_flag("--overheads", args->overheads,
               "instead: cold compile per kernel, load from the store per kernel, and dispatch overhead over bare "
               "cuLaunchKernel, for the problem (JSON)");
  return [args, &global] {
    std::string why;
    if (!detail::driver_available(&why)) return compile_only(*args, global, why);
    if (args->overheads) {
      const AnyProblems problems = any_problems_from(args->problem);
      for (const NamedProblem& p : problems.mta) fmt::print("{}\n", measure_overheads(p.problem).dump(2));
      for (const NamedNaProblem& p : problems.na) fmt::print("{}\n", measure_overheads(p.problem).dump(2));
      return 0;
    }
    Runtime runtime(runtime_options(global));
    nlohmann::json results = nlohmann::json::array();
    const AnyProblems problems = any_problems_from(args->problem);
    for (const NamedProblem& p : problems.mta) results.push_back(bench_one(runtime, p, *args));
    const NaBenchOptions na_options{args->warmup, args->repetitions, args->seed, !args->no_verify};
    for (const NamedNaProblem& p : problems.na) results.push_back(bench_na_one(runtime, p, na_options));
    const RuntimeStats stats = runtime.stats();
    if (args->json) {
      fmt::print("{}\n", nlohmann::json{{"results", results}, {"nvrtc_compiles", stats.nvrtc_compiles},
                                        {"store_hits", stats.store_hits}, {"store", runtime.cache_path()}}.dump(2));
    } else {
      print_table(results);
      fmt::print("kernels: {} compiled by NVRTC, {} loaded from the store {}\n", stats.nvrtc_compiles, stats.store_hits,
                 runtime.cache_path());
    }
    bool all_passed = true;
    for (const auto& r : results) all_passed = all_passed && (!r.contains("verify") || r["verify"]["passed"].get<bool>());
    return all_passed ? 0 : 1;
  };
}

}  // namespace attnjit::cli
