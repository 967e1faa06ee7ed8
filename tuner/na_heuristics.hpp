// The configuration each neighborhood-attention kernel runs with when nothing is tuned, the check every
// config (heuristic, pinned or a tuning candidate) must pass, and the problem's kernel specs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "generator/kernel_spec.hpp"

namespace attnjit {

struct NaConfigs {
  TileConfig forward;         // tile_i queries per block, tile_j keys staged at a time, warps, lanes per row
  TileConfig backward_query;  // the same, for the query gradient
  TileConfig backward_key;    // tile_i keys per block, tile_j queries staged at a time, warps, lanes per row
  // The one-kernel backward (tile_i rows per block, tile_j rows staged per side, warps, lanes 0); when set
  // (warps > 0) it replaces the two kernels above, which then do not run.
  TileConfig backward_fused;
  bool fused() const { return backward_fused.warps > 0; }
  bool operator==(const NaConfigs&) const = default;
};

TileConfig& config_of(NaConfigs& configs, KernelKind kind);
const TileConfig& config_of(const NaConfigs& configs, KernelKind kind);

// Lanes per row: the power of two (1 to 32) whose lanes * na_vec(D, lanes) wastes the fewest padded
// elements, ties to 8 elements per lane (two 16-byte shared loads; see the definition).
int na_heuristic_lanes(int head_dim);

// arch: the target ("sm_90"); empty for configs that run on any GPU (the warpgroup forward is sm_90's).
NaConfigs na_heuristic_configs(const NaProblem& problem, std::string_view arch = {});

// Throws invalid_argument naming the config, the kernel and what is wrong (lanes a power of two up to 32,
// 1 to 32 warps, tile_i a multiple of the lane groups, registers and shared memory in bounds).
void check_na_config(KernelKind kind, const NaProblem& problem, const TileConfig& config);

// Whether check_na_config accepts the config.
bool na_config_ok(KernelKind kind, const NaProblem& problem, const TileConfig& config);

// Rows a lane-group kernel stages at a time for blocks of tile_i rows: the block's whole range (tile_i plus
// the window's halo, within the longest dilation group) when it fits 64 KiB of shared memory, else halved
// until it does.
int na_staged_rows(KernelKind kind, const NaProblem& problem, int tile_i, int lanes);

// Replaces configs from a pin, e.g. "forward=32x40x4x16,backward_key=16x48x4x16":
// kernel=TILE_IxTILE_JxWARPSxLANES; "backward_fused=off" runs the two-kernel backward. For measuring one
// config by hand; the tuner is the way to choose.
void apply_na_config_overrides(NaConfigs& configs, const NaProblem& problem, const std::string& text);

// The heuristic, then ATTNJIT_NA_CONFIG's pins when that is set.
NaConfigs na_configs(const NaProblem& problem, std::string_view arch = {});

struct NaKernelSpecs {
  KernelSpec forward, backward_query, backward_key, backward_fused;
  bool fused() const { return backward_fused.config.warps > 0; }  // the backward is backward_fused alone
};
NaKernelSpecs na_kernel_specs(const NaProblem& problem, const NaConfigs& configs);
// The kernels that run: forward, then backward_fused or backward_query and backward_key.
std::vector<KernelSpec> in_launch_order(const NaKernelSpecs& specs);

// The configs a tuning candidate of `kind` runs under: the heuristic's, with `config` for that kernel; a
// candidate of the query or key gradient runs the two-kernel backward, one of backward_fused the fused one.
NaConfigs na_candidate_configs(const NaProblem& problem, KernelKind kind, const TileConfig& config);

// The fused backward's config for blocks of `warps` warps: tile_i = 16 * warps rows, tile_j their staged rows.
TileConfig na_fused_config(const NaProblem& problem, int warps);

// Bytes of workspace the backward needs: delta, one float per query row (B * H * L).
std::size_t na_workspace_bytes(const NaProblem& problem);

}  // namespace attnjit
