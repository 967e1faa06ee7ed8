// The configuration each mta kernel runs with when nothing is tuned: small pure functions of the
// problem, always valid (the autotuner only improves on them).
#pragma once

#include <string>
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

// Warps for a CUDA-core kernel's block of `items` (runs of up to 4 outputs in the forward and the input
// gradient, outputs in the weight gradient): 4, then 8 from 2048, 16 from 8192, 32 from 32768 (see the
// definition for the measurements behind it).
int heuristic_warps(int items);

// The config that kernel `kind` runs with (the reduction follows the weight-gradient kernel's).
TileConfig& config_of(MtaConfigs& configs, KernelKind kind);

MtaConfigs mta_heuristic_configs(const MtaProblem& problem);

// Replaces configs from a developer's pin, e.g. "forward=32x32x8x1,backward_input=16x128x8,row_stats=8":
// kernel=tile_i x tile_j x warps [x oc_tile] (row_stats: warps only). Throws invalid_argument naming the
// part it cannot use. For measuring one config by hand; the autotuner is the way to choose.
void apply_config_overrides(MtaConfigs& configs, const MtaProblem& problem, const std::string& text);

// The configs a problem runs with: the heuristic, then ATTNJIT_MTA_CONFIG's pins when that is set.
MtaConfigs mta_configs(const MtaProblem& problem);

// The kernel specs of a problem under `configs`: row statistics, forward, input gradient,
// weight-gradient partials, their reduction.
struct MtaKernelSpecs {
  KernelSpec row_stats, forward, backward_input, backward_weight, reduce_weight;
};
MtaKernelSpecs mta_kernel_specs(const MtaProblem& problem, const MtaConfigs& configs);

// Whether the input-gradient kernel computes the weight- and bias-gradient partials itself (small
// C_out/groups * Kh * Kw, see mta_fuses_weight_grad); mta_backward_weight is then neither compiled nor
// launched.
bool mta_weight_grad_fused(const MtaProblem& problem);

// The kernels a problem runs, in launch order: five, or four when the weight gradient is fused.
std::vector<KernelSpec> in_launch_order(const MtaKernelSpecs& specs);

// Slots of weight-gradient partials: B * the strips of whichever kernel writes them (the input
// gradient's ceil(L / tile_i) when fused, else the weight kernel's ceil(out_h / tile_i)).
int mta_weight_slots(const MtaProblem& problem, const MtaConfigs& configs);

// Bytes of workspace the backward needs under `configs`: the weight-gradient partial sums,
// slots * C_out * (C_in/groups * Kh * Kw + 1) floats.
std::size_t mta_workspace_bytes(const MtaProblem& problem, const MtaConfigs& configs);

}  // namespace attnjit
