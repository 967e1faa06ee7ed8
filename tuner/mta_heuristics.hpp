// The configuration each mta kernel runs with when nothing is tuned: small pure functions of the
// problem, always valid (the autotuner only improves on them).
#pragma once

#include <vector>

#include "attnjit/attnjit.hpp"
#include "generator/kernel_spec.hpp"

namespace attnjit {

struct MtaConfigs {
  TileConfig row_stats;        // warps only
  TileConfig forward;          // output tile, warps, output channels per block
  TileConfig backward_input;   // strip of tile_i rows swept in tiles of tile_j columns, warps
  TileConfig backward_weight;  // output tile, warps; the reduction kernel uses its tile_i and warps
  bool operator==(const MtaConfigs&) const = default;
};

int next_pow2(int n);

MtaConfigs mta_heuristic_configs(const MtaProblem& problem);

// The five kernel specs of a problem under `configs`, in launch order: row statistics, forward,
// input gradient, weight-gradient partials, their reduction.
struct MtaKernelSpecs {
  KernelSpec row_stats, forward, backward_input, backward_weight, reduce_weight;
};
MtaKernelSpecs mta_kernel_specs(const MtaProblem& problem, const MtaConfigs& configs);
std::vector<KernelSpec> in_launch_order(const MtaKernelSpecs& specs);

// Bytes of workspace the backward needs under `configs`: the weight-gradient partial sums,
// B * ceil(out_h / tile_i) * C_out * (C_in/groups * Kh * Kw + 1) floats.
std::size_t mta_workspace_bytes(const MtaProblem& problem, const MtaConfigs& configs);

}  // namespace attnjit
