// The neighborhood-attention test grid of its issue, as an all-pairs covering plus named cases:
//   kernel {1, 3, 7, 13, 65, 257}, dilation {1, 2, 4, 8}, L {1, 5, 33, 1000, 4096},
//   D {16, 32, 64, 96, 128, 256}, window {clipped, shifted, causal}, dtype {f32, f16, bf16}.
// Every other case also runs under a stress config (na_stress_configs): few rows staged at a time, so the
// kernels' chunk loops run many times, and other lane counts than the heuristic's.
// Shared by the CPU suite (NVRTC compiles every kernel for sm_80 and sm_90) and the gpu suite.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "tests/common/all_pairs.hpp"
#include "na_params.h"  // kNaWarpgroupLanes
#include "tuner/na_heuristics.hpp"

namespace attnjit::testing {

struct NaCase {
  std::string label;
  NaProblem problem;
  std::optional<NaConfigs> configs;  // none: the heuristic's
};

inline NaProblem na_case_problem(const Case& c) {
  static const int kernels[] = {1, 3, 7, 13, 65, 257};
  static const int dilations[] = {1, 2, 4, 8};
  static const int lengths[] = {1, 5, 33, 1000, 4096};
  static const int dims[] = {16, 32, 64, 96, 128, 256};
  NaProblem p;
  p.kernel_size = kernels[c[0]];
  p.dilation = dilations[c[1]];
  p.length = lengths[c[2]];
  p.head_dim = dims[c[3]];
  p.window = c[4] == 0 ? NaWindow::clipped : c[4] == 1 ? NaWindow::shifted : NaWindow::causal;
  p.dtype = c[5] == 0 ? DType::f32 : c[5] == 1 ? DType::f16 : DType::bf16;
  // Two (batch, head) planes, so that a block's plane offset is exercised; one plane for the longest rows to
  // keep the reference (L * kernel * D per plane) in seconds.
  p.batch = p.length >= 1000 ? 1 : 2;
  p.heads = p.length >= 4096 && p.kernel_size >= 65 ? 1 : 2;
  return p;
}

// Lane count halved (other vector widths, more rows per warp), one row per lane group, and 5 rows staged at a
// time: every window longer than 5 takes several chunks. The two-kernel backward, where the heuristic fuses.
inline NaConfigs na_stress_configs(const NaProblem& p) {
  NaConfigs c = na_heuristic_configs(p);
  c.backward_fused = {};
  for (TileConfig* t : {&c.forward, &c.backward_query, &c.backward_key}) {
    t->lanes = t->lanes > 1 ? t->lanes / 2 : 2;
    t->warps = 2;
    t->tile_i = 64 / t->lanes;  // one row per lane group
    t->tile_j = 5;
  }
  return c;
}

inline std::vector<NaCase> na_grid() {
  const Covering covering = all_pairs({6, 4, 5, 6, 3, 3}, [](const Case&) { return true; });
  std::vector<NaCase> cases;
  bool stress = false;
  for (const Case& c : covering.cases) {
    const NaProblem p = na_case_problem(c);
    cases.push_back({"all-pairs", p, std::nullopt});
    if ((stress = !stress)) cases.push_back({"all-pairs, stress config", p, na_stress_configs(p)});
  }
  NaProblem head = {.batch = 1, .heads = 3, .length = 100, .head_dim = 80, .kernel_size = 9, .dilation = 3};
  cases.push_back({"D = 80 (not a power of two), 3 heads", head, std::nullopt});
  head.head_dim = 40;
  head.dtype = DType::bf16;
  head.scale = 0.3;
  cases.push_back({"D = 40, explicit scale", head, na_stress_configs(head)});
  NaProblem group_shorter = {.batch = 1, .heads = 2, .length = 20, .head_dim = 32, .kernel_size = 7, .dilation = 4,
                             .window = NaWindow::shifted};
  cases.push_back({"shifted, groups shorter than the window", group_shorter, std::nullopt});
  // Where the heuristic fuses the backward: the two kernels on tensor cores, and the fused kernel with other
  // block sizes.
  const NaProblem narrow = {.batch = 2, .heads = 2, .length = 1000, .head_dim = 64, .kernel_size = 7, .dilation = 2,
                            .dtype = DType::bf16};
  NaConfigs two = na_heuristic_configs(narrow);
  two.backward_fused = {};
  two.backward_key = {64, 64, 4, 0, 0};
  cases.push_back({"two-kernel backward on tensor cores", narrow, two});
  const NaProblem shifted = {.batch = 1, .heads = 2, .length = 4096, .head_dim = 128, .kernel_size = 13,
                             .window = NaWindow::shifted, .dtype = DType::f16};
  NaConfigs two_warps = na_heuristic_configs(shifted);
  two_warps.backward_fused = na_fused_config(shifted, 2);
  cases.push_back({"fused backward, 2 warps, D = 128", shifted, two_warps});
  const NaProblem causal = {.batch = 2, .heads = 1, .length = 333, .head_dim = 96, .kernel_size = 31, .dilation = 3,
                            .window = NaWindow::causal, .dtype = DType::bf16};
  NaConfigs two_warps_causal = na_heuristic_configs(causal);
  two_warps_causal.backward_fused = na_fused_config(causal, 2);
  cases.push_back({"fused backward, 2 warps, kernel 31, D = 96", causal, two_warps_causal});
  // The forward on sm_90's warpgroups (lanes kNaWarpgroupLanes; the gpu suite runs these on sm_90 only): the
  // heuristic's configs with the forward pinned to tile_i x tile_j x warps.
  auto on_warpgroups = [&](const char* label, const NaProblem& p, int tile_i, int tile_j, int warps) {
    NaConfigs c = na_heuristic_configs(p);
    c.forward = {tile_i, tile_j, warps, 0, kNaWarpgroupLanes};
    cases.push_back({label, p, c});
  };
  on_warpgroups("forward on warpgroups (wgmma), D = 64, 64-key tiles, dilation 2",
                {.batch = 2, .heads = 2, .length = 1000, .head_dim = 64, .kernel_size = 65, .dilation = 2, .dtype = DType::bf16},
                64, 64, 4);
  on_warpgroups("forward on warpgroups, two per block, 128-key tiles, D = 128, causal",
                {.batch = 1, .heads = 2, .length = 333, .head_dim = 128, .kernel_size = 257, .window = NaWindow::causal,
                 .dtype = DType::f16},
                128, 128, 8);
  on_warpgroups("forward on warpgroups, D = 128, shifted, dilation 4, unmasked tiles",
                {.batch = 1, .heads = 1, .length = 4096, .head_dim = 128, .kernel_size = 129, .dilation = 4,
                 .window = NaWindow::shifted, .dtype = DType::bf16},
                64, 128, 4);
  on_warpgroups("forward on warpgroups, three per block (staging's generic loop), D = 128",
                {.batch = 2, .heads = 1, .length = 2000, .head_dim = 128, .kernel_size = 513, .dtype = DType::bf16},
                192, 64, 12);
  // Tiles by cp.async where L is not a multiple of the dilation (na_forward_wgmma_tma), and by the tensor
  // memory accelerator across dilation groups (rows past a group's end are the next group's, masked).
  on_warpgroups("forward on warpgroups by cp.async, L = 1001 with dilation 2, D = 64",
                {.batch = 2, .heads = 1, .length = 1001, .head_dim = 64, .kernel_size = 65, .dilation = 2, .dtype = DType::bf16},
                64, 64, 4);
  on_warpgroups("forward on warpgroups, two per block, 64-key tiles, D = 128, dilation 8",
                {.batch = 2, .heads = 1, .length = 4096, .head_dim = 128, .kernel_size = 129, .dilation = 8, .dtype = DType::f16},
                128, 64, 8);
  return cases;
}

}  // namespace attnjit::testing
