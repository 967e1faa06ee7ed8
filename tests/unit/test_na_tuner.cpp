// The neighborhood-attention half of the tuner that needs no GPU: the candidate space, the problem key the
// worker receives, the choice of configs (pin, tuned winner, heuristic), tuned-config JSON with lanes, and
// the report's config text.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "na_params.h"  // kNaWarpgroupLanes
#include "tuner/na_candidates.hpp"
#include "tuner/na_choice.hpp"
#include "tuner/tune_report.hpp"

namespace attnjit {

TEST_SUITE("tuner") {
  TEST_CASE("na candidates: the heuristic first, distinct, all accepted by the config check and the device") {
    const NaProblem wide{.batch = 8, .heads = 16, .length = 4096, .head_dim = 64, .kernel_size = 257, .dtype = DType::bf16};
    const NaProblem narrow{.batch = 2, .heads = 32, .length = 4096, .head_dim = 128, .kernel_size = 7, .dtype = DType::f32};
    for (const NaProblem& p : {wide, narrow}) {
      for (KernelKind kind : {KernelKind::na_forward, KernelKind::na_backward_query, KernelKind::na_backward_key}) {
        const std::vector<TileConfig> c = na_candidates(kind, p, DeviceLimits{});
        INFO(describe(p) << " " << to_string(kind));
        REQUIRE(c.size() > 5);
        CHECK(c[0] == config_of(na_heuristic_configs(p), kind));
        for (std::size_t i = 0; i < c.size(); ++i) {
          CHECK(na_config_ok(kind, p, c[i]));
          CHECK(std::count(c.begin(), c.end(), c[i]) == 1);
        }
        const bool tensor_cores = std::any_of(c.begin(), c.end(), [](const TileConfig& t) { return t.lanes == 0; });
        CHECK(tensor_cores == (p.dtype == DType::bf16));  // D = 64: every kernel has tensor-core configs
      }
    }
    // A device with less shared memory gets fewer candidates, none past its limit.
    const std::vector<TileConfig> small = na_candidates(KernelKind::na_forward, wide, DeviceLimits{1024, 40 * 1024});
    for (const TileConfig& t : small) {
      CHECK(launch_shape(na_kernel_spec(KernelKind::na_forward, wide, t), wide).smem_bytes <= 40u * 1024);
    }
  }

  TEST_CASE("na candidates: the forward on warpgroups only on sm_90, only for f16/bf16 with D = 64 or 128") {
    const NaProblem wide{.batch = 8, .heads = 16, .length = 4096, .head_dim = 64, .kernel_size = 257, .dtype = DType::bf16};
    auto warpgroup_configs = [](const std::vector<TileConfig>& c) {
      return std::count_if(c.begin(), c.end(), [](const TileConfig& t) { return t.lanes == kNaWarpgroupLanes; });
    };
    const DeviceLimits sm90{1024, 227 * 1024, "sm_90"};
    CHECK(warpgroup_configs(na_candidates(KernelKind::na_forward, wide, DeviceLimits{})) == 0);
    CHECK(warpgroup_configs(na_candidates(KernelKind::na_forward, wide, sm90)) == 8);  // 4, 8, 12 or 16 warps, 64 or 128 keys
    CHECK(warpgroup_configs(na_candidates(KernelKind::na_backward_query, wide, sm90)) == 0);
    NaProblem odd = wide;
    odd.head_dim = 96;
    CHECK(warpgroup_configs(na_candidates(KernelKind::na_forward, odd, sm90)) == 0);
    odd = wide;
    odd.dtype = DType::f32;
    CHECK(warpgroup_configs(na_candidates(KernelKind::na_forward, odd, sm90)) == 0);
    // The config check names what is wrong.
    CHECK_THROWS_WITH_AS(check_na_config(KernelKind::na_forward, wide, {32, 64, 2, 0, kNaWarpgroupLanes}),
                         doctest::Contains("warps must be 4, 8, 12 or 16"), Error);
    CHECK_THROWS_WITH_AS(check_na_config(KernelKind::na_forward, wide, {64, 32, 4, 0, kNaWarpgroupLanes}),
                         doctest::Contains("tile_j must be 64 or 128"), Error);
    CHECK_THROWS_WITH_AS(check_na_config(KernelKind::na_backward_query, wide, {64, 64, 4, 0, kNaWarpgroupLanes}),
                         doctest::Contains("the forward's only"), Error);
    CHECK_NOTHROW(check_na_config(KernelKind::na_forward, wide, {128, 128, 8, 0, kNaWarpgroupLanes}));
  }

  TEST_CASE("na problem keys round trip, say op na, and mta keys are not taken for them") {
    const NaProblem p{.batch = 2, .heads = 3, .length = 77, .head_dim = 40, .kernel_size = 9, .dilation = 3,
                      .window = NaWindow::causal, .scale = 0.25, .dtype = DType::f16};
    const std::string key = na_problem_key(p);
    CHECK(key.find("\"op\":\"na\"") != std::string::npos);
    NaProblem unscaled = p;  // the key leaves the scale out: no kernel depends on it
    unscaled.scale = 0;
    CHECK(na_problem_from_key(key) == unscaled);
    CHECK(na_problem_key(unscaled) == key);
    CHECK_THROWS_WITH_AS(na_problem_from_key(mta_problem_key(MtaProblem{})), doctest::Contains("not a neighborhood-attention key"),
                         Error);
    CHECK(kernel_kind_from_string("na_bwd_key") == KernelKind::na_backward_key);
  }

  TEST_CASE("tuned configs carry lanes only when they have them: stored mta configs read as before") {
    CHECK(to_json(TileConfig{32, 64, 4, 1}) == R"({"oc_tile":1,"tile_i":32,"tile_j":64,"warps":4})");
    const TileConfig na{32, 38, 4, 0, 16};
    CHECK(tile_config_from_json(to_json(na)) == na);
    const TileConfig mma{64, 64, 4, 0, 0};
    CHECK(tile_config_from_json(to_json(mma)) == mma);
    CHECK(config_text(KernelKind::na_forward, mma) == "64x64x4x0");
    CHECK(config_text(KernelKind::na_backward_key, na) == "32x38x4x16");
  }

  TEST_CASE("choose_na_configs: heuristic without winners, the environment's winner, a pin above both") {
    // f32: no tensor cores, so the two-kernel backward.
    const NaProblem p{.batch = 2, .heads = 32, .length = 4096, .head_dim = 128, .kernel_size = 7, .dtype = DType::f32};
    const cache::Environment now{"NVIDIA H100 80GB HBM3", 132, "sm_90", "580.159.04", "13.0", version()};
    const NaConfigs heuristic = na_heuristic_configs(p);
    const NaConfigChoice plain = choose_na_configs(p, nullptr, now);
    CHECK(plain.configs == heuristic);
    REQUIRE(plain.choices.size() == 3);
    CHECK(plain.choices[0].step == "forward");
    CHECK(plain.choices[2].step == "backward_key");
    CHECK(plain.choices[1].why == "heuristic: no tuned winner for this problem");

    const TileConfig winner{64, 70, 4, 0, 16};
    auto find = [&](const std::string& key, KernelKind kind) {
      std::vector<cache::TunedRecord> winners;
      if (key == na_problem_key(p) && kind == KernelKind::na_backward_key) {
        cache::TunedRecord w;
        w.environment = now;
        w.config_json = to_json(winner);
        winners.push_back(w);
      }
      return winners;
    };
    const NaConfigChoice tuned = choose_na_configs(p, find, now);
    CHECK(tuned.configs.backward_key == winner);
    CHECK(tuned.configs.forward == heuristic.forward);
    CHECK(tuned.choices[2].tuned);
    CHECK(tuned.choices[2].kernel == name(na_kernel_spec(KernelKind::na_backward_key, p, winner)));

    ::setenv("ATTNJIT_NA_CONFIG", "backward_key=16x22x2x8", 1);
    const NaConfigChoice pinned = choose_na_configs(p, find, now);
    CHECK(pinned.configs.backward_key == TileConfig{16, 22, 2, 0, 8});
    CHECK(pinned.choices[2].why == "pinned by ATTNJIT_NA_CONFIG");
    // A pin equal to the heuristic is still a pin: the tuned winner does not override it.
    const TileConfig& h = heuristic.backward_key;
    ::setenv("ATTNJIT_NA_CONFIG", fmt::format("backward_key={}x{}x{}x{}", h.tile_i, h.tile_j, h.warps, h.lanes).c_str(), 1);
    const NaConfigChoice same = choose_na_configs(p, find, now);
    ::unsetenv("ATTNJIT_NA_CONFIG");
    CHECK(same.configs.backward_key == h);
    CHECK(same.choices[2].why == "pinned by ATTNJIT_NA_CONFIG");
  }

  TEST_CASE("choose_na_configs: fused or two-kernel backward by heuristic, by tuned medians, and by pin") {
    const NaProblem p{.batch = 2, .heads = 32, .length = 4096, .head_dim = 128, .kernel_size = 7, .dtype = DType::bf16};
    const cache::Environment now{"NVIDIA H100 80GB HBM3", 132, "sm_90", "580.159.04", "13.0", version()};
    const NaConfigs heuristic = na_heuristic_configs(p);
    REQUIRE(heuristic.fused());  // bf16, D = 128, kernel 7
    CHECK(heuristic.backward_fused == TileConfig{64, 80, 4, 0, 0});
    const NaConfigChoice plain = choose_na_configs(p, nullptr, now);
    REQUIRE(plain.choices.size() == 2);
    CHECK(plain.choices[1].step == "backward_fused");
    // Wider windows, f32 and D past 128 keep the two kernels.
    CHECK_FALSE(na_heuristic_configs(NaProblem{.length = 4096, .head_dim = 64, .kernel_size = 33, .dtype = DType::bf16}).fused());
    CHECK_FALSE(na_heuristic_configs(NaProblem{.length = 4096, .head_dim = 64, .kernel_size = 7, .dtype = DType::f32}).fused());
    CHECK_FALSE(na_heuristic_configs(NaProblem{.length = 4096, .head_dim = 256, .kernel_size = 7, .dtype = DType::f16}).fused());
    // Short groups: no warp without a row (L = 20 at dilation 2: groups of 10, one warp).
    CHECK(na_heuristic_configs(NaProblem{.length = 20, .head_dim = 64, .kernel_size = 7, .dilation = 2, .dtype = DType::f16})
              .backward_fused == TileConfig{16, 16, 1, 0, 0});

    const TileConfig fused_winner{32, 48, 2, 0, 0};
    auto winners_with = [&](double fused_us) {
      return [&, fused_us](const std::string& key, KernelKind kind) {
        std::vector<cache::TunedRecord> out;
        if (key != na_problem_key(p) || kind == KernelKind::na_forward) return out;
        cache::TunedRecord w;
        w.environment = now;
        w.config_json = to_json(kind == KernelKind::na_backward_fused ? fused_winner : config_of(heuristic, kind));
        w.median_us = kind == KernelKind::na_backward_fused ? fused_us : 100.0;  // the two kernels: 200 us
        out.push_back(w);
        return out;
      };
    };
    const NaConfigChoice faster = choose_na_configs(p, winners_with(150.0), now);
    CHECK(faster.configs.backward_fused == fused_winner);
    REQUIRE(faster.choices.size() == 2);
    CHECK(faster.choices[1].tuned);
    CHECK(faster.choices[1].why.find("tuned backward: fused 150 us, two kernels 200 us") != std::string::npos);
    const NaConfigChoice slower = choose_na_configs(p, winners_with(250.0), now);
    CHECK_FALSE(slower.configs.fused());
    REQUIRE(slower.choices.size() == 3);
    CHECK(slower.choices[1].step == "backward_query");
    CHECK(slower.choices[2].why.find("fused 250 us, two kernels 200 us") != std::string::npos);

    ::setenv("ATTNJIT_NA_CONFIG", "backward_fused=off", 1);
    const NaConfigChoice off = choose_na_configs(p, winners_with(150.0), now);
    CHECK_FALSE(off.configs.fused());
    REQUIRE(off.choices.size() == 3);
    ::setenv("ATTNJIT_NA_CONFIG", "backward_key=16x22x2x8", 1);  // a pinned gradient kernel runs
    const NaConfigChoice key_pinned = choose_na_configs(p, winners_with(150.0), now);
    CHECK_FALSE(key_pinned.configs.fused());
    REQUIRE(key_pinned.choices.size() == 3);
    CHECK(key_pinned.choices[2].kernel == name(na_kernel_spec(KernelKind::na_backward_key, p, {16, 22, 2, 0, 8})));
    ::setenv("ATTNJIT_NA_CONFIG", "backward_fused=32x48x2x0", 1);
    const NaConfigChoice pinned = choose_na_configs(p, winners_with(250.0), now);
    CHECK(pinned.configs.backward_fused == fused_winner);
    CHECK(pinned.choices[1].why == "pinned by ATTNJIT_NA_CONFIG");
    // A fused pin the problem cannot take says why.
    ::setenv("ATTNJIT_NA_CONFIG", "backward_fused=32x32x2x0", 1);
    CHECK_THROWS_WITH_AS(choose_na_configs(p, nullptr, now), doctest::Contains("tile_j must be a multiple of 16 and at least 48"),
                         Error);
    ::setenv("ATTNJIT_NA_CONFIG", "backward_fused=32x48x2x0", 1);
    NaProblem f32 = p;
    f32.dtype = DType::f32;
    CHECK_THROWS_WITH_AS(choose_na_configs(f32, nullptr, now), doctest::Contains("backward_fused=off"), Error);
    ::unsetenv("ATTNJIT_NA_CONFIG");
  }
}

}  // namespace attnjit
