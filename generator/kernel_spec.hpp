// KernelSpec: the one value that drives generation. Everything that changes a kernel's binary is a
// field; name(), render() and key() are pure functions of it (and of the compile target).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "mta_params.h"  // MtaForwardPath

namespace attnjit {

enum class KernelKind {
  mta_row_stats,        // softmax log-sum-exp / sparsemax threshold per row
  mta_forward,          // normalize + convolve + bias + mask
  mta_backward_input,   // grad_scores
  mta_backward_weight,  // grad_weight / grad_bias partials per strip
  mta_reduce_weight,    // sums the partials in a fixed order
  na_forward,           // neighborhood attention: out and the row log-sum-exp
  na_backward_query,    // delta = rowsum(grad_out * out), grad_query
  na_backward_key,      // grad_key, grad_value
  na_backward_fused,    // delta and the three gradients in one kernel (narrow windows, tensor cores)
};

bool is_neighborhood_attention(KernelKind kind);

const char* to_string(KernelKind kind);

// The tuning knobs a kernel exposes (tile of output positions, warps, output channels per block; for
// neighborhood attention: rows a block owns, rows staged at a time, warps, lanes per row).
// Kernels ignore the knobs they do not have; canonical() zeroes them.
struct TileConfig {
  int tile_i = 0, tile_j = 0;
  int warps = 0;
  int oc_tile = 0;
  int lanes = 0;
  bool operator==(const TileConfig&) const = default;
};

struct KernelSpec {
  KernelKind kind = KernelKind::mta_forward;
  DType dtype = DType::f32;
  Norm norm = Norm::softmax;
  int length = 0;
  int cin_per_group = 0, cout_per_group = 0, groups = 0;
  int kernel_h = 0, kernel_w = 0;
  int stride_h = 0, stride_w = 0;
  int pad_top = 0, pad_left = 0;  // bottom and right padding only change out_h / out_w
  int dilation_h = 0, dilation_w = 0;
  int out_h = 0, out_w = 0;
  Bias bias = Bias::none;
  int head_dim = 0, kernel_size = 0, dilation = 0;  // neighborhood attention (length is L)
  NaWindow window = NaWindow::clipped;
  TileConfig config;
  bool operator==(const KernelSpec&) const = default;
};

// The spec of kernel `kind` for `problem` with `config`, canonical (irrelevant fields zeroed).
KernelSpec mta_kernel_spec(KernelKind kind, const MtaProblem& problem, const TileConfig& config);

// The spec of neighborhood-attention kernel `kind` for `problem` with `config`, canonical.
KernelSpec na_kernel_spec(KernelKind kind, const NaProblem& problem, const TileConfig& config);

// Zeroes the fields `spec.kind` does not use, so that equal kernels have equal specs, names and keys.
KernelSpec canonical(KernelSpec spec);

// Readable and unique per canonical spec, e.g. mta_fwd_bf16_softmax_L1024_c16x16_g16_k5x5_s1x1_d1x1_
// p2x2_o1024x1024_bias_t32x32_w8_oc1.
std::string name(const KernelSpec& spec);

std::string to_json(const KernelSpec& spec);  // canonical JSON: sorted keys, no whitespace
KernelSpec spec_from_json(const std::string& json);

// Threads of a block, dynamic shared memory in bytes, and grid, for a launch of `spec` on `problem`.
struct LaunchShape {
  unsigned grid_x = 1, grid_y = 1, grid_z = 1;
  unsigned threads = 0;
  unsigned smem_bytes = 0;
};
LaunchShape launch_shape(const KernelSpec& spec, const MtaProblem& problem);
LaunchShape launch_shape(const KernelSpec& spec, const NaProblem& problem);

// Which code an mta forward spec runs: mta_forward_path_of (templates/mta_params.h), the decision the
// kernel makes at compile time, on the spec's constants. `none` for other kinds.
MtaForwardPath mta_forward_path(const KernelSpec& spec);
// Either tensor-core path.
bool mta_forward_on_tensor_cores(const KernelSpec& spec);
// Whether an mta input-gradient spec computes dP on tensor cores by the band product (depthwise):
// mta_backward_input_uses_band (templates/mta_params.h), the kernel's own compile-time decision, on the spec's
// constants. (Channel mixing's tensor-core path is mta_backward_input_on_mma.)
bool mta_backward_input_on_tensor_cores(const KernelSpec& spec);
// Whether an mta input-gradient spec runs on tensor cores as an implicit GEMM (channel mixing):
// mta_backward_input_uses_mma (templates/mta_params.h), the kernel's own compile-time decision.
bool mta_backward_input_on_mma(const KernelSpec& spec);
// Whether an mta weight-gradient spec runs on tensor cores: mta_backward_weight_uses_mma
// (templates/mta_params.h), the kernel's own compile-time decision, on the spec's constants.
bool mta_backward_weight_on_tensor_cores(const KernelSpec& spec);
// Its blocks per batch element (launch_shape's grid_x; the slots of partials are batch times this).
int mta_backward_weight_mma_blocks(const KernelSpec& spec, int batch);

// Whether a neighborhood-attention spec runs on tensor cores (templates/na_forward_mma.cuh,
// na_backward_mma.cuh): a config with lanes = 0, or kNaWarpgroupLanes for the forward on warpgroups.
bool na_on_tensor_cores(const KernelSpec& spec);
// Whether it is the forward on sm_90's warpgroup tensor cores (templates/na_forward_wgmma.cuh): lanes =
// kNaWarpgroupLanes. Such a kernel compiles for sm_90a and runs on sm_90 only.
bool na_on_warpgroups(const KernelSpec& spec);
// Whether a target ("sm_90") has the warpgroup instructions those kernels use: sm_90 alone (wgmma is
// sm_90a's; later architectures do not have it). The one place that says so: the renderer's target check,
// the heuristic and the tuner's candidates ask here.
bool has_warpgroup_mma(std::string_view arch);

}  // namespace attnjit
