#include "tuner/mta_candidates.hpp"

#include <algorithm>
#include <tuple>

#include "runtime/error.hpp"
#include "tuner/mta_heuristics.hpp"

namespace attnjit {
namespace {

// 1/2, 1 and 2 times `side`, within [1, limit].
std::vector<int> around(int side, int limit) {
  std::vector<int> sides;
  for (int s : {side / 2, side, side * 2}) {
    if (s >= 1 && s <= limit && std::find(sides.begin(), sides.end(), s) == sides.end()) sides.push_back(s);
  }
  return sides;
}

std::vector<int> divisors_up_to(int n, int limit) {
  std::vector<int> out;
  for (int d = 1; d <= std::min(n, limit); ++d) {
    if (n % d == 0) out.push_back(d);
  }
  return out;
}

// The forward, the channel-mixing input gradient and the weight gradient, whose tensor-core paths replace
// CUDA-core ones wholesale.
bool on_tensor_cores(KernelKind kind, const MtaProblem& p, const TileConfig& c) {
  if (kind == KernelKind::mta_forward) return mta_forward_on_tensor_cores(mta_kernel_spec(kind, p, c));
  if (kind == KernelKind::mta_backward_input) return mta_backward_input_on_mma(mta_kernel_spec(kind, p, c));
  if (kind == KernelKind::mta_backward_weight) return mta_backward_weight_on_tensor_cores(mta_kernel_spec(kind, p, c));
  return false;
}

bool launchable(KernelKind kind, const MtaProblem& p, const TileConfig& c, const DeviceLimits& limits) {
  if (c.warps < 1 || 32 * c.warps > limits.max_threads_per_block) return false;
  return launch_shape(mta_kernel_spec(kind, p, c), p).smem_bytes <= static_cast<unsigned>(limits.max_smem_per_block);
}

}  // namespace

std::vector<TileConfig> mta_candidates(KernelKind kind, const MtaProblem& p, const DeviceLimits& limits) {
  MtaConfigs heuristic_configs = mta_heuristic_configs(p);
  const TileConfig heuristic = config_of(heuristic_configs, kind);
  std::vector<TileConfig> out{heuristic};  // always first, always kept: it is what runs untuned
  // When the heuristic forward runs on tensor cores, so does every candidate: the CUDA-core path for
  // the same problem measured 1.2-20x slower (groups=1 K7 bf16: 124 of 135 candidates screened out,
  // bench/results/2026-11-23_H100_90a40f0), and compiling and verifying them was most of its tuning time.
  // Likewise the channel-mixing input gradient and the weight gradient.
  const bool tensor_cores_only = on_tensor_cores(kind, p, heuristic);
  auto add = [&](const TileConfig& c) {
    if (tensor_cores_only && !on_tensor_cores(kind, p, c)) return;
    if (std::find(out.begin(), out.end(), c) == out.end() && launchable(kind, p, c, limits)) out.push_back(c);
  };
  if (kind == KernelKind::mta_reduce_weight) return out;
  if (kind == KernelKind::mta_row_stats) {
    for (int warps : {4, 8, 16}) add({0, 0, warps, 0});
    return out;
  }
  const int rows = kind == KernelKind::mta_backward_input ? p.length : p.out_h();
  const int cols = kind == KernelKind::mta_backward_input ? p.length : p.out_w();
  const std::vector<int> oc_tiles =
      kind == KernelKind::mta_forward ? divisors_up_to(p.out_channels / p.groups, 32) : std::vector<int>{0};
  for (int tile_i : around(heuristic.tile_i, next_pow2(rows))) {
    for (int tile_j : around(heuristic.tile_j, next_pow2(cols))) {
      for (int warps : {4, 8, 16}) {
        for (int oc_tile : oc_tiles) add({tile_i, tile_j, warps, oc_tile});
      }
    }
  }
  return out;
}

std::size_t pick_winner(const std::vector<Measured>& measured, const TileConfig& heuristic) {
  if (measured.empty()) detail::raise_invalid("pick_winner: no measured candidates");
  const auto fastest = std::min_element(measured.begin(), measured.end(),
                                        [](const Measured& a, const Measured& b) { return a.median_us < b.median_us; });
  const double band = std::max(fastest->p80_us - fastest->p20_us, 0.02 * fastest->median_us);
  auto order = [](const TileConfig& c) { return std::tuple(c.tile_i, c.tile_j, c.warps, c.oc_tile); };
  std::size_t winner = measured.size();
  for (std::size_t i = 0; i < measured.size(); ++i) {
    if (measured[i].median_us - fastest->median_us > band) continue;  // measurably slower
    if (measured[i].config == heuristic) return i;
    if (winner == measured.size() || order(measured[i].config) < order(measured[winner].config)) winner = i;
  }
  return winner;
}

}  // namespace attnjit
