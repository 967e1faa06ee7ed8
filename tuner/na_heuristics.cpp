#include "tuner/na_heuristics.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <cstdlib>
#include <sstream>

#include "na_params.h"
#include "runtime/error.hpp"
#include "tuner/mta_heuristics.hpp"  // next_pow2

namespace attnjit {

namespace {

constexpr int kWarps = 4;
// Floats of per-row state a lane keeps in registers per owned row (forward: q, acc; query gradient: q,
// grad_out, grad_q; key gradient: k, v, grad_k, grad_v) times rows owned: at most kStateFloats, so the
// kernels stay under 128 registers with their temporaries.
constexpr int kStateFloats = 64;
constexpr int kSmemBudget = 64 * 1024;  // 3 blocks per SM on sm_90 (227 KiB)
constexpr int kMaxRows = 4096;          // rows a block owns or stages: bounds every size the host computes
constexpr int kSmemLimit = 227 * 1024;  // dynamic shared memory a block may opt into on sm_90

int state_floats(KernelKind kind, int head_dim, int lanes) {
  const int per_row = kind == KernelKind::na_forward ? 2 : kind == KernelKind::na_backward_query ? 3 : 4;
  return per_row * na_vec(head_dim, lanes);
}

int smem_bytes(KernelKind kind, const NaProblem& p, const TileConfig& c) {
  return static_cast<int>(launch_shape(na_kernel_spec(kind, p, c), p).smem_bytes);
}

// Whether kind can run on tensor cores for this problem's dtype and head dim.
bool mma_eligible(KernelKind kind, const NaProblem& p) {
  const int bytes = static_cast<int>(size_of(p.dtype));
  return kind == KernelKind::na_forward ? na_forward_mma_eligible(bytes, p.head_dim)
                                        : na_backward_mma_eligible(bytes, p.head_dim);
}

// Tensor cores where the dtype and D allow. The forward (cp.async double-buffered since 38d1555): 2 warps of
// 16 queries and 32-key tiles for narrow windows (k=7: 103 us at D=64 and D=128, tuned winner too), 4 warps
// from windows of kWideForward keys, where a block's 64 queries share each staged key tile, with 64-key tiles
// up to D=64 and 32 above (bench/results/2026-11-23_H100_38d1555, tuned winners: k=257 D=64 64x64x4 247 us
// vs 296 at 32x32x2; k=2049 D=128 64x32x4 2553 us vs 2920 at 64x64x4 and 3326 at 32x32x2). The query
// gradient at 2 warps and 32-key tiles (bench/results/2026-11-23_H100_affc5f4: D=64, k=7: 225 -> 162 us;
// k=257 with dilation 8: 383 -> 335 us). The key gradient on tensor cores keeps 4 warps and 64-query tiles
// (the tuner kept them at k=257) and is used from windows of 33: below that its lane-group kernel was as fast
// (k=7, D=64: 263 vs 238 us tuned, lanes either way).
constexpr int kTensorCoreKeyKernel = 33;
constexpr int kWideForward = 65;

TileConfig tensor_core_config(KernelKind kind, const NaProblem& p) {
  if (kind == KernelKind::na_backward_key) return {64, 64, 4, 0, 0};
  if (kind == KernelKind::na_forward && p.kernel_size >= kWideForward) return {64, p.head_dim <= 64 ? 64 : 32, 4, 0, 0};
  return {32, 32, 2, 0, 0};
}

NaWindowKind window_kind(NaWindow w) {
  return w == NaWindow::clipped ? NaWindowKind::clipped : w == NaWindow::shifted ? NaWindowKind::shifted : NaWindowKind::causal;
}

// The fused backward (one kernel, every input row read once): where tensor cores take the dtype and D, for
// windows up to 31 (wider ones stage too many halo rows per block; they keep the two kernels). Blocks of 4
// warps at D = 128, 2 below: the tuning runs of bench/results/2026-11-23_H100_ab4d0ca (k=7: D=128 293 us at
// 4 warps, 304 at 2; D=64 299 at 4, 277 at 2).
constexpr int kFusedMaxKernel = 31;

// The warps above, fewer for groups shorter than the block (no warp without a row) and until the staging
// fits in shared memory; 0 when not even one warp's does.
int fused_warps(const NaProblem& p) {
  int warps = p.head_dim > 64 ? 4 : 2;
  while (warps > 1 && 16 * (warps / 2) >= na_group_length(p.length, p.dilation, 0)) warps /= 2;
  auto fits = [&](int w) { return smem_bytes(KernelKind::na_backward_fused, p, na_fused_config(p, w)) <= kSmemLimit; };
  while (warps > 1 && !fits(warps)) warps /= 2;
  return fits(warps) ? warps : 0;
}

bool fused_backward(const NaProblem& p) {
  return na_backward_fused_eligible(static_cast<int>(size_of(p.dtype)), p.head_dim) && p.kernel_size <= kFusedMaxKernel &&
         fused_warps(p) > 0;
}

bool tensor_cores(KernelKind kind, const NaProblem& p) {
  if (!mma_eligible(kind, p)) return false;
  return kind != KernelKind::na_backward_key || p.kernel_size >= kTensorCoreKeyKernel;
}

// tile_i rows per block: each lane group owns as many rows as its register budget allows (a power of two),
// so that a staged row serves many windows; tile_j: the block's whole key (or query) range when it fits the
// shared-memory budget, else the most rows that do (the kernel then stages in chunks). The gradients own one
// row per lane group: their tuned winners did at k=7 (D=128: 8x14x4x16 and 8x14x2x8, 1.14-1.15x over two
// rows per group), the kernels being latency-bound at 24-30% occupancy with more rows (profile_na.txt).
TileConfig heuristic_config(KernelKind kind, const NaProblem& p) {
  if (tensor_cores(kind, p)) return tensor_core_config(kind, p);
  TileConfig c;
  c.lanes = na_heuristic_lanes(p.head_dim);
  c.warps = kWarps;
  const int groups = 32 * c.warps / c.lanes;
  int per_group = 1;
  while (kind == KernelKind::na_forward && 2 * per_group * state_floats(kind, p.head_dim, c.lanes) <= kStateFloats) {
    per_group *= 2;
  }
  const int group_length = na_group_length(p.length, p.dilation, 0);
  // No more rows than the longest dilation group has (short sequences): whole lane groups only.
  while (per_group > 1 && (per_group / 2) * groups >= group_length) per_group /= 2;
  c.tile_i = groups * per_group;
  c.tile_j = na_staged_rows(kind, p, c.tile_i, c.lanes);
  return c;
}

}  // namespace

int na_staged_rows(KernelKind kind, const NaProblem& p, int tile_i, int lanes) {
  int rows = std::min(na_group_length(p.length, p.dilation, 0), tile_i + p.kernel_size - 1);
  // (the lane-group kernels' shared memory depends on the staged rows and lanes only)
  while (rows > 1 && smem_bytes(kind, p, {1, rows, 1, 0, lanes}) > kSmemBudget) rows = (rows + 1) / 2;
  return rows;
}

bool na_config_ok(KernelKind kind, const NaProblem& problem, const TileConfig& config) {
  try {
    check_na_config(kind, problem, config);
    return true;
  } catch (const Error&) {
    return false;
  }
}

TileConfig& config_of(NaConfigs& configs, KernelKind kind) {
  switch (kind) {
    case KernelKind::na_backward_query: return configs.backward_query;
    case KernelKind::na_backward_key: return configs.backward_key;
    case KernelKind::na_backward_fused: return configs.backward_fused;
    default: return configs.forward;
  }
}

const TileConfig& config_of(const NaConfigs& configs, KernelKind kind) {
  return config_of(const_cast<NaConfigs&>(configs), kind);  // the same member, read only
}

// 8 elements per lane: a lane's part of a staged row is two 16-byte loads, and a 128-wide head takes 16
// lanes, two rows per warp. Fewer lanes per row mean fewer shuffles per dot product but more registers.
int na_heuristic_lanes(int head_dim) {
  int best = 1, best_waste = 1 << 30, best_distance = 1 << 30;
  for (int lanes = 1; lanes <= 32; lanes *= 2) {
    const int vec = na_vec(head_dim, lanes);
    if (vec > 16 && lanes < 32) continue;
    const int waste = lanes * vec - head_dim, distance = std::abs(vec - 8);
    if (waste < best_waste || (waste == best_waste && distance < best_distance)) {
      best = lanes, best_waste = waste, best_distance = distance;
    }
  }
  return best;
}

NaConfigs na_heuristic_configs(const NaProblem& p, std::string_view arch) {
  // On sm_90, windows of kWideForward and wider take the forward on warpgroups (wgmma) where it can: the
  // tuning runs of bench/results/2026-11-24_H100_99b6dd3 and ..._12f9127 (k=257 D=64: 64x64x4 161-165 us
  // against 209 on mma.sync; k=2049 D=128: 16 warps and 64-key tiles 1276 us, 8 warps and 128-key tiles
  // 1347, mma.sync 2182), while at k=7 it only ties. At D = 128, 8 warps with 64-key tiles, two blocks an
  // SM since their output rows reuse the tiles' shared memory: 1237-1245 us at k=2049 against 1247-1256 for
  // 16 warps (bench/results/2026-11-24_H100_3608318), and a block's warpgroups idle on fewer of its tiles
  // at narrower windows (each skips the tiles outside its own 64 queries' keys).
  const bool warpgroups = has_warpgroup_mma(arch) && p.kernel_size >= kWideForward &&
                          na_forward_wgmma_eligible(static_cast<int>(size_of(p.dtype)), p.head_dim);
  const TileConfig forward = warpgroups ? (p.head_dim <= 64 ? TileConfig{64, 64, 4, 0, kNaWarpgroupLanes}
                                                            : TileConfig{128, 64, 8, 0, kNaWarpgroupLanes})
                                        : heuristic_config(KernelKind::na_forward, p);
  return {forward, heuristic_config(KernelKind::na_backward_query, p),
          heuristic_config(KernelKind::na_backward_key, p),
          fused_backward(p) ? na_fused_config(p, fused_warps(p)) : TileConfig{}};
}

NaConfigs na_candidate_configs(const NaProblem& p, KernelKind kind, const TileConfig& config) {
  NaConfigs configs = na_heuristic_configs(p);
  if (kind == KernelKind::na_backward_query || kind == KernelKind::na_backward_key) configs.backward_fused = {};
  config_of(configs, kind) = config;
  return configs;
}

TileConfig na_fused_config(const NaProblem& p, int warps) {
  const int rows = 16 * warps;
  return {rows, na_fused_staged_rows(window_kind(p.window), p.kernel_size, rows, na_group_length(p.length, p.dilation, 0)), warps, 0, 0};
}

void check_na_config(KernelKind kind, const NaProblem& p, const TileConfig& c) {
  auto fail = [&](const std::string& what) {
    detail::raise_invalid("{}: {} config {}x{}x{}x{}: {}", describe(p), to_string(kind), c.tile_i, c.tile_j, c.warps,
                          c.lanes, what);
  };
  if (c.tile_i < 1 || c.tile_i > kMaxRows || c.tile_j < 1 || c.tile_j > kMaxRows) {
    fail(fmt::format("tile_i and tile_j (rows) must be 1 to {}", kMaxRows));
  }
  if (kind == KernelKind::na_backward_fused) {
    if (!na_backward_fused_eligible(static_cast<int>(size_of(p.dtype)), p.head_dim)) {
      fail("the fused backward runs on tensor cores: it needs f16 or bf16 and a head dim that is a multiple of 16 up to "
           "128; use the two-kernel backward (backward_fused=off)");
    }
    if (c.lanes != 0) fail("the fused backward runs on tensor cores: lanes must be 0");
    if (c.warps < 1 || c.warps > 16 || c.tile_i != 16 * c.warps) fail("tile_i must be 16 * warps (1 to 16 warps)");
    const int staged = na_fused_staged_rows(window_kind(p.window), p.kernel_size, c.tile_i,
                                            na_group_length(p.length, p.dilation, 0));
    if (c.tile_j < staged || c.tile_j % 16 != 0) {
      fail(fmt::format("tile_j must be a multiple of 16 and at least {} (the block's rows and the window's reach)", staged));
    }
    if (smem_bytes(kind, p, c) > kSmemLimit) {
      fail(fmt::format("{} bytes of shared memory is past 227 KiB; use fewer warps or the two-kernel backward",
                       smem_bytes(kind, p, c)));
    }
    return;
  }
  if (c.lanes == kNaWarpgroupLanes) {  // warpgroup tensor cores (sm_90)
    if (kind != KernelKind::na_forward || !na_forward_wgmma_eligible(static_cast<int>(size_of(p.dtype)), p.head_dim)) {
      fail(fmt::format("lanes {} (warpgroup tensor cores, sm_90) is the forward's only, for f16 or bf16 and a head dim of "
                       "64 or 128",
                       kNaWarpgroupLanes));
    }
    if (c.warps % 4 != 0 || c.warps > 16 || c.tile_i != 16 * c.warps) {
      fail("warpgroup tensor cores: warps must be 4, 8, 12 or 16 and tile_i 16 * warps (64 queries per warpgroup)");
    }
    if (c.tile_j != 64 && c.tile_j != 128) fail("warpgroup tensor cores: tile_j must be 64 or 128 keys");
    if (smem_bytes(kind, p, c) > kSmemLimit) fail("past 227 KiB of shared memory");
    return;
  }
  if (c.lanes == 0) {  // tensor cores
    if (!mma_eligible(kind, p)) {
      fail(kind == KernelKind::na_forward
               ? "lanes 0 (tensor cores) needs f16 or bf16 and a head dim that is a multiple of 16 up to 128"
               : "lanes 0 (tensor cores) needs f16 or bf16 and a head dim that is a multiple of 16 up to 64");
    }
    if (c.warps < 1 || c.warps > 16 || c.tile_i != 16 * c.warps) fail("tensor cores: tile_i must be 16 * warps (1 to 16 warps)");
    if (c.tile_j < 16 || c.tile_j % 16 != 0 || c.tile_j > 128) fail("tensor cores: tile_j must be 16, 32, ... 128 keys");
    if (smem_bytes(kind, p, c) > kSmemLimit) fail("past 227 KiB of shared memory");
    return;
  }
  if (c.lanes < 1 || c.lanes > 32 || (c.lanes & (c.lanes - 1)) != 0) {
    fail(fmt::format("lanes must be 0 (tensor cores), {} (warpgroup tensor cores, sm_90), 1, 2, 4, 8, 16 or 32", kNaWarpgroupLanes));
  }
  if (c.warps < 1 || c.warps > 32) fail("warps must be 1 to 32");
  if (c.tile_j < 1) fail("tile_j (rows staged at a time) must be at least 1");
  const int groups = 32 * c.warps / c.lanes;
  if (c.tile_i < groups || c.tile_i % groups != 0) {
    fail(fmt::format("tile_i must be a multiple of the block's {} lane groups (32 * warps / lanes)", groups));
  }
  if ((c.tile_i / groups) * state_floats(kind, p.head_dim, c.lanes) > 2 * kStateFloats) {
    fail(fmt::format("{} rows per lane group of {} floats each would spill registers; use more warps or lanes",
                     c.tile_i / groups, state_floats(kind, p.head_dim, c.lanes)));
  }
  if (smem_bytes(kind, p, c) > kSmemLimit) {
    fail(fmt::format("{} bytes of shared memory is past 227 KiB; stage fewer rows", smem_bytes(kind, p, c)));
  }
}

void apply_na_config_overrides(NaConfigs& configs, const NaProblem& problem, const std::string& text) {
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string kernel = item.substr(0, eq);
    const std::optional<KernelKind> kind = kernel == "forward"          ? KernelKind::na_forward
                                           : kernel == "backward_query" ? KernelKind::na_backward_query
                                           : kernel == "backward_key"   ? KernelKind::na_backward_key
                                           : kernel == "backward_fused" ? KernelKind::na_backward_fused
                                                                        : std::optional<KernelKind>{};
    if (!kind) {
      detail::raise_invalid("config pin '{}': unknown kernel '{}' (forward, backward_query, backward_key, backward_fused)",
                            item, kernel);
    }
    if (*kind == KernelKind::na_backward_fused && eq != std::string::npos && item.substr(eq + 1) == "off") {
      configs.backward_fused = {};
      continue;
    }
    std::vector<int> values;
    std::stringstream numbers(eq == std::string::npos ? "" : item.substr(eq + 1));
    for (std::string number; std::getline(numbers, number, 'x');) {
      int v = -1;
      const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), v);
      const bool lanes = values.size() == 3;  // 0 lanes: tensor cores
      if (error != std::errc{} || end != number.data() + number.size() || v < (lanes ? 0 : 1)) {
        detail::raise_invalid("config pin '{}': '{}' is not a {} integer", item, number, lanes ? "non-negative" : "positive");
      }
      values.push_back(v);
    }
    if (values.size() != 4) detail::raise_invalid("config pin '{}': {}=TILE_IxTILE_JxWARPSxLANES", item, kernel);
    const TileConfig config{values[0], values[1], values[2], 0, values[3]};
    check_na_config(*kind, problem, config);
    config_of(configs, *kind) = config;
  }
}

NaConfigs na_configs(const NaProblem& problem, std::string_view arch) {
  NaConfigs configs = na_heuristic_configs(problem, arch);
  if (const char* pins = std::getenv("ATTNJIT_NA_CONFIG"); pins != nullptr && *pins != '\0') {
    apply_na_config_overrides(configs, problem, pins);
  }
  return configs;
}

NaKernelSpecs na_kernel_specs(const NaProblem& p, const NaConfigs& c) {
  return {na_kernel_spec(KernelKind::na_forward, p, c.forward),
          na_kernel_spec(KernelKind::na_backward_query, p, c.backward_query),
          na_kernel_spec(KernelKind::na_backward_key, p, c.backward_key),
          na_kernel_spec(KernelKind::na_backward_fused, p, c.backward_fused)};
}

std::vector<KernelSpec> in_launch_order(const NaKernelSpecs& s) {
  if (s.fused()) return {s.forward, s.backward_fused};
  return {s.forward, s.backward_query, s.backward_key};
}

std::size_t na_workspace_bytes(const NaProblem& p) { return 4 * na_logsumexp_elements(p); }

}  // namespace attnjit
