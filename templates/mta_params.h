// Parameters of the mta kernels, shared by the host (g++) and the kernels (NVRTC). No includes, no
// host-only types: this file must compile in both worlds. Everything a kernel specializes on is a
// compile-time constant of its Cfg (see the generator); only the pointers and the batch size travel here.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define ATTNJIT_HD __host__ __device__
#else
#define ATTNJIT_HD
#endif

namespace attnjit {

// One Params struct for the five mta kernels (row statistics, forward, input gradient, weight gradient
// partials, weight gradient reduction); each kernel reads the members it needs. Trivially copyable,
// passed by value as a __grid_constant__ kernel parameter.
struct MtaParams {
  const void* scores;       // (B, C_in, L, L), T
  const void* weight;       // (C_out, C_in/groups, Kh, Kw), T
  const void* bias;         // (C_out), T, or null
  const void* grad_out;     // (B, C_out, L_out_h, L_out_w), T
  void* out;                // forward: (B, C_out, L_out_h, L_out_w), T
  void* grad_scores;        // (B, C_in, L, L), T
  void* grad_weight;        // weight's shape, T
  void* grad_bias;          // (C_out), T, or null
  float* row_stats;         // (B, C_in, L): softmax log2-sum-exp2 of Z*log2(e), or the sparsemax threshold
  float* partial_weight;    // (B, strips, C_out, C_in/groups, Kh, Kw) workspace
  float* partial_bias;      // (B, strips, C_out) workspace
  int batch;
  int rows;                 // B * C_in * L: the rows of row_stats
  int weight_slots;         // slots of partial_weight / partial_bias that mta_reduce_weight sums
};

enum class NormKind : int { softmax = 0, sparsemax = 1 };

// Extent of the normalized-score patch that a tile of tile_i x tile_j outputs reads (with halo).
ATTNJIT_HD constexpr int mta_patch_extent(int tile, int stride, int kernel, int dilation) {
  return (tile - 1) * stride + (kernel - 1) * dilation + 1;
}

ATTNJIT_HD constexpr int mta_ceil_div(int a, int b) { return (a + b - 1) / b; }
ATTNJIT_HD constexpr int mta_max(int a, int b) { return a > b ? a : b; }

// Row pitch, in floats, of a patch staged in shared memory: the width rounded up to whole 16-byte
// groups. Threads read the patch in runs of 4 columns starting at multiples of 4, as 16-byte loads
// (load_span), which are conflict-free whatever the pitch: each quarter warp reads 128 contiguous
// bytes of one row. (Scalar loads conflicted 4-way; padding the pitch to odd helped a 32-wide tile and
// hurt a 128-wide one: dw K5 input gradient 1.13 -> 1.48 ms.)
ATTNJIT_HD constexpr int mta_patch_pitch(int patch_w) { return (patch_w + 3) / 4 * 4; }

// Dynamic shared memory of each kernel, in floats. The host sizes launches with these, the kernels
// lay out their buffers with them: one formula, two users.
ATTNJIT_HD constexpr int mta_forward_smem_floats(int patch_h, int patch_pitch, int oc_tile, int kh, int kw) {
  return patch_h * patch_pitch + oc_tile * kh * kw;
}
// The input gradient's tile of tile_i x tile_j positions reads grad_out through the transposed
// convolution: a halo'd patch of (tile + (kernel - 1) * dilation) positions per axis in the padded input
// grid (grad_out scattered onto it at its stride, zeros between), one per output channel of the group.
ATTNJIT_HD constexpr int mta_grad_patch_extent(int tile, int kernel, int dilation) {
  return tile + (kernel - 1) * dilation;
}
// Whether the input-gradient kernel also produces the weight- and bias-gradient partials: its first
// sweep holds each normalized score and the grad patch its taps read, so the weight gradient costs one
// FFMA per tap there instead of a kernel that reads both again. Each thread then keeps
// C_out/groups * Kh * Kw accumulators in registers, which bounds it.
constexpr int kMtaMaxFusedWeightTaps = 72;
ATTNJIT_HD constexpr bool mta_fuses_weight_grad(int cout_per_group, int kh, int kw) {
  return cout_per_group * kh * kw <= kMtaMaxFusedWeightTaps;
}
ATTNJIT_HD constexpr int mta_backward_input_run(int tile_j) { return tile_j < 4 ? tile_j : 4; }
// The grad patch's region, in floats: the patch, which the block's weight-gradient sums reuse after the
// sweep (warps * max(C_out/groups * Kh * Kw, C_out/groups) floats); small tiles with many warps need more
// for those than for the patch, and get it.
ATTNJIT_HD constexpr int mta_backward_input_patch_floats(int cout_per_group, int kh, int kw, int dh, int dw, int tile_i,
                                                         int tile_j, int warps) {
  return mta_max(cout_per_group * mta_grad_patch_extent(tile_i, kh, dh) *
                     mta_patch_pitch(mta_grad_patch_extent(tile_j, kw, dw)),
                 mta_fuses_weight_grad(cout_per_group, kh, kw) ? warps * mta_max(cout_per_group * kh * kw, cout_per_group)
                                                               : 0);
}
ATTNJIT_HD constexpr int mta_backward_input_smem_floats(int cout_per_group, int kh, int kw, int dh, int dw,
                                                        int tile_i, int tile_j, int warps) {
  return mta_backward_input_patch_floats(cout_per_group, kh, kw, dh, dw, tile_i, tile_j, warps) +  // grad patch
         cout_per_group * kh * kw +                                                                // weights
         tile_i * (tile_j / mta_backward_input_run(tile_j)) +  // per-run partials of the row reductions
         2 * tile_i;                                           // the rows' totals
}
// The forward on tensor cores (mma.sync m16n8k16, fp32 accumulation) for channel mixing in f16/bf16:
// an implicit GEMM with M = the tile's output positions, N = kOcTile output channels and K = C_in/groups *
// Kh * Kw taps (padded to 16). Its shared memory, in bytes: every input channel's normalized-score
// patch in T (rounded to 16 bytes), the block's filters in T [oc_tile][K padded], and the tap offsets
// (int [K padded]).
ATTNJIT_HD constexpr int mta_mma_k(int cin_per_group, int kh, int kw) { return (cin_per_group * kh * kw + 15) / 16 * 16; }
ATTNJIT_HD constexpr int mta_forward_mma_smem_bytes(int cin_per_group, int patch_h, int patch_w, int oc_tile, int kh,
                                                     int kw) {
  return (2 * cin_per_group * patch_h * patch_w + 15) / 16 * 16 + 2 * oc_tile * mta_mma_k(cin_per_group, kh, kw) +
         4 * mta_mma_k(cin_per_group, kh, kw);
}
constexpr int kMtaMmaSmemLimit = 100 * 1024;  // past this the CUDA-core path runs (2 blocks per SM still fit)
// The decision, the same on the host and in the kernel: 16-bit storage, whole 8-channel output tiles,
// enough taps to fill k-steps (at least 64), whole 16-position m-tiles per warp, and shared memory in
// bounds.
ATTNJIT_HD constexpr bool mta_forward_uses_mma(int elem_bytes, int cin_per_group, int oc_tile, int kh, int kw,
                                               int tile_i, int tile_j, int warps, int patch_h, int patch_w) {
  return elem_bytes == 2 && oc_tile % 8 == 0 && cin_per_group * kh * kw >= 64 &&
         (tile_i * tile_j) % (16 * warps) == 0 &&
         mta_forward_mma_smem_bytes(cin_per_group, patch_h, patch_w, oc_tile, kh, kw) <= kMtaMmaSmemLimit;
}
ATTNJIT_HD constexpr int mta_backward_weight_smem_floats(int patch_h, int patch_pitch, int warps, int kh, int kw) {
  return mta_max(patch_h * patch_pitch, warps * (kh * kw + 1));
}

}  // namespace attnjit
