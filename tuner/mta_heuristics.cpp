#include "tuner/mta_heuristics.hpp"

#include <algorithm>

#include "mta_params.h"

namespace attnjit {

namespace {

constexpr int kMaxTile = 32;        // 32 x 32 outputs = 1024 positions, 4 per thread at 8 warps
constexpr int kMaxSweep = 64;       // input gradient: 16 x 64 positions = 256 runs of 4, one per thread
constexpr int kMaxWarps = 8;        // 256 threads: enough blocks per SM at these tile sizes
constexpr int kMaxOcTile = 8;       // accumulators per position: 8 channels x 4 positions = 32 registers
constexpr int kSmemBudget = 48 * 1024;  // stay under the default dynamic limit when the tile allows

int warps_for(int positions) { return std::clamp(positions / 32, 1, kMaxWarps); }

int largest_divisor_at_most(int n, int limit) {
  for (int d = std::min(n, limit); d > 1; --d) {
    if (n % d == 0) return d;
  }
  return 1;
}

// Halves the tile (columns first) until the halo'd patch of normalized scores fits the budget.
void fit_patch(TileConfig& c, const MtaProblem& p, int extra_floats) {
  auto bytes = [&] {
    return 4 * (mta_patch_extent(c.tile_i, p.stride_h, p.kernel_h, p.dilation_h) *
                mta_patch_extent(c.tile_j, p.stride_w, p.kernel_w, p.dilation_w) + extra_floats);
  };
  while (bytes() > kSmemBudget && (c.tile_i > 1 || c.tile_j > 1)) {
    if (c.tile_j >= c.tile_i && c.tile_j > 1) {
      c.tile_j /= 2;
    } else {
      c.tile_i /= 2;
    }
  }
}

}  // namespace

int next_pow2(int n) {
  int p = 1;
  while (p < n) p *= 2;
  return p;
}

MtaConfigs mta_heuristic_configs(const MtaProblem& p) {
  MtaConfigs c;
  c.row_stats.warps = kMaxWarps;  // one warp per row (16-byte loads, 8 bf16 per lane): 8 rows per block

  const int tile_i = std::min(kMaxTile, next_pow2(p.out_h())), tile_j = std::min(kMaxTile, next_pow2(p.out_w()));
  c.forward = {tile_i, tile_j, 0, largest_divisor_at_most(p.out_channels / p.groups, kMaxOcTile)};
  fit_patch(c.forward, p, c.forward.oc_tile * p.kernel_h * p.kernel_w);
  c.forward.warps = warps_for(c.forward.tile_i * c.forward.tile_j);

  // A strip of 16 rows (its per-row reductions stay in shared memory) swept 64 columns at a time: 256
  // runs of 4 positions, one per thread of 8 warps; narrower while the grad_out patch of the group's
  // output channels does not fit the budget.
  TileConfig& bi = c.backward_input;
  bi = {std::min(16, next_pow2(p.length)), std::min(kMaxSweep, next_pow2(p.length)), 0, 0};
  const int cout_g = p.out_channels / p.groups;
  while (4 * mta_backward_input_smem_floats(cout_g, p.kernel_h, p.kernel_w, p.dilation_h, p.dilation_w, bi.tile_i,
                                            bi.tile_j) > kSmemBudget &&
         (bi.tile_i > 1 || bi.tile_j > 1)) {
    if (bi.tile_j >= bi.tile_i && bi.tile_j > 1) {
      bi.tile_j /= 2;
    } else {
      bi.tile_i /= 2;
    }
  }
  bi.warps = warps_for(bi.tile_i * (bi.tile_j / mta_backward_input_run(bi.tile_j)));

  c.backward_weight = {std::min(16, next_pow2(p.out_h())), std::min(kMaxTile, next_pow2(p.out_w())), 0, 0};
  fit_patch(c.backward_weight, p, 0);
  c.backward_weight.warps = warps_for(c.backward_weight.tile_i * c.backward_weight.tile_j);
  return c;
}

MtaKernelSpecs mta_kernel_specs(const MtaProblem& p, const MtaConfigs& c) {
  return {mta_kernel_spec(KernelKind::mta_row_stats, p, c.row_stats),
          mta_kernel_spec(KernelKind::mta_forward, p, c.forward),
          mta_kernel_spec(KernelKind::mta_backward_input, p, c.backward_input),
          mta_kernel_spec(KernelKind::mta_backward_weight, p, c.backward_weight),
          mta_kernel_spec(KernelKind::mta_reduce_weight, p, c.backward_weight)};
}

bool mta_weight_grad_fused(const MtaProblem& p) {
  return mta_fuses_weight_grad(p.out_channels / p.groups, p.kernel_h, p.kernel_w);
}

std::vector<KernelSpec> in_launch_order(const MtaKernelSpecs& s) {
  if (mta_fuses_weight_grad(s.backward_input.cout_per_group, s.backward_input.kernel_h, s.backward_input.kernel_w)) {
    return {s.row_stats, s.forward, s.backward_input, s.reduce_weight};
  }
  return {s.row_stats, s.forward, s.backward_input, s.backward_weight, s.reduce_weight};
}

int mta_weight_slots(const MtaProblem& p, const MtaConfigs& c) {
  const int strips = mta_weight_grad_fused(p) ? mta_ceil_div(p.length, c.backward_input.tile_i)
                                              : mta_ceil_div(p.out_h(), c.backward_weight.tile_i);
  return p.batch * strips;
}

std::size_t mta_workspace_bytes(const MtaProblem& p, const MtaConfigs& c) {
  const std::size_t per_slot = static_cast<std::size_t>(p.out_channels) *
                               (static_cast<std::size_t>(p.in_channels / p.groups) * p.kernel_h * p.kernel_w + 1);
  return 4 * static_cast<std::size_t>(mta_weight_slots(p, c)) * per_slot;
}

}  // namespace attnjit
