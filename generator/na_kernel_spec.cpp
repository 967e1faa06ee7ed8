#include "generator/na_kernel_spec.hpp"

#include <fmt/format.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "na_params.h"
#include "runtime/error.hpp"

namespace attnjit {

bool is_neighborhood_attention(KernelKind kind) {
  return kind == KernelKind::na_forward || kind == KernelKind::na_backward_query ||
         kind == KernelKind::na_backward_key || kind == KernelKind::na_backward_fused;
}

KernelSpec na_kernel_spec(KernelKind kind, const NaProblem& problem, const TileConfig& config) {
  KernelSpec spec;
  spec.kind = kind;
  spec.dtype = problem.dtype;
  spec.length = problem.length;
  spec.head_dim = problem.head_dim;
  spec.kernel_size = problem.kernel_size;
  // From d >= L on, every dilation group is one position and each query sees only itself: the kernels for
  // d = L compute the same, and a huge d would only make empty blocks (and overflow the grid).
  spec.dilation = std::min(problem.dilation, problem.length);
  spec.window = problem.window;
  spec.config = config;
  return canonical(spec);
}

bool na_on_tensor_cores(const KernelSpec& s) {
  return is_neighborhood_attention(s.kind) && (s.config.lanes == 0 || s.config.lanes == kNaWarpgroupLanes);
}

bool na_on_warpgroups(const KernelSpec& s) { return s.kind == KernelKind::na_forward && s.config.lanes == kNaWarpgroupLanes; }

bool has_warpgroup_mma(std::string_view arch) { return arch == "sm_90"; }

LaunchShape launch_shape(const KernelSpec& s, const NaProblem& problem) {
  LaunchShape shape;
  shape.threads = static_cast<unsigned>(32 * s.config.warps);
  const long long tiles = mta_ceil_div(na_group_length(s.length, s.dilation, 0), s.config.tile_i);
  const long long blocks = static_cast<long long>(problem.batch) * problem.heads * s.dilation * tiles;
  if (blocks > 0x7fffffffLL) {
    detail::raise_invalid("{}: {} needs {} blocks, past the 2^31 - 1 a launch allows; split the batch", describe(problem),
                          name(s), blocks);
  }
  shape.grid_x = static_cast<unsigned>(blocks);
  const bool per_row_stats = s.kind == KernelKind::na_backward_key;
  if (!na_on_tensor_cores(s)) {
    shape.smem_bytes = 4u * static_cast<unsigned>(na_smem_floats(s.config.tile_j, s.head_dim, s.config.lanes, per_row_stats));
    // (tile_j <= 4096 rows and head_dim <= 1024, which check_na_config and validate ensure, keep this in range)
  } else if (s.kind == KernelKind::na_backward_fused) {
    shape.smem_bytes = static_cast<unsigned>(na_backward_fused_smem_bytes(s.config.tile_j, s.head_dim));
  } else if (na_on_warpgroups(s)) {
    shape.smem_bytes = static_cast<unsigned>(na_forward_wgmma_smem_bytes(s.config.tile_j, s.head_dim, s.config.warps));
  } else if (s.kind == KernelKind::na_forward) {
    shape.smem_bytes = static_cast<unsigned>(na_forward_mma_smem_bytes(s.config.tile_j, s.head_dim, s.config.warps));
  } else {
    shape.smem_bytes = static_cast<unsigned>(na_backward_mma_smem_bytes(s.config.tile_j, s.head_dim, per_row_stats));
  }
  return shape;
}

namespace detail {

KernelSpec na_canonical(const KernelSpec& spec) {
  KernelSpec c;  // all zero; copy back what the kernels use
  c.kind = spec.kind;
  c.dtype = spec.dtype;
  c.length = spec.length;
  c.head_dim = spec.head_dim;
  c.kernel_size = spec.kernel_size;
  c.dilation = spec.dilation;
  c.window = spec.window;
  c.config = {spec.config.tile_i, spec.config.tile_j, spec.config.warps, 0, spec.config.lanes};
  return c;
}

std::string na_name(const KernelSpec& s) {
  return fmt::format("{}_{}_{}_L{}_D{}_k{}_d{}_t{}x{}_w{}_l{}", to_string(s.kind), to_string(s.dtype),
                     to_string(s.window), s.length, s.head_dim, s.kernel_size, s.dilation, s.config.tile_i,
                     s.config.tile_j, s.config.warps, s.config.lanes);
}

std::string na_to_json(const KernelSpec& s) {
  const nlohmann::json j = {  // keys sorted by nlohmann::json: canonical
      {"kind", to_string(s.kind)},   {"dtype", to_string(s.dtype)},     {"window", to_string(s.window)},
      {"length", s.length},          {"head_dim", s.head_dim},          {"kernel_size", s.kernel_size},
      {"dilation", s.dilation},      {"tile_i", s.config.tile_i},       {"tile_j", s.config.tile_j},
      {"warps", s.config.warps},     {"lanes", s.config.lanes}};
  return j.dump();
}

KernelSpec na_spec_from_json(const std::string& json) {
  const auto j = nlohmann::json::parse(json);
  KernelSpec s;
  const std::string kind = j.at("kind"), dtype = j.at("dtype"), window = j.at("window");
  for (KernelKind k : {KernelKind::na_forward, KernelKind::na_backward_query, KernelKind::na_backward_key,
                       KernelKind::na_backward_fused}) {
    if (kind == to_string(k)) s.kind = k;
  }
  if (!is_neighborhood_attention(s.kind)) raise_invalid("spec JSON: unknown kind '{}'", kind);
  bool known_dtype = false, known_window = false;
  for (DType d : {DType::f32, DType::f16, DType::bf16}) {
    if (dtype == to_string(d)) s.dtype = d, known_dtype = true;
  }
  for (NaWindow w : {NaWindow::clipped, NaWindow::shifted, NaWindow::causal}) {
    if (window == to_string(w)) s.window = w, known_window = true;
  }
  if (!known_dtype) raise_invalid("spec JSON: unknown dtype '{}'", dtype);
  if (!known_window) raise_invalid("spec JSON: unknown window '{}'", window);
  for (auto [field, key] : {std::pair{&s.length, "length"}, {&s.head_dim, "head_dim"},
                            {&s.kernel_size, "kernel_size"}, {&s.dilation, "dilation"},
                            {&s.config.tile_i, "tile_i"}, {&s.config.tile_j, "tile_j"},
                            {&s.config.warps, "warps"}, {&s.config.lanes, "lanes"}}) {
    *field = j.at(key).get<int>();
  }
  return na_canonical(s);
}

}  // namespace detail
}  // namespace attnjit
