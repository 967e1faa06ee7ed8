#include "tuner/mta_heuristics.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "mta_params.h"
#include "runtime/error.hpp"

namespace attnjit {

namespace {

constexpr int kMaxTile = 32;        // rows of a forward tile; columns of a weight-gradient tile
constexpr int kMaxTileJ = 64;       // forward: 32 x 64 outputs = 512 runs of 4, four per thread at 4 warps
constexpr int kMaxSweep = 64;       // input gradient: 16 x 64 positions = 256 runs of 4, two per thread
constexpr int kRowStatsWarps = 8;   // a warp per row, 8 rows per block
constexpr int kMaxOcTile = 8;       // accumulators per position: 8 channels x 4 positions = 32 registers
constexpr int kSmemBudget = 48 * 1024;  // stay under the default dynamic limit when the tile allows

// Runs of up to 4 consecutive outputs of one row in a tile: the unit a thread of the forward and of the
// input gradient computes at a time.
int runs_of(const TileConfig& t) { return t.tile_i * (t.tile_j / std::min(4, t.tile_j)); }

int largest_divisor_at_most(int n, int limit) {
  for (int d = std::min(n, limit); d > 1; --d) {
    if (n % d == 0) return d;
  }
  return 1;
}

// Halves a tile, columns first: the one shrinking rule of every kernel's heuristic.
void halve(TileConfig& c) { (c.tile_j >= c.tile_i && c.tile_j > 1 ? c.tile_j : c.tile_i) /= 2; }

// Shrinks c, warps following the tile (warps_of), until the kernel's shared memory fits the budget or
// the tile is 1 x 1. The bytes come from launch_shape, the formula the launch itself uses.
template <class WarpsOf>
void fit(TileConfig& c, KernelKind kind, const MtaProblem& p, WarpsOf warps_of) {
  for (;;) {
    c.warps = warps_of(c);
    if (c.tile_i * c.tile_j == 1 || launch_shape(mta_kernel_spec(kind, p, c), p).smem_bytes <= kSmemBudget) return;
    halve(c);
  }
}

// Channel mixing in f16/bf16 runs the forward on tensor cores (mta_forward_uses_mma): a 32 x 32 tile
// (64 m-tiles of 16 positions, 8 per warp of 8, so each warp owns 4 whole output rows, which the row-reuse
// loop needs; on the H100 at groups=1 K7: 646 us, against 696 for 16 x 32 and 649 for 16 x 64, measured
// before that loop), all output channels of the group up to 32 per block (so the normalized patch of every
// input channel is staged once for all of them), halved while the staged patches and filters exceed the
// shared-memory limit. None when the problem does not qualify.
std::optional<TileConfig> mma_forward_config(const MtaProblem& p) {
  const int cout_g = p.out_channels / p.groups;
  int oc_tile = 0;
  for (int n = 8; n <= std::min(cout_g, 32); n += 8) {
    if (cout_g % n == 0) oc_tile = n;
  }
  if (size_of(p.dtype) != 2 || oc_tile == 0) return std::nullopt;
  TileConfig t{std::min(32, next_pow2(p.out_h())), std::min(32, next_pow2(p.out_w())), 0, oc_tile};
  for (;;) {
    t.warps = std::clamp(t.tile_i * t.tile_j / 16, 1, 8);  // a warp per m-tile of 16 positions, at most 8
    if (mta_forward_on_tensor_cores(mta_kernel_spec(KernelKind::mta_forward, p, t))) return t;
    if (t.tile_i * t.tile_j <= 16) return std::nullopt;  // no whole m-tile left, or too few taps
    halve(t);
  }
}

// Depthwise f16/bf16 runs the forward on tensor cores (mta_forward_uses_band): 64 x 128 outputs, eight warp
// tiles of 16 x 64, two per warp of 4 (the band's B fragments, built once per block, then serve two), the
// tile shrinking with the output; none when the problem does not qualify.
std::optional<TileConfig> band_forward_config(const MtaProblem& p) {
  TileConfig t{std::min(64, next_pow2(p.out_h())), std::min(128, next_pow2(p.out_w())), 0, 1};
  if (t.tile_i < 16 || t.tile_j < 8) return std::nullopt;
  const int warp_tiles = (t.tile_i / 16) * std::max(1, t.tile_j / 64);
  t.warps = std::clamp(warp_tiles / 2, 1, 4);
  if (mta_forward_path(mta_kernel_spec(KernelKind::mta_forward, p, t)) != MtaForwardPath::depthwise_band_mma) {
    return std::nullopt;
  }
  return t;
}

// The input gradient of 16-bit depthwise convolutions (one output channel per group), from tuning the
// benchmark shapes on the H100 (bench/results/2026-11-23_H100_19aadcd, tune.txt): up to 32 taps, strips of
// 8 rows swept 128 columns at a time by 8 warps, dP on CUDA cores (K3 461 us and K5 628 us, against 575 and
// 814 for the best band configs); more taps, dP on tensor cores (mta_backward_input_uses_band) in strips of
// 16 rows swept 64 columns at a time by 4 warps (K7 971 us and the paper's 6x11 2194 us, against 1081 and
// 2218 on CUDA cores). Strips of 32 rows ran 1.2-1.4x slower either way. fp32 depthwise: strips of 16 rows
// swept 64 columns at a time by 8 warps where its grad_out packs are fetched a tile ahead
// (mta_grad_patch_staged; 80 registers at 8 warps): K3 682 -> 644 us, K5 808 -> 755, K7 1078 -> 1067 against 4
// warps, within 4% of the best of five configs at each K (bench/results/2026-11-24_H100_8411156,
// f32_configs.txt). None for other problems, or where the config does not fit (L below 16 or the band's
// conditions).
std::optional<TileConfig> depthwise_backward_input_config(const MtaProblem& p) {
  if (p.out_channels != p.groups) return std::nullopt;
  if (size_of(p.dtype) == 4) {
    if (p.length < 64) return std::nullopt;  // a smaller tile would leave 8 warps' threads without runs
    const TileConfig t{16, 64, 8, 0};
    if (!mta_grad_patch_staged(4, 1, p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.dilation_h, p.dilation_w,
                               p.out_w(), t.tile_i, t.tile_j, 32 * t.warps)) {
      return std::nullopt;
    }
    const KernelSpec spec = mta_kernel_spec(KernelKind::mta_backward_input, p, t);
    if (launch_shape(spec, p).smem_bytes > kSmemBudget) return std::nullopt;
    return t;
  }
  if (size_of(p.dtype) != 2) return std::nullopt;
  const bool band = p.kernel_h * p.kernel_w > 32;
  const TileConfig t = band ? TileConfig{std::min(16, next_pow2(p.length)), std::min(64, next_pow2(p.length)), 4, 0}
                            : TileConfig{std::min(8, next_pow2(p.length)), std::min(128, next_pow2(p.length)), 8, 0};
  const KernelSpec spec = mta_kernel_spec(KernelKind::mta_backward_input, p, t);
  if (mta_backward_input_on_tensor_cores(spec) != band || launch_shape(spec, p).smem_bytes > kSmemBudget) return std::nullopt;
  return t;
}

// The channel-mixing input gradient. In f16/bf16 with channels in whole planes of 8 at stride 1, on tensor
// cores (mta_backward_input_uses_mma): strips of 8 rows swept 64 columns at a time by 8 warps, a warp a row
// (groups=1 K7 on the H100, bench/results/2026-11-24_H100_a6b9334/input_configs.txt: 1880 us, against 1904 for
// 8 x 128, 2040 for 8 x 32, 2278 for 16 x 64 and 3846 for 32 x 32: taller strips mean fewer blocks, two strips
// each), narrower where shared memory does not fit. Otherwise, on CUDA cores,
// with many output channels per group and taps (16 or more, 25 or more;
// at stride 1): strips of 16 rows swept 32 columns at a time by 8 warps. On the H100, groups=1 K7 bf16
// (bench/results/2026-11-24_H100_184e2d0/g1_configs.txt), the backward against the 16 x 16 heuristic of 4
// warps: 28.5 -> 24.2 ms; 16 x 64 by 8 warps (23.3 ms) and 32 x 32 by 16 (24.9 ms, the tuner's winner in
// 1a53807) need more shared memory than kChannelMixingSmem, the opt-in limit of the smallest sm_8x parts
// (sm_86/sm_89): their grad patch holds every output channel of the group. Measured at one shape only,
// hence the narrow condition.
constexpr unsigned kChannelMixingSmem = 101376;
std::optional<TileConfig> channel_mixing_backward_input_config(const MtaProblem& p) {
  const int rows = std::min(8, next_pow2(p.length));
  for (TileConfig t{rows, std::max(16, std::min(64, next_pow2(p.length))), rows, 0}; t.tile_j >= 16; t.tile_j /= 2) {
    // (warps = rows: each warp one row of the tile's m-tiles)
    if (mta_backward_input_on_mma(mta_kernel_spec(KernelKind::mta_backward_input, p, t))) return t;
  }
  const bool many = p.out_channels / p.groups >= 16 && p.kernel_h * p.kernel_w >= 25;
  if (!many || p.stride_h != 1 || p.stride_w != 1 || p.length < 32) return std::nullopt;
  const TileConfig t{16, 32, 8, 0};
  if (launch_shape(mta_kernel_spec(KernelKind::mta_backward_input, p, t), p).smem_bytes > kChannelMixingSmem) {
    return std::nullopt;
  }
  return t;
}

// The channel-mixing weight gradient in f16/bf16 runs on tensor cores (mta_backward_weight_uses_mma): tiles
// of 16 output rows x 64 columns (a 22-row patch at K7: the halo re-read 1.4x), narrower while the staged
// operands exceed the shared-memory limit; none when the problem does not qualify. Warps: 8 where a unit of the
// n dimension is two planes of input channels (16 or more a group: 8 accumulators a unit), else 16. On the H100
// at K7 (the backward's time): 16 x 64 by 16 warps 1832 us against 1891 by 8 and 2281 by 4 at groups=1, 16 x 32,
// 8 x 64, 8 x 128 and 32 x 32 by 8 within 1% of 16 x 64 (bench/results/2026-11-24_H100_ea31d8c); once the
// scores were staged two positions an item, 16 warps (64 registers) spilled at groups=1: 1741 us against
// 1661-1674 by 8, while groups=2 (8 channels a group) kept 16: 1829 against 1932 by 8
// (bench/results/2026-11-24_H100_2b81bd8).
std::optional<TileConfig> mma_backward_weight_config(const MtaProblem& p) {
  const int warps = (p.in_channels / p.groups) % 16 == 0 ? 8 : 16;
  TileConfig t{std::min(16, next_pow2(p.out_h())), std::max(16, std::min(64, next_pow2(p.out_w()))), warps, 0};
  for (; t.tile_j >= 16; t.tile_j /= 2) {
    if (mta_backward_weight_on_tensor_cores(mta_kernel_spec(KernelKind::mta_backward_weight, p, t))) return t;
  }
  return std::nullopt;
}

}  // namespace

// Warps for a block of `items` (what a thread takes at a time: a run of up to 4 outputs in the forward and
// the input gradient, one output in the weight gradient): 4, then 8 from 2048, 16 from 8192, 32 from 32768
// (the tiles above hold at most 512 runs or 512 outputs, so 4 here). Tuning the benchmark shapes agreed:
// every gradient winner had 4 warps (the input gradient 1.06-1.57x faster than at 8,
// bench/results/2026-11-23_H100_90a40f0), and the forward's 32 x 64 tile at 4 warps against 8 measured
// 1.05-1.28x faster on the bf16/fp16 depthwise shapes and within 0.5% on the paper's 6x11 and on fp32
// (bench/results/2026-11-23_H100_8253a60/tune_run1.json).
int heuristic_warps(int items) {
  if (items >= 32768) return 32;
  if (items >= 8192) return 16;
  if (items >= 2048) return 8;
  return 4;
}

int next_pow2(int n) {
  int p = 1;
  while (p < n) p *= 2;
  return p;
}

MtaConfigs mta_heuristic_configs(const MtaProblem& p) {
  MtaConfigs c;
  c.row_stats.warps = kRowStatsWarps;  // one warp per row (16-byte loads, 8 bf16 per lane)

  // 32 x 64 measured 313 us against 381 us for 32 x 32 on dw K5 bf16 L=2048 (16-byte span loads, 8 warps):
  // half the blocks, each with a patch whose halo is a smaller share.
  const int tile_i = std::min(kMaxTile, next_pow2(p.out_h())), tile_j = std::min(kMaxTileJ, next_pow2(p.out_w()));
  c.forward = {tile_i, tile_j, 0, largest_divisor_at_most(p.out_channels / p.groups, kMaxOcTile)};
  fit(c.forward, KernelKind::mta_forward, p, [](const TileConfig& t) { return heuristic_warps(runs_of(t)); });
  if (auto mma = mma_forward_config(p)) c.forward = *mma;
  if (auto band = band_forward_config(p)) c.forward = *band;

  // A strip of 16 rows (its per-row reductions stay in shared memory) swept 64 columns at a time: 256
  // runs of 4 positions, two per thread of 4 warps (on dw K5 bf16 L=2048 with 16-byte span loads, 8 warps:
  // 16 x 64 1.16 ms, 16 x 128 1.32 ms, 32 x 64 1.38 ms); narrower while the grad_out patch of the
  // group's output channels does not fit the budget.
  c.backward_input = {std::min(16, next_pow2(p.length)), std::min(kMaxSweep, next_pow2(p.length)), 0, 0};
  fit(c.backward_input, KernelKind::mta_backward_input, p, [](const TileConfig& t) { return heuristic_warps(runs_of(t)); });
  if (auto dw = depthwise_backward_input_config(p)) c.backward_input = *dw;
  if (auto mixing = channel_mixing_backward_input_config(p)) c.backward_input = *mixing;

  c.backward_weight = {std::min(16, next_pow2(p.out_h())), std::min(kMaxTile, next_pow2(p.out_w())), 0, 0};
  fit(c.backward_weight, KernelKind::mta_backward_weight, p,
      [](const TileConfig& t) { return heuristic_warps(t.tile_i * t.tile_j); });
  if (auto mma = mma_backward_weight_config(p)) c.backward_weight = *mma;
  return c;
}

void apply_config_overrides(MtaConfigs& configs, const MtaProblem& problem, const std::string& text) {
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string kernel = item.substr(0, eq);
    std::vector<int> values;
    std::stringstream numbers(eq == std::string::npos ? "" : item.substr(eq + 1));
    for (std::string number; std::getline(numbers, number, 'x');) {
      const int v = std::atoi(number.c_str());
      if (v <= 0) detail::raise_invalid("config pin '{}': '{}' is not a positive integer", item, number);
      values.push_back(v);
    }
    auto is_pow2 = [](int v) { return (v & (v - 1)) == 0; };
    TileConfig* target = kernel == "forward"           ? &configs.forward
                         : kernel == "backward_input"  ? &configs.backward_input
                         : kernel == "backward_weight" ? &configs.backward_weight
                         : kernel == "row_stats"       ? &configs.row_stats
                                                       : nullptr;
    if (target == nullptr) {
      detail::raise_invalid("config pin '{}': unknown kernel '{}' (forward, backward_input, backward_weight, row_stats)",
                            item, kernel);
    }
    if (target == &configs.row_stats) {
      if (values.size() != 1 || values[0] > 32) detail::raise_invalid("config pin '{}': row_stats=WARPS, 1 to 32", item);
      target->warps = values[0];
      continue;
    }
    const bool forward = target == &configs.forward;
    if (values.size() != (forward ? 4u : 3u) || values[2] > 32 || !is_pow2(values[1])) {
      detail::raise_invalid("config pin '{}': {}=TILE_IxTILE_JxWARPS{} with TILE_J a power of 2 and 1 to 32 warps", item,
                            kernel, forward ? "xOC_TILE" : "");
    }
    const int cout_per_group = problem.out_channels / problem.groups;
    if (forward && cout_per_group % values[3] != 0) {
      detail::raise_invalid("config pin '{}': oc_tile {} must divide C_out/groups = {}", item, values[3], cout_per_group);
    }
    *target = {values[0], values[1], values[2], forward ? values[3] : 0};
  }
}

