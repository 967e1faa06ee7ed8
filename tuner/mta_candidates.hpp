// The autotuner's search space and its tie rule, as pure functions (no GPU): the candidates of one mta
// kernel around its heuristic config, pruned before compiling by what the device allows, and the choice
// of a winner among measured candidates that never crowns noise.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "generator/kernel_spec.hpp"

namespace attnjit {

struct DeviceLimits {
  int max_threads_per_block = 1024;
  int max_smem_per_block = 227 * 1024;  // with opt-in (H100)
  std::string arch;                     // "sm_90": the heuristic's and the warpgroup kernels' target; empty: any GPU
};

// The heuristic config first, then its neighbours: tile sides halved and doubled (within next_pow2 of the
// extent, so powers of 2 stay powers of 2), warps 4, 8 and 16, output-channel tiles among the divisors of
// C_out/groups; without duplicates, and without any config the device cannot launch (threads, shared
// memory). The reduction kernel has no knobs: its heuristic only.
std::vector<TileConfig> mta_candidates(KernelKind kind, const MtaProblem& problem, const DeviceLimits& limits);

struct Measured {
  TileConfig config;
  double median_us = 0, p20_us = 0, p80_us = 0;
  int samples = 0;
};

// The index of the winner among verified, measured candidates. The fastest median sets a noise band: its
// own p20-p80 spread, and at least 2% of its median. Every candidate whose median lies within the band of
// the fastest is tied with it; among the tied, the heuristic config wins if it is there (no change without
// a measurable gain), else the smallest config in (tile_i, tile_j, warps, oc_tile) order. The same
// measurements always give the same winner, and two runs whose figures differ only by noise give winners
// within noise of each other.
std::size_t pick_winner(const std::vector<Measured>& measured, const TileConfig& heuristic);

}  // namespace attnjit
