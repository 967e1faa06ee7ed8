// Neighborhood attention's host-side pieces, without a GPU: the window arithmetic the kernels run
// (na_key_range / na_query_range, shared with the host through na_params.h) against the reference's windows,
// the specs (canonical names, JSON round trip, render), launch shapes, heuristics, the config check and pins.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>

#include "generator/render.hpp"
#include "na_params.h"
#include "reference/na_reference.hpp"
#include "tests/common/na_grid.hpp"
#include "tuner/na_heuristics.hpp"

namespace attnjit {

namespace {

NaWindowKind kind_of(NaWindow w) {
  return w == NaWindow::clipped ? NaWindowKind::clipped : w == NaWindow::shifted ? NaWindowKind::shifted : NaWindowKind::causal;
}

bool raises(const std::function<void()>& f, const std::string& part) {
  try {
    f();
  } catch (const Error& e) {
    if (std::string(e.what()).find(part) != std::string::npos) return true;
    FAIL_CHECK("message '" << std::string(e.what()) << "' does not say '" << part << "'");
    return false;
  }
  FAIL_CHECK("no error; expected one saying '" << part << "'");
  return false;
}

}  // namespace

TEST_SUITE("na_kernel_spec") {
  TEST_CASE("the kernels' window ranges are the reference's windows, in dilation-group coordinates") {
    // Sweep: every window kind, odd kernels from 1 to 11, dilations 1 to 4, lengths 1 to 24, every query.
    int checked = 0;
    for (NaWindow w : {NaWindow::clipped, NaWindow::shifted, NaWindow::causal}) {
      for (int k = 1; k <= 11; k += 2) {
        for (int d = 1; d <= 4; ++d) {
          for (int L = 1; L <= 24; ++L) {
            const NaProblem p{.length = L, .head_dim = 8, .kernel_size = k, .dilation = d, .window = w};
            for (int i = 0; i < L; ++i) {
              const int g = i % d, n = na_group_length(L, d, g), t = i / d;
              const NaRange r = na_key_range(kind_of(w), k, n, t);
              std::vector<int> keys;
              for (int s = r.first; s <= r.last; ++s) keys.push_back(g + s * d);
              INFO(describe(p) << " query " << i);
              REQUIRE(keys == reference::na_window(p, i));
              ++checked;
            }
          }
        }
      }
    }
    MESSAGE(checked << " queries");
  }

  TEST_CASE("na_query_range is exactly the set of queries whose window holds the key") {
    for (NaWindowKind w : {NaWindowKind::clipped, NaWindowKind::shifted, NaWindowKind::causal}) {
      for (int k = 1; k <= 15; k += 2) {
        for (int n = 1; n <= 40; ++n) {
          for (int s = 0; s < n; ++s) {
            std::vector<int> expected;
            for (int t = 0; t < n; ++t) {
              const NaRange r = na_key_range(w, k, n, t);
              if (r.first <= s && s <= r.last) expected.push_back(t);
            }
            const NaRange q = na_query_range(w, k, n, s);
            std::vector<int> got;
            for (int t = q.first; t <= q.last; ++t) got.push_back(t);
            INFO("window " << static_cast<int>(w) << " k=" << k << " n=" << n << " key " << s);
            REQUIRE(got == expected);
          }
        }
      }
    }
  }

  TEST_CASE("both ends of the key range never decrease with the query (a block's keys are one interval)") {
    for (NaWindowKind w : {NaWindowKind::clipped, NaWindowKind::shifted, NaWindowKind::causal}) {
      for (int k : {1, 3, 7, 13}) {
        for (int n : {1, 2, 6, 7, 8, 30}) {
          for (int t = 1; t < n; ++t) {
            CHECK(na_key_range(w, k, n, t).first >= na_key_range(w, k, n, t - 1).first);
            CHECK(na_key_range(w, k, n, t).last >= na_key_range(w, k, n, t - 1).last);
          }
        }
      }
    }
  }

  TEST_CASE("lanes per row and the staged row pitch") {
    // (D, lanes): vectors of 8 where D allows, no padded lanes for 96, a whole warp from 256 up.
    const std::pair<int, int> table[] = {{16, 2}, {32, 4}, {64, 8}, {96, 8}, {128, 16}, {256, 32}, {80, 8}, {1, 1}};
    for (auto [d, lanes] : table) {
      INFO("D=" << d);
      CHECK(na_heuristic_lanes(d) == lanes);
      CHECK(na_vec(d, lanes) % 4 == 0);
      CHECK(lanes * na_vec(d, lanes) >= d);
    }
    for (int lanes = 1; lanes <= 32; lanes *= 2) {
      for (int d : {16, 40, 64, 96, 128, 256}) {
        const int pitch = na_pitch(d, lanes);
        CHECK(pitch >= lanes * na_vec(d, lanes));
        CHECK(pitch % 4 == 0);
        // A quarter warp (8 lanes, 16 bytes each, the kernels' na_element layout; rows of lane groups that are
        // consecutive keys) must hit 8 distinct 4-bank slots at every step q.
        for (int q = 0; q < na_vec(d, lanes) / 4; ++q) {
          std::vector<int> slots;
          for (int lane = 0; lane < 8; ++lane) {
            const int row = lanes >= 8 ? 0 : lane / lanes, l = lane % lanes;
            slots.push_back((row * pitch + (q * lanes + l) * 4) % 32 / 4);
          }
          std::sort(slots.begin(), slots.end());
          CHECK_MESSAGE(std::unique(slots.begin(), slots.end()) == slots.end(), "D=" << d << " lanes=" << lanes << " q=" << q);
        }
      }
    }
  }

  TEST_CASE("specs: canonical names, JSON round trip, the Cfg the generator writes") {
    const NaProblem p{.batch = 2, .heads = 32, .length = 4096, .head_dim = 128, .kernel_size = 7, .dilation = 2,
                      .window = NaWindow::shifted, .dtype = DType::bf16};
    const NaKernelSpecs specs = na_kernel_specs(p, na_heuristic_configs(p));
    CHECK(name(specs.forward) == "na_fwd_bf16_shifted_L4096_D128_k7_d2_t32x32_w2_l0");  // tensor cores
    CHECK(name(specs.backward_query).rfind("na_bwd_query_bf16_shifted_L4096_D128_k7_d2_", 0) == 0);
    CHECK(name(specs.backward_key).rfind("na_bwd_key_bf16_shifted_L4096_D128_k7_d2_", 0) == 0);
    for (const KernelSpec& s : in_launch_order(specs)) {
      CHECK(spec_from_json(to_json(s)) == s);
      CHECK(canonical(s) == s);
    }
    // batch and heads are launch parameters, not compile-time ones: the same kernels.
    NaProblem other = p;
    other.batch = 8;
    other.heads = 3;
    CHECK(na_kernel_specs(other, na_heuristic_configs(other)).forward == specs.forward);
    const RenderedKernel r = render(specs.forward);
    CHECK(r.name_expression == "attnjit::na_forward<attnjit_cfg>");
    CHECK(r.source.find("#include \"na_forward.cuh\"") != std::string::npos);
    CHECK(r.source.find("kWindow = attnjit::NaWindowKind::shifted") != std::string::npos);
    CHECK(r.source.find("kL = 4096, kD = 128, kKernel = 7, kDil = 2") != std::string::npos);
    CHECK(r.source.find("kRows = 32, kChunk = 32, kThreads = 64, kLanes = 0") != std::string::npos);
    // Every field changes the key's JSON.
    KernelSpec changed = specs.forward;
    changed.config.lanes = 8;
    CHECK(to_json(changed) != to_json(specs.forward));
    changed = specs.forward;
    changed.window = NaWindow::causal;
    CHECK(name(changed) != name(specs.forward));
  }

  TEST_CASE("launch shape: a block per (plane, dilation group, tile of the longest group), shared memory by formula") {
    const NaProblem p{.batch = 2, .heads = 3, .length = 1000, .head_dim = 64, .kernel_size = 13, .dilation = 4};
    const TileConfig c{32, 44, 4, 0, 8};
    const LaunchShape fwd = launch_shape(na_kernel_spec(KernelKind::na_forward, p, c), p);
    CHECK(fwd.grid_x == 2u * 3 * 4 * 8);  // ceil(250 / 32) = 8 tiles per group
    CHECK(fwd.threads == 128);
    CHECK(fwd.smem_bytes == 4u * 2 * 44 * 64);
    const LaunchShape key = launch_shape(na_kernel_spec(KernelKind::na_backward_key, p, c), p);
    CHECK(key.smem_bytes == 4u * (2 * 44 * 64 + 2 * 44));  // plus lse and delta per staged query
  }

  TEST_CASE("na_fused_staged_rows holds every block's query and key ranges, and each warp's 16 rows within them") {
    // The fused backward stages both ranges of a block whole and reads 16-row steps from them: checked here for
    // every block of every group length, window, kernel and block size it can be given.
    for (NaWindowKind w : {NaWindowKind::clipped, NaWindowKind::shifted, NaWindowKind::causal}) {
      for (int kernel : {1, 3, 7, 13, 31}) {
        for (int n : {1, 2, 5, 16, 17, 33, 100, 130}) {
          for (int rows : {16, 32, 64, 128}) {
            const int staged = na_fused_staged_rows(w, kernel, rows, n);
            INFO("window " << static_cast<int>(w) << " kernel " << kernel << " n " << n << " rows " << rows);
            REQUIRE(staged % 16 == 0);
            for (int t0 = 0; t0 < n; t0 += rows) {
              const int end = std::min(n, t0 + rows);
              const int q0 = na_query_range(w, kernel, n, t0).first, k0 = na_key_range(w, kernel, n, t0).first;
              CHECK(na_query_range(w, kernel, n, end - 1).last + 1 - q0 <= staged);
              CHECK(na_key_range(w, kernel, n, end - 1).last + 1 - k0 <= staged);
              for (int w0 = t0; w0 < end; w0 += 16) {  // a warp's 16 rows, as queries and as keys
                CHECK(w0 - q0 + 16 <= staged);
                CHECK(w0 - k0 + 16 <= staged);
              }
            }
          }
        }
      }
    }
  }

  TEST_CASE("the heuristic's configs pass the config check for the whole test grid, staging whole ranges when they fit") {
    for (const auto& c : testing::na_grid()) {
      const NaConfigs configs = na_heuristic_configs(c.problem);
      for (const KernelSpec& s : in_launch_order(na_kernel_specs(c.problem, configs))) {
        INFO(describe(c.problem) << " " << name(s));
        CHECK_NOTHROW(check_na_config(s.kind, c.problem, s.config));
        // The lane-group kernels keep to 64 KiB (three blocks per SM); the fused backward stages both sides whole.
        CHECK(launch_shape(s, c.problem).smem_bytes <= (s.kind == KernelKind::na_backward_fused ? 227u : 64u) * 1024);
      }
      if (c.configs) {
        for (const KernelSpec& s : in_launch_order(na_kernel_specs(c.problem, *c.configs))) {
          CHECK_NOTHROW(check_na_config(s.kind, c.problem, s.config));
        }
      }
    }
    // k = 7, D = 128: 32 queries and the 6-key halo staged at once (one chunk).
    const NaProblem small{.length = 4096, .head_dim = 128, .kernel_size = 7};
    CHECK(na_heuristic_configs(small).forward == TileConfig{32, 38, 4, 0, 16});  // f32: CUDA cores
    CHECK(na_heuristic_configs(small).backward_key == TileConfig{8, 14, 4, 0, 16});  // one row per lane group
    // L = 5: no more rows than the sequence has.
    const NaProblem tiny{.length = 5, .head_dim = 64, .kernel_size = 3};
    CHECK(na_heuristic_configs(tiny).forward.tile_i == 16);  // 16 lane groups of 8, one row each
  }

  TEST_CASE("wide windows run on tensor cores in f16/bf16: the forward up to D = 128, the gradients up to 64") {
    NaProblem p{.batch = 8, .heads = 16, .length = 4096, .head_dim = 64, .kernel_size = 257, .dtype = DType::bf16};
    const NaConfigs wide = na_heuristic_configs(p);
    CHECK(wide.forward == TileConfig{64, 64, 4, 0, 0});  // a wide window: 4 warps share 64-key tiles
    const KernelSpec spec = na_kernel_spec(KernelKind::na_forward, p, wide.forward);
    CHECK(na_on_tensor_cores(spec));
    // two buffers of keys and values and the block's 64 queries, in bf16 at a pitch of D + 8
    CHECK(launch_shape(spec, p).smem_bytes == (2u * 2 * 64 + 64) * (64 + 8) * 2);
    NaProblem k7 = p;
    k7.kernel_size = 7;
    CHECK(na_heuristic_configs(k7).forward == TileConfig{32, 32, 2, 0, 0});
    CHECK(wide.backward_query == TileConfig{32, 32, 2, 0, 0});
    CHECK(wide.backward_key == TileConfig{64, 64, 4, 0, 0});
    const KernelSpec key = na_kernel_spec(KernelKind::na_backward_key, p, wide.backward_key);
    CHECK(launch_shape(key, p).smem_bytes == 2u * 64 * (64 + 8) * 2 + 2u * 64 * 4);  // plus lse and delta
    NaProblem d128 = p;
    d128.head_dim = 128;
    CHECK(na_heuristic_configs(d128).forward == TileConfig{64, 32, 4, 0, 0});  // 32-key tiles above D = 64
    CHECK(na_heuristic_configs(d128).backward_key.lanes > 0);  // D = 128: the gradients stay on CUDA cores
    CHECK(render(spec).source.find("kLanes = 0") != std::string::npos);
    for (auto [change, why] : {std::pair<std::function<void(NaProblem&)>, const char*>{[](NaProblem& q) { q.dtype = DType::f32; }, "f32"},
                               {[](NaProblem& q) { q.head_dim = 256; }, "D = 256"},
                               {[](NaProblem& q) { q.head_dim = 40; }, "D = 40"}}) {
      NaProblem q = p;
      change(q);
      INFO(why);
      CHECK(na_heuristic_configs(q).forward.lanes > 0);
    }
    NaProblem narrow = p;  // the forward and the query gradient take tensor cores at any window; the key
    narrow.kernel_size = 7;  // gradient from 33 (tuning data in na_heuristics.cpp)
    CHECK(na_heuristic_configs(narrow).forward.lanes == 0);
    CHECK(na_heuristic_configs(narrow).backward_query.lanes == 0);
    CHECK(na_heuristic_configs(narrow).backward_key.lanes > 0);
    p.dtype = DType::f32;
    CHECK(raises([&] { check_na_config(KernelKind::na_forward, p, {64, 64, 4, 0, 0}); }, "needs f16 or bf16"));
    p.dtype = DType::f16;
    CHECK(raises([&] { check_na_config(KernelKind::na_forward, p, {32, 64, 4, 0, 0}); }, "tile_i must be 16 * warps"));
    CHECK(raises([&] { check_na_config(KernelKind::na_forward, p, {64, 40, 4, 0, 0}); }, "tile_j must be 16, 32"));
    p.head_dim = 128;
    CHECK(raises([&] { check_na_config(KernelKind::na_backward_key, p, {64, 64, 4, 0, 0}); }, "up to 64"));
  }

  TEST_CASE("config check and pins: every refusal names the kernel, the config and what to do") {
    const NaProblem p{.length = 100, .head_dim = 64, .kernel_size = 7};
    CHECK(raises([&] { check_na_config(KernelKind::na_forward, p, {32, 38, 4, 0, 3}); }, "1, 2, 4, 8, 16 or 32"));
    CHECK(raises([&] { check_na_config(KernelKind::na_forward, p, {20, 38, 4, 0, 8}); }, "multiple of the block's 16 lane groups"));
    CHECK(raises([&] { check_na_config(KernelKind::na_forward, p, {32, 0, 4, 0, 8}); }, "tile_j"));
    CHECK(raises([&] { check_na_config(KernelKind::na_backward_key, p, {256, 38, 1, 0, 1}); }, "spill registers"));
    CHECK(raises([&] { check_na_config(KernelKind::na_forward, p, {32, 4000, 4, 0, 8}); }, "past 227 KiB"));
    NaConfigs configs = na_heuristic_configs(p);
    apply_na_config_overrides(configs, p, "backward_key=16x20x2x8");
    CHECK(configs.backward_key == TileConfig{16, 20, 2, 0, 8});
    CHECK(configs.forward == na_heuristic_configs(p).forward);
    CHECK(raises([&] { apply_na_config_overrides(configs, p, "sideways=1x1x1x1"); }, "unknown kernel 'sideways'"));
    CHECK(raises([&] { apply_na_config_overrides(configs, p, "forward=32x38x4"); }, "TILE_IxTILE_JxWARPSxLANES"));
    CHECK(raises([&] { apply_na_config_overrides(configs, p, "forward=32x-1x4x8"); }, "not a positive integer"));
    CHECK(raises([&] { apply_na_config_overrides(configs, p, "forward=32x16abcx4x8"); }, "'16abc' is not a positive"));
    CHECK(raises([&] { check_na_config(KernelKind::na_forward, p, {32, 8388608, 4, 0, 16}); }, "must be 1 to 4096"));
    NaProblem half = p;  // a tensor-core pin (lanes 0) is taken
    half.dtype = DType::bf16;
    NaConfigs pinned = na_heuristic_configs(half);
    apply_na_config_overrides(pinned, half, "forward=64x64x4x0");
    CHECK(pinned.forward == TileConfig{64, 64, 4, 0, 0});
    // A dilation past L computes what d = L does; its kernels are d = L's and its grid cannot overflow.
    NaProblem wide = p;
    wide.dilation = 1 << 29;
    wide.batch = 9;
    const KernelSpec spec = na_kernel_spec(KernelKind::na_forward, wide, na_heuristic_configs(wide).forward);
    CHECK(spec.dilation == wide.length);
    CHECK(launch_shape(spec, wide).grid_x == 9u * 100);  // 100 groups of one position, one tile each
    NaProblem big = p;
    big.head_dim = 2048;
    CHECK_THROWS_WITH_AS(validate(big), doctest::Contains("head_dim=2048 must be 1 to 1024"), Error);
  }
}

}  // namespace attnjit