TileConfig& config_of(MtaConfigs& configs, KernelKind kind) {
  switch (kind) {
    case KernelKind::mta_row_stats: return configs.row_stats;
    case KernelKind::mta_forward: return configs.forward;
    case KernelKind::mta_backward_input: return configs.backward_input;
    case KernelKind::mta_backward_weight:
    case KernelKind::mta_reduce_weight: return configs.backward_weight;
    default: break;  // not an mta kernel
  }
  return configs.forward;
}

MtaConfigs mta_configs(const MtaProblem& problem) {
  MtaConfigs configs = mta_heuristic_configs(problem);
  if (const char* pins = std::getenv("ATTNJIT_MTA_CONFIG"); pins != nullptr && *pins != '\0') {
    apply_config_overrides(configs, problem, pins);
  }
  return configs;
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
  if (mta_weight_grad_fused(p)) return p.batch * mta_ceil_div(p.length, c.backward_input.tile_i);
  const KernelSpec weight = mta_kernel_spec(KernelKind::mta_backward_weight, p, c.backward_weight);
  if (mta_backward_weight_on_tensor_cores(weight)) return p.batch * mta_backward_weight_mma_blocks(weight, p.batch);
  return p.batch * mta_ceil_div(p.out_h(), c.backward_weight.tile_i);
}

std::size_t mta_workspace_bytes(const MtaProblem& p, const MtaConfigs& c) {
  const std::size_t per_slot = static_cast<std::size_t>(p.out_channels) *
                               (static_cast<std::size_t>(p.in_channels / p.groups) * p.kernel_h * p.kernel_w + 1);
  return 4 * static_cast<std::size_t>(mta_weight_slots(p, c)) * per_slot;
}

}  // namespace attnjit
