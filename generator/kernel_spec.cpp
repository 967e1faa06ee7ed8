#include "generator/kernel_spec.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "generator/na_kernel_spec.hpp"
#include "mta_params.h"
#include "runtime/error.hpp"

namespace attnjit {

const char* to_string(KernelKind kind) {
  switch (kind) {
    case KernelKind::mta_row_stats: return "mta_stats";
    case KernelKind::mta_forward: return "mta_fwd";
    case KernelKind::mta_backward_input: return "mta_bwd_input";
    case KernelKind::mta_backward_weight: return "mta_bwd_weight";
    case KernelKind::mta_reduce_weight: return "mta_reduce_weight";
    case KernelKind::na_forward: return "na_fwd";
    case KernelKind::na_backward_query: return "na_bwd_query";
    case KernelKind::na_backward_key: return "na_bwd_key";
    case KernelKind::na_backward_fused: return "na_bwd_fused";
  }
  return "?";
}

KernelSpec mta_kernel_spec(KernelKind kind, const MtaProblem& problem, const TileConfig& config) {
  KernelSpec spec;
  spec.kind = kind;
  spec.dtype = problem.dtype;
  spec.norm = problem.norm;
  spec.length = problem.length;
  spec.cin_per_group = problem.in_channels / problem.groups;
  spec.cout_per_group = problem.out_channels / problem.groups;
  spec.groups = problem.groups;
  spec.kernel_h = problem.kernel_h;
  spec.kernel_w = problem.kernel_w;
  spec.stride_h = problem.stride_h;
  spec.stride_w = problem.stride_w;
  spec.pad_top = problem.padding.top;
  spec.pad_left = problem.padding.left;
  spec.dilation_h = problem.dilation_h;
  spec.dilation_w = problem.dilation_w;
  spec.out_h = problem.out_h();
  spec.out_w = problem.out_w();
  spec.bias = problem.bias;
  spec.config = config;
  return canonical(spec);
}

KernelSpec canonical(KernelSpec spec) {
  if (is_neighborhood_attention(spec.kind)) return detail::na_canonical(spec);
  KernelSpec c;  // all zero; copy back what the kind uses
  c.kind = spec.kind;
  c.dtype = spec.dtype;
  c.config.warps = spec.config.warps;
  if (spec.kind != KernelKind::mta_reduce_weight) {
    c.norm = spec.norm;
    c.length = spec.length;
  }
  if (spec.kind == KernelKind::mta_row_stats) return c;
  c.cin_per_group = spec.cin_per_group;
  c.cout_per_group = spec.cout_per_group;
  c.groups = spec.groups;
  c.kernel_h = spec.kernel_h;
  c.kernel_w = spec.kernel_w;
  if (spec.kind == KernelKind::mta_reduce_weight) {  // sums MtaParams::weight_slots slots of partials
    c.bias = spec.bias;
    return c;
  }
  c.out_h = spec.out_h;
  c.config.tile_i = spec.config.tile_i;
  c.stride_h = spec.stride_h;
  c.stride_w = spec.stride_w;
  c.pad_top = spec.pad_top;
  c.pad_left = spec.pad_left;
  c.dilation_h = spec.dilation_h;
  c.dilation_w = spec.dilation_w;
  c.out_w = spec.out_w;
  c.config.tile_j = spec.config.tile_j;
  if (spec.kind == KernelKind::mta_forward) {
    c.bias = spec.bias;
    c.config.oc_tile = spec.config.oc_tile;
  }
  if (spec.kind == KernelKind::mta_backward_input &&
      mta_fuses_weight_grad(spec.cout_per_group, spec.kernel_h, spec.kernel_w)) {
    c.bias = spec.bias;  // it writes the bias gradient's partials too
  }
  if (mta_backward_weight_on_tensor_cores(spec)) c.bias = spec.bias;  // its bias unit runs only with a bias
  return c;
}

std::string name(const KernelSpec& spec) {
  const KernelSpec s = canonical(spec);
  if (is_neighborhood_attention(s.kind)) return detail::na_name(s);
  std::string n = fmt::format("{}_{}", to_string(s.kind), to_string(s.dtype));
  if (s.kind != KernelKind::mta_reduce_weight) n += fmt::format("_{}_L{}", to_string(s.norm), s.length);
  if (s.kind != KernelKind::mta_row_stats) {
    n += fmt::format("_c{}x{}_g{}_k{}x{}", s.cin_per_group * s.groups, s.cout_per_group * s.groups, s.groups,
                     s.kernel_h, s.kernel_w);
  }
  if (s.kind != KernelKind::mta_row_stats && s.kind != KernelKind::mta_reduce_weight) {
    n += fmt::format("_s{}x{}_d{}x{}_p{}x{}_o{}x{}", s.stride_h, s.stride_w, s.dilation_h, s.dilation_w, s.pad_top,
                     s.pad_left, s.out_h, s.out_w);
  }
  if (s.bias == Bias::present) n += "_bias";
  if (s.config.tile_j != 0) n += fmt::format("_t{}x{}", s.config.tile_i, s.config.tile_j);
  n += fmt::format("_w{}", s.config.warps);
  if (s.config.oc_tile != 0) n += fmt::format("_oc{}", s.config.oc_tile);
  return n;
}

std::string to_json(const KernelSpec& spec) {
  const KernelSpec s = canonical(spec);
  if (is_neighborhood_attention(s.kind)) return detail::na_to_json(s);
  const nlohmann::json j = {  // nlohmann::json objects keep their keys sorted: canonical by construction
      {"kind", to_string(s.kind)},  {"dtype", to_string(s.dtype)},  {"norm", to_string(s.norm)},
      {"length", s.length},         {"cin_per_group", s.cin_per_group}, {"cout_per_group", s.cout_per_group},
      {"groups", s.groups},         {"kernel_h", s.kernel_h},       {"kernel_w", s.kernel_w},
      {"stride_h", s.stride_h},     {"stride_w", s.stride_w},       {"pad_top", s.pad_top},
      {"pad_left", s.pad_left},     {"dilation_h", s.dilation_h},   {"dilation_w", s.dilation_w},
      {"out_h", s.out_h},           {"out_w", s.out_w},             {"bias", s.bias == Bias::present},
      {"tile_i", s.config.tile_i},  {"tile_j", s.config.tile_j},    {"warps", s.config.warps},
      {"oc_tile", s.config.oc_tile}};
  return j.dump();
}

namespace {
template <class E>
E enum_from(const std::string& text, std::initializer_list<E> values, const char* what) {
  for (E v : values) {
    if (text == to_string(v)) return v;
  }
  detail::raise_invalid("spec JSON: unknown {} '{}'", what, text);
}
}  // namespace

KernelSpec spec_from_json(const std::string& json) {
  const auto j = nlohmann::json::parse(json);
  if (j.contains("head_dim")) return detail::na_spec_from_json(json);
  KernelSpec s;
  s.kind = enum_from<KernelKind>(j.at("kind"), {KernelKind::mta_row_stats, KernelKind::mta_forward,
                                                KernelKind::mta_backward_input, KernelKind::mta_backward_weight,
                                                KernelKind::mta_reduce_weight}, "kind");
  s.dtype = enum_from<DType>(j.at("dtype"), {DType::f32, DType::f16, DType::bf16}, "dtype");
  s.norm = enum_from<Norm>(j.at("norm"), {Norm::softmax, Norm::sparsemax}, "norm");
  for (auto [field, key] : {std::pair{&s.length, "length"}, {&s.cin_per_group, "cin_per_group"},
                            {&s.cout_per_group, "cout_per_group"}, {&s.groups, "groups"},
                            {&s.kernel_h, "kernel_h"}, {&s.kernel_w, "kernel_w"}, {&s.stride_h, "stride_h"},
                            {&s.stride_w, "stride_w"}, {&s.pad_top, "pad_top"}, {&s.pad_left, "pad_left"},
                            {&s.dilation_h, "dilation_h"}, {&s.dilation_w, "dilation_w"}, {&s.out_h, "out_h"},
                            {&s.out_w, "out_w"}, {&s.config.tile_i, "tile_i"}, {&s.config.tile_j, "tile_j"},
                            {&s.config.warps, "warps"}, {&s.config.oc_tile, "oc_tile"}}) {
    *field = j.at(key).get<int>();
  }
  s.bias = j.at("bias").get<bool>() ? Bias::present : Bias::none;
  return canonical(s);
}

MtaForwardPath mta_forward_path(const KernelSpec& s) {
  if (s.kind != KernelKind::mta_forward) return MtaForwardPath::none;
  return mta_forward_path_of(static_cast<int>(size_of(s.dtype)), s.cin_per_group, s.config.oc_tile, s.kernel_h,
                             s.kernel_w, s.stride_h, s.stride_w, s.dilation_h, s.dilation_w, s.pad_left,
                             s.config.tile_i, s.config.tile_j, s.config.warps);
}

bool mta_forward_on_tensor_cores(const KernelSpec& s) {
  const MtaForwardPath path = mta_forward_path(s);
  return path == MtaForwardPath::channel_mixing_mma || path == MtaForwardPath::depthwise_band_mma;
}

bool mta_backward_input_on_tensor_cores(const KernelSpec& s) {
  return s.kind == KernelKind::mta_backward_input &&
         mta_backward_input_uses_band(static_cast<int>(size_of(s.dtype)), s.cout_per_group, s.kernel_h, s.kernel_w,
                                      s.stride_h, s.stride_w, s.dilation_h, s.dilation_w, s.pad_left, s.out_w,
                                      s.config.tile_i, s.config.tile_j, s.config.warps);
}

bool mta_backward_input_on_mma(const KernelSpec& s) {
  return s.kind == KernelKind::mta_backward_input &&
         mta_backward_input_uses_mma(static_cast<int>(size_of(s.dtype)), s.cin_per_group, s.cout_per_group, s.kernel_h,
                                     s.kernel_w, s.stride_h, s.stride_w, s.dilation_h, s.dilation_w, s.config.tile_i,
                                     s.config.tile_j, s.config.warps, s.length);
}

bool mta_backward_weight_on_tensor_cores(const KernelSpec& s) {
  return s.kind == KernelKind::mta_backward_weight &&
         mta_backward_weight_uses_mma(static_cast<int>(size_of(s.dtype)), s.cin_per_group, s.cout_per_group, s.kernel_h,
                                      s.kernel_w, s.stride_h, s.stride_w, s.dilation_h, s.dilation_w, s.config.tile_i,
                                      s.config.tile_j);
}

int mta_backward_weight_mma_blocks(const KernelSpec& s, int batch) {
  return mta_weight_mma_blocks(batch, s.groups * (s.cout_per_group / mta_weight_mma_oc_tile(s.cout_per_group)),
                               mta_weight_mma_items(s.out_h, s.out_w, s.config.tile_i, s.config.tile_j));
}

LaunchShape launch_shape(const KernelSpec& s, const MtaProblem& problem) {
  const int batch = problem.batch;
  LaunchShape shape;
  shape.threads = static_cast<unsigned>(32 * s.config.warps);
  const int cin = s.cin_per_group * s.groups, cout = s.cout_per_group * s.groups;
  const int patch_h = mta_patch_extent(s.config.tile_i, s.stride_h, s.kernel_h, s.dilation_h);
  const int patch_w = mta_patch_extent(s.config.tile_j, s.stride_w, s.kernel_w, s.dilation_w);
  const int pitch = mta_patch_pitch(patch_w);
  switch (s.kind) {
    case KernelKind::mta_row_stats:
      shape.grid_x = static_cast<unsigned>(
          (static_cast<long long>(batch) * problem.in_channels * s.length + s.config.warps - 1) / s.config.warps);
      break;
    case KernelKind::mta_forward:
      shape.grid_x = static_cast<unsigned>(mta_ceil_div(s.out_h, s.config.tile_i) * mta_ceil_div(s.out_w, s.config.tile_j));
      shape.grid_y = static_cast<unsigned>(s.groups * (s.cout_per_group / s.config.oc_tile));
      shape.grid_z = static_cast<unsigned>(batch);
      switch (mta_forward_path(s)) {
        case MtaForwardPath::channel_mixing_mma:
          shape.smem_bytes = static_cast<unsigned>(
              mta_forward_mma_smem_bytes(s.cin_per_group, patch_h, patch_w, s.config.oc_tile, s.kernel_h, s.kernel_w));
          break;
        case MtaForwardPath::depthwise_band_mma:
          shape.smem_bytes = static_cast<unsigned>(mta_forward_band_smem_bytes(
              patch_h, s.config.tile_j, s.config.warps, s.kernel_h, s.kernel_w, s.stride_w, s.dilation_w, s.pad_left));
          break;
        default:
          shape.smem_bytes = 4u * mta_forward_smem_floats(patch_h, pitch, s.config.oc_tile, s.kernel_h, s.kernel_w);
      }
      break;
    case KernelKind::mta_backward_input:
      if (mta_backward_input_on_mma(s)) {
        shape.grid_x = static_cast<unsigned>(static_cast<long long>(batch) * s.groups *
                                             mta_backward_input_mma_pairs(s.length, s.config.tile_i));
        shape.smem_bytes = static_cast<unsigned>(mta_backward_input_mma_smem_bytes(
            s.cin_per_group, s.cout_per_group, s.kernel_h, s.kernel_w, s.dilation_h, s.dilation_w, s.config.tile_i,
            s.config.tile_j, s.length));
        break;
      }
      shape.grid_x = static_cast<unsigned>(static_cast<long long>(batch) * cin * mta_ceil_div(s.length, s.config.tile_i));
      shape.smem_bytes = mta_backward_input_on_tensor_cores(s)
                             ? static_cast<unsigned>(mta_backward_band_smem_bytes(
                                   s.kernel_h, s.kernel_w, s.dilation_h, s.dilation_w, s.pad_left, s.config.tile_i,
                                   s.config.tile_j, s.config.warps))
                             : 4u * mta_backward_input_smem_floats(s.cout_per_group, s.kernel_h, s.kernel_w,
                                                                   s.dilation_h, s.dilation_w, s.config.tile_i,
                                                                   s.config.tile_j, s.config.warps);
      break;
    case KernelKind::mta_backward_weight:
      if (mta_backward_weight_on_tensor_cores(s)) {
        shape.grid_x = static_cast<unsigned>(mta_backward_weight_mma_blocks(s, batch));
        shape.grid_y = static_cast<unsigned>(s.groups * (s.cout_per_group / mta_weight_mma_oc_tile(s.cout_per_group)));
        shape.grid_z = static_cast<unsigned>(batch);
        shape.smem_bytes = static_cast<unsigned>(mta_backward_weight_mma_smem_bytes(
            s.cin_per_group, s.cout_per_group, patch_h, patch_w, s.config.tile_i, s.config.tile_j));
        break;
      }
      shape.grid_x = static_cast<unsigned>(static_cast<long long>(batch) * cout * s.cin_per_group *
                                           mta_ceil_div(s.out_h, s.config.tile_i));
      shape.smem_bytes = 4u * mta_backward_weight_smem_floats(patch_h, pitch, s.config.warps, s.kernel_h, s.kernel_w);
      break;
    case KernelKind::mta_reduce_weight: {
      const long long outputs = static_cast<long long>(cout) * s.cin_per_group * s.kernel_h * s.kernel_w + cout;
      shape.grid_x = static_cast<unsigned>((outputs + shape.threads - 1) / shape.threads);
      break;
    }
    case KernelKind::na_forward:
    case KernelKind::na_backward_query:
    case KernelKind::na_backward_key:
    case KernelKind::na_backward_fused:
      detail::raise_invalid("launch_shape: {} is a neighborhood-attention kernel, not an mta one", name(s));
  }
  return shape;
}

}  // namespace attnjit
