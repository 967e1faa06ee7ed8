// The tuner's search space for neighborhood attention, a pure function (no GPU): the candidates of one kernel
// around its heuristic config.
#pragma once

#include <vector>

#include "tuner/mta_candidates.hpp"  // DeviceLimits
#include "tuner/na_heuristics.hpp"

namespace attnjit {

// The heuristic config first, then: lanes per row halved and doubled, 2, 4 or 8 warps, 1, 2 or 4 rows per
// lane group (tile_j following as na_staged_rows says); in f16/bf16 with D a multiple of 16 (up to 128 for
// the forward, 64 for the gradients), the tensor-core kernels too (2, 4 or 8 warps of 16 rows, tiles of 32,
// 64 or 128), whatever the window: the tuner, not the heuristic's threshold, decides there. Without duplicates, and without
// configs that check_na_config or the device refuse.
std::vector<TileConfig> na_candidates(KernelKind kind, const NaProblem& problem, const DeviceLimits& limits);

}  // namespace attnjit
