#include "tuner/mta_tune_worker.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <istream>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>

#include "runtime/driver.hpp"
#include "runtime/kernel_cache.hpp"
#include "runtime/mta_plan.hpp"
#include "tuner/tuner_kernels.hpp"
#include "tuner/device_memory.hpp"
#include "tuner/mta_choice.hpp"
#include "tuner/mta_verify.hpp"
#include "tuner/timing.hpp"

namespace attnjit {
namespace {

using nlohmann::json;
using namespace detail;

void emit(std::ostream& out, const json& event) { out << event.dump() << '\n' << std::flush; }

bool is_backward(KernelKind kind) {
  return kind == KernelKind::mta_backward_input || kind == KernelKind::mta_backward_weight ||
         kind == KernelKind::mta_reduce_weight;
}

}  // namespace

int run_mta_tune_worker(std::istream& request_stream, std::ostream& events, const RuntimeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const json request = json::parse(request_stream);
  const MtaProblem p = mta_problem_from_key(request.at("problem").dump());
  validate(p);
  const KernelKind kind = kernel_kind_from_string(request.at("kind"));
  std::vector<TileConfig> candidates;
  for (const json& c : request.at("candidates")) candidates.push_back(tile_config_from_json(c.dump()));
  if (candidates.empty()) raise_invalid("tune-worker: no candidates");
  const std::uint64_t seed = request.value("seed", std::uint64_t{1});
  const int rounds = request.value("rounds", 5), reps = request.value("reps", 10), warmup = request.value("warmup", 3);
  std::string fault;
  int fault_index = -1;
  if (request.contains("fault") && request["fault"].is_object()) {
    fault = request["fault"].at("kind");
    fault_index = request["fault"].at("index");
  }

  const CUcontext context = current_context();
  const DeviceInfo device = device_info(context);
  KernelCache cache(options);
  const MtaConfigs heuristic = mta_heuristic_configs(p);
  auto configs_for = [&](const TileConfig& c) {
    MtaConfigs m = heuristic;
    config_of(m, kind) = c;
    return m;
  };

  // Inputs, outputs and the trusted results: the heuristic kernels' (verified against the
  // double-precision reference by the gpu suite) on these inputs.
  const DType t = p.dtype;
  const std::size_t es = size_of(t), L = p.length;
  const std::size_t n_scores = p.batch * p.in_channels * L * L;
  const std::size_t n_out = static_cast<std::size_t>(p.batch) * p.out_channels * p.out_h() * p.out_w();
  const std::size_t n_weight =
      static_cast<std::size_t>(p.out_channels) * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
  const std::size_t n_bias = p.bias == Bias::present ? p.out_channels : 0;
  // Random normal inputs made on the device. Future entries hold finite random values too: a candidate
  // that reads them changes its result and fails the comparison.
  DeviceRandom random(t, device.arch);
  DeviceBuffer scores = random.normal(n_scores, 4 * seed), weight = random.normal(n_weight, 4 * seed + 1);
  DeviceBuffer bias = random.normal(n_bias, 4 * seed + 2), grad_out = random.normal(n_out, 4 * seed + 3);
  DeviceBuffer out(n_out * es), stats(mta_row_stats_elements(p) * 4), grad_scores(n_scores * es);
  DeviceBuffer grad_weight(n_weight * es), grad_bias(n_bias * es);
  std::size_t workspace_bytes = 0;
  for (const TileConfig& c : candidates) workspace_bytes = std::max(workspace_bytes, mta_workspace_bytes(p, configs_for(c)));
  DeviceBuffer workspace(workspace_bytes);
  DeviceBuffer wrong_weight;  // for the test-only "wrong" fault: the weight with its first tap changed
  if (fault == "wrong") {
    std::vector<std::uint8_t> bytes = weight.download();
    const std::vector<std::uint8_t> changed = encode(t, {decode(t, {bytes.begin(), bytes.begin() + es})[0] + 1.0});
    std::copy(changed.begin(), changed.end(), bytes.begin());
    wrong_weight = DeviceBuffer(bytes.size());
    wrong_weight.upload(bytes);
  }

  const bool backward = is_backward(kind);
  auto forward_args = [&](const void* w, const void* s) {
    return MtaForwardArgs{s, w, n_bias ? bias.get() : nullptr, out.get(), static_cast<float*>(stats.get())};
  };
  auto backward_args = [&](const void* w, const void* s) {
    return MtaBackwardArgs{s, w, static_cast<const float*>(stats.get()), grad_out.get(), grad_scores.get(),
                           grad_weight.get(), n_bias ? grad_bias.get() : nullptr, workspace.get()};
  };
  // One pass of the problem under `plan`: the forward (row statistics and output), or the backward.
  auto run_pass = [&](const MtaPlan& plan, const void* w, const void* s) {
    if (!backward) {
      const MtaParams params = forward_params(p, forward_args(w, s));
      launch(plan.row_stats, params, nullptr);
      launch(plan.forward, params, nullptr);
    } else {
      const MtaParams params = backward_params(plan, backward_args(w, s));
      launch(plan.backward_input, params, nullptr);
      if (plan.backward_weight.function != nullptr) launch(plan.backward_weight, params, nullptr);
      launch(plan.reduce_weight, params, nullptr);
    }
    ATTNJIT_CU_CHECK(driver().cuCtxSynchronize());
  };
  // The buffers a pass writes that are compared: the output, or the three gradients.
  const std::vector<const DeviceBuffer*> results =
      !backward ? std::vector<const DeviceBuffer*>{&out}
                : std::vector<const DeviceBuffer*>{&grad_scores, &grad_weight, &grad_bias};
  auto poison = [&] {
    if (!backward) {
      out.fill(0xFF);
      stats.fill(0xFF);
    } else {
      for (DeviceBuffer* b : {&grad_scores, &grad_weight, &grad_bias, &workspace}) b->fill(0xFF);
    }
  };

  const std::unique_ptr<MtaPlan> trusted_plan = make_mta_plan(cache, p, heuristic, context, device);
  {
    const MtaParams params = forward_params(p, forward_args(weight.get(), scores.get()));
    launch(trusted_plan->row_stats, params, nullptr);  // the row statistics the backward reads
    launch(trusted_plan->forward, params, nullptr);
    ATTNJIT_CU_CHECK(driver().cuCtxSynchronize());
  }
  run_pass(*trusted_plan, weight.get(), scores.get());
  std::vector<DeviceBuffer> trusted;
  for (const DeviceBuffer* b : results) trusted.push_back(b->copy());
  DeviceComparator comparator(t, device.arch);
  // Repetitions per round: `reps`, fewer for slow kernels (about 20 ms of a candidate per round, at least 3),
  // so that a 30 ms kernel's tuning does not take minutes; rounds stay as asked. Warm-up runs likewise:
  // `warmup`, fewer for slow kernels (at least one; about 20 ms of warm-up is taken as enough to settle
  // clocks and caches).
  const TimingStats first = time_on_device(
      [&](CUstream stream) {
        launch(launch_of(*trusted_plan, kind),
               backward ? backward_params(*trusted_plan, backward_args(weight.get(), scores.get()))
                        : forward_params(p, forward_args(weight.get(), scores.get())),
               stream);
      },
      nullptr, {1, 3, true});
  const int launches_in_20ms = static_cast<int>(20000.0 / std::max(first.median_us, 1.0));
  const int reps_per_round = std::clamp(launches_in_20ms, std::min(3, reps), reps);
  const int warmups = std::clamp(launches_in_20ms, std::min(1, warmup), warmup);
  emit(events, {{"event", "ready"}, {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
                {"reps_per_round", reps_per_round}});

  std::vector<std::unique_ptr<MtaPlan>> plans(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    emit(events, {{"event", "verify"}, {"index", i}});
    const bool faulty = static_cast<int>(i) == fault_index;
    try {
      auto plan = make_mta_plan(cache, p, configs_for(candidates[i]), context, device);
      // Pruning after compiling: the cubin's registers may not allow the block's threads.
      const KernelLaunch& kernel = launch_of(*plan, kind);
      int max_threads = 0, registers = 0;
      ATTNJIT_CU_CHECK(driver().cuFuncGetAttribute(&max_threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, kernel.function));
      ATTNJIT_CU_CHECK(driver().cuFuncGetAttribute(&registers, CU_FUNC_ATTRIBUTE_NUM_REGS, kernel.function));
      if (max_threads < static_cast<int>(kernel.shape.threads)) {
        emit(events, {{"event", "pruned"}, {"index", i},
                      {"detail", fmt::format("{} registers per thread allow {} threads per block; the config has {}",
                                             registers, max_threads, kernel.shape.threads)}});
        continue;
      }
      poison();
      if (faulty && fault == "hang") launch_spinning_kernel(device.arch, nullptr);
      // An address no allocation has: the candidate's loads fault (CUDA_ERROR_ILLEGAL_ADDRESS).
      const void* s = faulty && fault == "crash" ? reinterpret_cast<const void*>(std::uintptr_t{1} << 47) : scores.get();
      run_pass(*plan, faulty && fault == "wrong" ? wrong_weight.get() : weight.get(), s);
      std::string summary;
      bool passed = true;
      for (std::size_t k = 0; k < results.size(); ++k) {
        const Comparison c = comparator.compare(*results[k], trusted[k]);
        passed = passed && c.passed();
        summary += fmt::format("{}{:.2e}/{:g}{}", k ? ", " : "", c.error, c.limit,
                               c.nan_count ? fmt::format(" ({} NaN)", c.nan_count) : "");
      }
      if (!passed) {
        emit(events, {{"event", "failed"}, {"index", i}, {"reason", "wrong result"},
                      {"detail", "differs from the heuristic kernels' result: " + summary}});
        continue;
      }
      emit(events, {{"event", "verified"}, {"index", i}, {"summary", summary}});
      plans[i] = std::move(plan);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::driver) {  // the context is unusable after a fault: report and end
        emit(events, {{"event", "failed"}, {"index", i}, {"reason", "crash"}, {"detail", e.what()}});
        return 3;
      }
      emit(events, {{"event", "failed"}, {"index", i}, {"reason", e.code() == ErrorCode::compile ? "compile" : "error"},
                    {"detail", e.what()}});
    }
  }

  // Timing, L2 flushed before every repetition. First a screening round: every verified candidate after
  // its warm-up, kScreenReps repetitions; one slower than kScreenFactor times the fastest screening median
  // cannot come within a noise band of it (bands are a few percent) and is reported with its screening
  // figures instead of being timed on (the heuristic always goes on: its time is the baseline). Then the
  // rounds: the survivors interleaved, a different one first in each round, samples pooled per candidate.
  constexpr int kScreenReps = 3;
  constexpr double kScreenFactor = 1.25;
  std::vector<std::size_t> verified;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    if (plans[i]) verified.push_back(i);
  }
  auto time_candidate = [&](std::size_t i, int round, int warm, int repetitions) {
    emit(events, {{"event", "time"}, {"index", i}, {"round", round}});
    const MtaParams params = backward ? backward_params(*plans[i], backward_args(weight.get(), scores.get()))
                                      : forward_params(p, forward_args(weight.get(), scores.get()));
    const KernelLaunch& kernel = launch_of(*plans[i], kind);
    return time_on_device([&](CUstream stream) { launch(kernel, params, stream); }, nullptr, {warm, repetitions, true});
  };
  std::vector<TimingStats> screening(candidates.size());
  double fastest = 0;
  for (std::size_t i : verified) {
    screening[i] = time_candidate(i, 0, warmups, std::min(kScreenReps, reps_per_round));
    if (fastest == 0 || screening[i].median_us < fastest) fastest = screening[i].median_us;
  }
  std::vector<std::size_t> kept;
  for (std::size_t i : verified) {
    if (i == 0 || screening[i].median_us <= kScreenFactor * fastest) {
      kept.push_back(i);
      continue;
    }
    const TimingStats& s = screening[i];
    emit(events, {{"event", "screened"}, {"index", i}, {"median_us", s.median_us}, {"p20_us", s.p20_us},
                  {"p80_us", s.p80_us}, {"samples", s.count}, {"times_fastest", s.median_us / fastest}});
  }
  verified = kept;
  std::vector<std::vector<double>> samples(candidates.size());
  for (int round = 0; round < rounds && !verified.empty(); ++round) {
    for (std::size_t k = 0; k < verified.size(); ++k) {
      const std::size_t i = verified[(k + static_cast<std::size_t>(round)) % verified.size()];
      const TimingStats s = time_candidate(i, round + 1, 1, reps_per_round);
      samples[i].insert(samples[i].end(), s.samples.begin(), s.samples.end());
    }
  }
  for (std::size_t i : verified) {
    const TimingStats s = summarize(samples[i]);
    emit(events, {{"event", "timed"}, {"index", i}, {"median_us", s.median_us}, {"p20_us", s.p20_us},
                  {"p80_us", s.p80_us}, {"samples", s.count}});
  }
  emit(events, {{"event", "done"}});
  return 0;
}

}  // namespace attnjit
