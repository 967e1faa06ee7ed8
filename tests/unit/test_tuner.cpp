// The autotuner's parts that need no GPU: the candidate space around the heuristic with its pruning, the tie
// rule, the worker process and its watchdog, the choice of configs (pin, tuned winner, heuristic), the
// problem keys the worker receives, and the comparison of encoded results.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <string>
#include <set>
#include <tuple>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "generator/kernel_spec.hpp"
#include "tuner/mta_candidates.hpp"
#include "tuner/mta_choice.hpp"
#include "tuner/mta_heuristics.hpp"
#include "tuner/device_memory.hpp"
#include "tuner/mta_verify.hpp"
#include "tuner/tune_report.hpp"
#include "tuner/worker.hpp"

namespace attnjit {
namespace {

MtaProblem depthwise_k5() {
  return {.batch = 2, .in_channels = 16, .out_channels = 16, .length = 2048, .kernel_h = 5, .kernel_w = 5,
          .padding = Padding::symmetric(2), .groups = 16, .dtype = DType::bf16};
}

MtaProblem mixing_k7() {
  return {.batch = 2, .in_channels = 16, .out_channels = 16, .length = 2048, .kernel_h = 7, .kernel_w = 7,
          .padding = Padding::symmetric(3), .groups = 1, .dtype = DType::bf16};
}

TileConfig heuristic_of(KernelKind kind, const MtaProblem& p) {
  MtaConfigs c = mta_heuristic_configs(p);
  return config_of(c, kind);
}

Measured measured(TileConfig c, double median, double p20, double p80) { return {c, median, p20, p80, 50}; }

}  // namespace

TEST_SUITE("tuner") {

TEST_CASE("candidates: the heuristic first, then distinct neighbours the device can launch") {
  const DeviceLimits h100;
  for (const MtaProblem& p : {depthwise_k5(), mixing_k7()}) {
    for (KernelKind kind : {KernelKind::mta_row_stats, KernelKind::mta_forward, KernelKind::mta_backward_input,
                            KernelKind::mta_backward_weight, KernelKind::mta_reduce_weight}) {
      INFO(describe(p), " ", to_string(kind));
      const std::vector<TileConfig> candidates = mta_candidates(kind, p, h100);
      REQUIRE_FALSE(candidates.empty());
      CHECK(candidates.front() == heuristic_of(kind, p));
      std::set<std::tuple<int, int, int, int>> seen;
      for (const TileConfig& c : candidates) {
        CHECK(seen.insert({c.tile_i, c.tile_j, c.warps, c.oc_tile}).second);  // no duplicates
        const LaunchShape shape = launch_shape(mta_kernel_spec(kind, p, c), p);
        CHECK(shape.threads <= 1024u);
        CHECK(shape.smem_bytes <= static_cast<unsigned>(h100.max_smem_per_block));
      }
      if (kind == KernelKind::mta_reduce_weight) {
        CHECK(candidates.size() == 1);  // no knobs
      } else {
        CHECK(candidates.size() > 2);  // a space to search
      }
    }
  }
  // The forward's output-channel tiles divide C_out/groups; channel mixing in bf16 stays on tensor cores
  // (whole 8-channel tiles, whole 16-position m-tiles per warp), as its heuristic does.
  const std::vector<TileConfig> mixing = mta_candidates(KernelKind::mta_forward, mixing_k7(), h100);
  CHECK(mixing.size() > 8);
  for (const TileConfig& c : mixing) {
    CHECK(16 % c.oc_tile == 0);
    CHECK(c.oc_tile % 8 == 0);
    CHECK((c.tile_i * c.tile_j) % (16 * c.warps) == 0);
  }
  MtaProblem mixing_f32 = mixing_k7();  // fp32 has no tensor-core path: every oc_tile divisor is a candidate
  mixing_f32.dtype = DType::f32;
  std::set<int> oc_tiles;
  for (const TileConfig& c : mta_candidates(KernelKind::mta_forward, mixing_f32, h100)) oc_tiles.insert(c.oc_tile);
  CHECK(oc_tiles == std::set<int>{1, 2, 4, 8, 16});
}

TEST_CASE("candidates: pruned by the device's shared memory and threads, never the heuristic") {
  DeviceLimits small;
  small.max_smem_per_block = 16 * 1024;
  small.max_threads_per_block = 256;
  const MtaProblem p = mixing_k7();
  const std::vector<TileConfig> all = mta_candidates(KernelKind::mta_forward, p, DeviceLimits{});
  const std::vector<TileConfig> pruned = mta_candidates(KernelKind::mta_forward, p, small);
  CHECK(pruned.size() < all.size());
  CHECK(pruned.front() == all.front());
  for (std::size_t i = 1; i < pruned.size(); ++i) {
    CHECK(pruned[i].warps <= 8);
    CHECK(launch_shape(mta_kernel_spec(KernelKind::mta_forward, p, pruned[i]), p).smem_bytes <= 16u * 1024);
  }
}

TEST_CASE("tie rule: a clear winner wins; within the noise band the heuristic stays; else the smallest config") {
  const TileConfig heuristic{32, 64, 8, 1}, small{16, 32, 4, 1}, big{64, 64, 16, 1};
  // big is 20% faster, far outside the band (fastest's p20-p80 = 2 us, 2% = 2 us)
  CHECK(pick_winner({measured(heuristic, 120, 118, 122), measured(big, 100, 99, 101)}, heuristic) == 1);
  // 1.5 us faster with a 2 us band: noise; the heuristic stays
  CHECK(pick_winner({measured(big, 100, 99, 101), measured(heuristic, 101.5, 100, 103)}, heuristic) == 1);
  // heuristic measurably slower; small and big tied: the smaller config, whichever order they come in
  const std::vector<Measured> tied = {measured(heuristic, 130, 129, 131), measured(big, 100, 98, 102),
                                      measured(small, 101, 100, 102)};
  CHECK(pick_winner(tied, heuristic) == 2);
  std::vector<Measured> reversed(tied.rbegin(), tied.rend());
  CHECK(reversed[pick_winner(reversed, heuristic)].config == small);
  // the band is at least 2% of the median even when the spread is 0
  CHECK(pick_winner({measured(big, 100, 100, 100), measured(heuristic, 101.9, 101.9, 101.9)}, heuristic) == 1);
  CHECK(pick_winner({measured(big, 100, 100, 100), measured(heuristic, 102.1, 102.1, 102.1)}, heuristic) == 0);
  CHECK_THROWS_AS(pick_winner({}, heuristic), Error);
}

TEST_CASE("worker: a clean exit returns its output; a crash, a hang and an abort are each reported, and the caller goes on") {
  using namespace std::chrono_literals;
  const WorkerResult echo = run_worker({"/bin/sh", "-c", "cat; echo done >&2; exit 3"}, "request 1\n", 10s);
  CHECK(echo.end == WorkerEnd::exited);
  CHECK(echo.exit_code == 3);
  CHECK(echo.out == "request 1\n");
  CHECK(echo.err == "done\n");
  CHECK(echo.describe() == "exited with status 3");

  const WorkerResult crash = run_worker({"/bin/sh", "-c", "echo before; kill -SEGV $$"}, "", 10s);
  CHECK(crash.end == WorkerEnd::signaled);
  CHECK(crash.signal == SIGSEGV);
  CHECK(crash.out == "before\n");
  CHECK(crash.describe().find("signal 11") != std::string::npos);

  const auto start = std::chrono::steady_clock::now();
  const WorkerResult hang = run_worker({"/bin/sh", "-c", "sleep 30 & sleep 30"}, "", 300ms);  // a child too
  CHECK(hang.end == WorkerEnd::timed_out);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(hang.describe().find("hung") != std::string::npos);

  const WorkerResult quiet_hang = run_worker({"/bin/sh", "-c", "exec >&- 2>&-; sleep 30"}, "", 300ms);  // closed its pipes
  CHECK(quiet_hang.end == WorkerEnd::timed_out);

  const WorkerResult abort = run_worker({"/bin/sh", "-c", "kill -ABRT $$"}, "", 10s);
  CHECK(abort.end == WorkerEnd::signaled);
  CHECK(abort.signal == SIGABRT);

  std::string big(1 << 20, 'x');  // more than a pipe holds, both ways: no deadlock
  const WorkerResult copy = run_worker({"/bin/cat"}, big, 10s);
  CHECK(copy.end == WorkerEnd::exited);
  CHECK(copy.out.size() == big.size());

  // A worker that stops reading its request: the tuner is not killed by SIGPIPE and sees the exit.
  const WorkerResult deaf = run_worker({"/bin/sh", "-c", "exec <&-; exit 4"}, big, 10s);
  CHECK(deaf.end == WorkerEnd::exited);
  CHECK(deaf.exit_code == 4);

  CHECK_THROWS_AS(run_worker({"/nonexistent/worker"}, "", 1s), Error);
}

TEST_CASE("choose_config: the winner of the current environment, else the heuristic with the reason") {
  const TileConfig heuristic{32, 64, 8, 1};
  const cache::Environment now{"NVIDIA H100 80GB HBM3", 132, "sm_90", "580.159.04", "13.0", version()};
  cache::TunedRecord old_driver;
  old_driver.environment = now;
  old_driver.environment.driver_version = "570.86";
  old_driver.config_json = to_json(TileConfig{16, 64, 4, 1});
  cache::TunedRecord current = old_driver;
  current.environment = now;
  current.config_json = to_json(TileConfig{64, 64, 16, 1});
  current.median_us = 141;
  current.p20_us = 139;
  current.p80_us = 143;
  current.heuristic_median_us = 160;
  current.tuned_at = 1795478400 + 3600;  // 2026-11-24 01:00 UTC

  const ConfigChoice none = choose_config(heuristic, {}, now);
  CHECK_FALSE(none.tuned);
  CHECK(none.config == heuristic);
  CHECK(none.why == "heuristic: no tuned winner for this problem");

  const ConfigChoice stale = choose_config(heuristic, {old_driver}, now);
  CHECK_FALSE(stale.tuned);
  CHECK(stale.config == heuristic);
  CHECK(stale.why == "heuristic: 1 winner exists but was tuned under another environment (driver 570.86 -> 580.159.04)");

  const ConfigChoice tuned = choose_config(heuristic, {old_driver, current}, now);
  CHECK(tuned.tuned);
  CHECK((tuned.config == TileConfig{64, 64, 16, 1}));
  CHECK(tuned.why == "tuned winner from 2026-11-24 on NVIDIA H100 80GB HBM3, 132 SMs, driver 580.159.04: median 141 us, "
                     "p20-p80 139-143 us (heuristic 160 us)");
}

TEST_CASE("problem keys and tuned configs: canonical JSON, round trips, errors name the text") {
  MtaProblem p = depthwise_k5();
  const std::string key = mta_problem_key(p);
  CHECK(key == mta_problem_key(depthwise_k5()));
  p.batch = 4;
  CHECK(mta_problem_key(p) != key);  // batch changes the timing, so it is part of the key
  p = depthwise_k5();
  p.padding.right = 0;
  CHECK(mta_problem_key(p) != key);
  const TileConfig c{16, 128, 8, 2};
  CHECK(tile_config_from_json(to_json(c)) == c);
  for (const char* bad : {"[1,2]", "{\"tile_i\":16}", "{\"tile_i\":16,\"tile_j\":1.5,\"warps\":8,\"oc_tile\":1}", "nope"}) {
    INFO(bad);
    try {
      tile_config_from_json(bad);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_argument);
      CHECK(std::string(e.what()).find(bad) != std::string::npos);
    }
  }
}

TEST_CASE("worker watch: each stdout line reaches on_line as it comes; silence past the idle limit is a hang") {
  using namespace std::chrono_literals;
  std::vector<std::string> lines;
  WorkerWatch watch;
  watch.limit = 20s;
  watch.idle_limit = 2s;
  watch.on_line = [&](const std::string& line) { lines.push_back(line); };
  // Three lines 0.3 s apart: never 2 s silent, so not hung although the run is longer than one step.
  const WorkerResult steady = run_worker({"/bin/sh", "-c", "for i in 1 2 3; do echo step $i; sleep 0.3; done"}, "", watch);
  CHECK(steady.end == WorkerEnd::exited);
  CHECK(lines == std::vector<std::string>{"step 1", "step 2", "step 3"});

  lines.clear();
  watch.idle_limit = 500ms;
  const auto start = std::chrono::steady_clock::now();
  const WorkerResult stuck = run_worker({"/bin/sh", "-c", "echo verify 1; sleep 30"}, "", watch);
  CHECK(stuck.end == WorkerEnd::timed_out);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(lines == std::vector<std::string>{"verify 1"});  // the tuner knows which step was in flight
  CHECK(stuck.idle_seconds >= 0.5);
  CHECK(stuck.describe().find("no progress for") != std::string::npos);
}

TEST_CASE("choose_mta_configs: heuristic without winners, the environment's winner per kernel, a pin above both") {
  const MtaProblem p = depthwise_k5();
  const cache::Environment now{"NVIDIA H100 80GB HBM3", 132, "sm_90", "580.159.04", "13.0", version()};
  const MtaConfigs heuristic = mta_heuristic_configs(p);

  const MtaConfigChoice plain = choose_mta_configs(p, nullptr, now);
  CHECK(plain.configs == heuristic);
  std::vector<std::string> steps;
  for (const KernelChoice& c : plain.choices) {
    steps.push_back(c.step);
    CHECK_FALSE(c.tuned);
  }
  // depthwise K5: 16/16 * 25 = 25 weight taps per thread, fused into the input gradient: no weight kernel
  CHECK(steps == std::vector<std::string>{"row_stats", "forward", "backward_input", "reduce_weight"});
  CHECK(plain.choices[1].kernel == name(mta_kernel_spec(KernelKind::mta_forward, p, heuristic.forward)));

  const TileConfig tuned_forward{64, 32, 4, 1};
  std::vector<std::pair<std::string, KernelKind>> asked;
  auto find = [&](const std::string& key, KernelKind kind) {
    asked.emplace_back(key, kind);
    std::vector<cache::TunedRecord> winners;
    if (kind == KernelKind::mta_forward) {
      cache::TunedRecord w;
      w.environment = now;
      w.config_json = to_json(tuned_forward);
      winners.push_back(w);
    }
    return winners;
  };
  const MtaConfigChoice tuned = choose_mta_configs(p, find, now);
  CHECK(tuned.configs.forward == tuned_forward);
  CHECK(tuned.configs.backward_input == heuristic.backward_input);
  CHECK(tuned.choices[1].tuned);
  CHECK(tuned.choices[1].kernel == name(mta_kernel_spec(KernelKind::mta_forward, p, tuned_forward)));
  CHECK(tuned.choices[1].why.find("tuned winner from") == 0);
  CHECK(tuned.choices[2].why == "heuristic: no tuned winner for this problem");
  CHECK(asked.size() == 3);  // row_stats, forward, backward_input: the reduction has no knobs
  CHECK(asked[0].first == mta_problem_key(p));

  cache::Environment elsewhere = now;
  elsewhere.gpu_name = "NVIDIA A100-SXM4-80GB";
  const MtaConfigChoice other = choose_mta_configs(p, find, elsewhere);
  CHECK(other.configs.forward == heuristic.forward);
  CHECK(other.choices[1].why.find("tuned under another environment (GPU NVIDIA H100 80GB HBM3 -> NVIDIA A100") != std::string::npos);

  ::setenv("ATTNJIT_MTA_CONFIG", "forward=16x32x4x1", 1);
  const MtaConfigChoice pinned = choose_mta_configs(p, find, now);
  ::unsetenv("ATTNJIT_MTA_CONFIG");
  CHECK((pinned.configs.forward == TileConfig{16, 32, 4, 1}));
  CHECK(pinned.choices[1].why == "pinned by ATTNJIT_MTA_CONFIG");

  const MtaConfigChoice mixing = choose_mta_configs(mixing_k7(), nullptr, now);
  CHECK(mixing.choices.size() == 5);  // 16 * 49 taps: the weight gradient has its own kernel
  CHECK(mixing.choices[3].step == "backward_weight");
}

TEST_CASE("problem keys round trip to the problem; kernel kinds by name; bad text names itself") {
  for (MtaProblem p : {depthwise_k5(), mixing_k7()}) {
    p.bias = Bias::present;
    p.norm = Norm::sparsemax;
    p.padding = {1, 2, 3, 4};
    CHECK(mta_problem_from_key(mta_problem_key(p)) == p);
  }
  for (KernelKind k : {KernelKind::mta_row_stats, KernelKind::mta_forward, KernelKind::mta_backward_input,
                       KernelKind::mta_backward_weight, KernelKind::mta_reduce_weight}) {
    CHECK(kernel_kind_from_string(to_string(k)) == k);
  }
  CHECK_THROWS_WITH_AS(kernel_kind_from_string("mta_sideways"), doctest::Contains("mta_sideways"), Error);
  CHECK_THROWS_WITH_AS(mta_problem_from_key("{\"batch\": 1}"), doctest::Contains("batch"), Error);
  std::string key = mta_problem_key(depthwise_k5());
  key.replace(key.find("bf16"), 4, "fp8");
  CHECK_THROWS_WITH_AS(mta_problem_from_key(key), doctest::Contains("fp8"), Error);
}

TEST_CASE("compare_encoded: equal buffers pass; one wrong element fails a 16-bit norm test or the fp32 bound; NaN fails") {
  std::vector<double> values(300000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.001 * static_cast<double>(i)) + 0.5;
  for (DType t : {DType::f32, DType::f16, DType::bf16}) {
    INFO(to_string(t));
    const auto ref = detail::encode(t, values);
    const detail::Comparison same = detail::compare_encoded(t, ref, ref);
    CHECK(same.passed());
    CHECK(same.error == 0);
    CHECK(same.compared == values.size());

    std::vector<double> wrong = values;
    for (std::size_t i = 0; i < 5000; ++i) wrong[100000 + i] += 10.0;  // a tile's worth of wrong outputs
    CHECK_FALSE(detail::compare_encoded(t, detail::encode(t, wrong), ref).passed());

    std::vector<double> nan = values;
    nan[299999] = std::nan("");
    const detail::Comparison with_nan = detail::compare_encoded(t, detail::encode(t, nan), ref);
    CHECK(with_nan.nan_count == 1);
    CHECK_FALSE(with_nan.passed());
  }
  // fp32's bound is per element: a single element off by 1e-3 fails
  std::vector<double> one = values;
  one[7] += 1e-3;
  CHECK_FALSE(detail::compare_encoded(DType::f32, detail::encode(DType::f32, one), detail::encode(DType::f32, values)).passed());
}

TEST_CASE("compare_logsumexp: fp32 problems at the fp32 bound; f16 and bf16 within the type's unit roundoff, per element") {
  const std::vector<double> ref = {0.5, 4.0, -3.0, 6.5};
  auto off = [&](double by, std::size_t at) {
    std::vector<double> out = ref;
    out[at] += by;
    return out;
  };
  // 2e-3 is within bf16's 2^-8 = 3.9e-3 (+ 1e-4 (1 + 4)), past f16's 2^-11 = 4.9e-4 and the fp32 bound
  CHECK(detail::compare_logsumexp(DType::bf16, off(2e-3, 1), ref).passed());
  CHECK_FALSE(detail::compare_logsumexp(DType::f16, off(2e-3, 1), ref).passed());
  CHECK_FALSE(detail::compare_logsumexp(DType::f32, off(2e-3, 1), ref).passed());
  CHECK(detail::compare_logsumexp(DType::f16, off(4e-4, 1), ref).passed());
  // one element past bf16's bound fails it (a per-element bound, not a norm over all)
  CHECK_FALSE(detail::compare_logsumexp(DType::bf16, off(5e-3, 3), ref).passed());
  std::vector<double> nan = ref;
  nan[2] = std::nan("");
  CHECK_FALSE(detail::compare_logsumexp(DType::bf16, nan, ref).passed());
}

TEST_CASE("tune report CSV: a row per candidate, the stored winner marked, text quoted; config text per kernel") {
  CHECK(config_text(KernelKind::mta_row_stats, {0, 0, 8, 0}) == "8w");
  CHECK(config_text(KernelKind::mta_forward, {32, 64, 4, 1}) == "32x64x4x1");
  CHECK(config_text(KernelKind::mta_backward_input, {16, 64, 4, 0}) == "16x64x4");
  const nlohmann::json report = nlohmann::json::parse(R"({
    "environment": {"gpu": "NVIDIA H100 80GB HBM3"},
    "problems": [{"name": "dw K5, \"paper\"", "kernels": [
      {"kernel": "forward", "winner": "32x64x4x1", "stored": true, "candidates": [
        {"config": "32x64x8x1", "status": "timed", "detail": "", "median_us": 248.5, "p20_us": 248, "p80_us": 249, "samples": 50},
        {"config": "32x64x4x1", "status": "timed", "detail": "", "median_us": 226, "p20_us": 225.5, "p80_us": 226.5, "samples": 50},
        {"config": "8x16x16x1", "status": "crash", "detail": "CUDA_ERROR_ILLEGAL_ADDRESS,\nthen exit", "median_us": 0,
         "p20_us": 0, "p80_us": 0, "samples": 0}]},
      {"kernel": "row_stats", "winner": "8w", "stored": false, "candidates": [
        {"config": "8w", "status": "skipped", "detail": "", "median_us": 0, "p20_us": 0, "p80_us": 0, "samples": 0}]}]}]})");
  const std::string csv = tune_report_csv(report);
  std::vector<std::string> lines;
  std::stringstream in(csv);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] == "problem,kernel,config,status,median_us,p20_us,p80_us,samples,winner,detail");
  CHECK(lines[1] == R"("dw K5, ""paper""",forward,32x64x8x1,"timed",248.5,248,249,50,0,"")");
  CHECK(lines[2] == R"("dw K5, ""paper""",forward,32x64x4x1,"timed",226,225.5,226.5,50,1,"")");
  CHECK(lines[3] == R"("dw K5, ""paper""",forward,8x16x16x1,"crash",0,0,0,0,0,"CUDA_ERROR_ILLEGAL_ADDRESS, then exit")");
  CHECK(lines[4] == R"("dw K5, ""paper""",row_stats,8w,"skipped",0,0,0,0,0,"")");  // not stored: no winner row
}

}  // TEST_SUITE

}  // namespace attnjit
