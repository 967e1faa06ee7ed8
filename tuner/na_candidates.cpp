#include "tuner/na_candidates.hpp"

#include <algorithm>

#include "na_params.h"

namespace attnjit {

std::vector<TileConfig> na_candidates(KernelKind kind, const NaProblem& p, const DeviceLimits& limits) {
  std::vector<TileConfig> out;
  auto add = [&](const TileConfig& c) {
    if (std::find(out.begin(), out.end(), c) != out.end()) return;
    if (32 * c.warps > limits.max_threads_per_block || !na_config_ok(kind, p, c)) return;
    if (launch_shape(na_kernel_spec(kind, p, c), p).smem_bytes > static_cast<unsigned>(limits.max_smem_per_block)) return;
    out.push_back(c);
  };
  if (kind == KernelKind::na_backward_fused) {  // the heuristic's config first wherever it fuses
    const NaConfigs heuristic = na_heuristic_configs(p, limits.arch);
    if (heuristic.fused()) add(heuristic.backward_fused);
    for (int warps : {4, 2, 8, 1}) add(na_fused_config(p, warps));
    return out;
  }
  const TileConfig heuristic = config_of(na_heuristic_configs(p, limits.arch), kind);
  add(heuristic);  // first, where it fits the device
  const int lanes = heuristic.lanes > 0 ? heuristic.lanes : na_heuristic_lanes(p.head_dim);
  for (int l : {lanes, lanes / 2, lanes * 2}) {
    if (l < 1 || l > 32) continue;
    for (int warps : {2, 4, 8}) {
      for (int per_group : {1, 2, 4}) {
        const int tile_i = 32 * warps / l * per_group;
        add({tile_i, na_staged_rows(kind, p, tile_i, l), warps, 0, l});
      }
    }
  }
  for (int warps : {2, 4, 8}) {  // tensor cores, where the dtype and D allow (add drops what the check refuses)
    for (int keys : {32, 48, 64, 128}) add({16 * warps, keys, warps, 0, 0});
  }
  if (has_warpgroup_mma(limits.arch)) {  // sm_90's warpgroup tensor cores: the forward, D = 64 or 128
    for (int warps : {4, 8, 12, 16}) {  // more warpgroups share each staged key tile (and fewer registers each)
      for (int keys : {64, 128}) add({16 * warps, keys, warps, 0, kNaWarpgroupLanes});
    }
  }
  return out;
}

}  // namespace attnjit
