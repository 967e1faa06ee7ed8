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
// The input gradient on CUDA cores reads its grad patch as whole 16-byte packs of grad_out where the padded
// grid is the output grid and grad_out's rows are 16-byte aligned (stride 1); a patch row gw wide touches
// mta_grad_patch_row_packs of them.
ATTNJIT_HD constexpr bool mta_grad_patch_packed(int elem_bytes, int sh, int sw, int out_w) {
  return sh == 1 && sw == 1 && out_w * elem_bytes % 16 == 0;
}
ATTNJIT_HD constexpr int mta_grad_patch_row_packs(int elem_bytes, int gw) {
  return mta_ceil_div(gw + 16 / elem_bytes - 1, 16 / elem_bytes);
}
// Whether it fetches the next tile's packs into registers while this tile computes (mta_backward.cuh,
// GradPacks): packed, at most kMtaMaxStagedPacks a thread, and where it measured faster on the H100
// (docs/architecture.md, the input gradient): fp32 K5 1060 -> 761 us, bf16 K5 668 -> 647, but bf16 K3
// 485 -> 527 (its registers passed 64: four blocks an SM became three), so not for 3 x 3 filters and
// smaller in 16-bit types. The kernel's decision and the heuristics' (which pick 8 warps where it holds).
constexpr int kMtaMaxStagedPacks = 4;
ATTNJIT_HD constexpr bool mta_grad_patch_staged(int elem_bytes, int cout_per_group, int kh, int kw, int sh, int sw,
                                                int dh, int dw, int out_w, int tile_i, int tile_j, int threads) {
  const int packs = cout_per_group * mta_grad_patch_extent(tile_i, kh, dh) *
                    mta_grad_patch_row_packs(elem_bytes, mta_grad_patch_extent(tile_j, kw, dw));
  return mta_grad_patch_packed(elem_bytes, sh, sw, out_w) && mta_ceil_div(packs, threads) <= kMtaMaxStagedPacks &&
         (elem_bytes == 4 || kh * kw > 9);
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
// patch in T (in planes of 8 channels, C_in/groups a multiple of 8), the block's filters in T [oc_tile][K
// padded, pitch mta_mma_filter_pitch], and each half k-step's row offset (int [K padded / 8]).
ATTNJIT_HD constexpr int mta_mma_k(int cin_per_group, int kh, int kw) { return (cin_per_group * kh * kw + 15) / 16 * 16; }
// A filter row's pitch in elements: K padded (whole k-steps: an even number of 16-byte units) plus 8, an odd
// number of units, so that the 8 rows an ldmatrix reads fall in distinct banks.
ATTNJIT_HD constexpr int mta_mma_filter_pitch(int cin_per_group, int kh, int kw) { return mta_mma_k(cin_per_group, kh, kw) + 8; }
ATTNJIT_HD constexpr int mta_forward_mma_smem_bytes(int cin_per_group, int patch_h, int patch_w, int oc_tile, int kh,
                                                     int kw) {
  return 2 * cin_per_group * patch_h * patch_w + 2 * oc_tile * mta_mma_filter_pitch(cin_per_group, kh, kw) +
         4 * (mta_mma_k(cin_per_group, kh, kw) / 8);
}
constexpr int kMtaMmaSmemLimit = 100 * 1024;  // past this the CUDA-core path runs (2 blocks per SM still fit)
// The decision, the same on the host and in the kernel: 16-bit storage, whole 8-channel output tiles,
// input channels in whole chunks of 8 (a position's channels are 16-byte rows of the staged patch), enough
// taps to fill k-steps (at least 64), whole 16-position m-tiles per warp, and shared memory in bounds.
ATTNJIT_HD constexpr bool mta_forward_uses_mma(int elem_bytes, int cin_per_group, int oc_tile, int kh, int kw,
                                               int tile_i, int tile_j, int warps, int patch_h, int patch_w) {
  return elem_bytes == 2 && oc_tile % 8 == 0 && cin_per_group % 8 == 0 && cin_per_group * kh * kw >= 64 &&
         (tile_i * tile_j) % (16 * warps) == 0 &&
         mta_forward_mma_smem_bytes(cin_per_group, patch_h, patch_w, oc_tile, kh, kw) <= kMtaMmaSmemLimit;
}
// The depthwise forward on tensor cores (one input channel per output channel, f16/bf16): a filter row is
// a banded matrix, so 16 output rows x 8 output columns of one filter row a are the product of the
// normalized scores' rows (16 rows, the 16 * k-steps patch columns the 8 outputs reach) with the band
// B_a[k][n] = weight[a][c] where k = n * stride_w + offset + c * dilation_w (zero elsewhere), and the
// output tile is the sum over a of such products: mma.sync.m16n8k16 on A fragments loaded by ldmatrix and
// B fragments built once per block in registers. The patch starts at a multiple of 8 columns (16-byte
// loads and stores); `offset` is how far the first tap of the tile's first output lies into it.
ATTNJIT_HD constexpr int mta_band_offset(int pad_left) { return (8 - pad_left % 8) % 8; }
// Patch columns the 8 outputs of an n-tile reach, and the k-steps of 16 that cover them.
ATTNJIT_HD constexpr int mta_band_span(int kw, int sw, int dw, int pad_left) {
  return mta_band_offset(pad_left) + 7 * sw + (kw - 1) * dw + 1;
}
ATTNJIT_HD constexpr int mta_band_ksteps(int kw, int sw, int dw, int pad_left) {
  return mta_ceil_div(mta_band_span(kw, sw, dw, pad_left), 16);
}
// n-tiles of 8 output columns per warp tile (a warp tile is 16 rows of up to 64 columns).
ATTNJIT_HD constexpr int mta_band_ntiles(int tile_j) { return tile_j / 8 < 8 ? tile_j / 8 : 8; }
// 8-column strips of the patch a warp tile of `ntiles` n-tiles reads: A fragments of n-tile n and k-step s
// cover strips sw * n + 2s and the next.
ATTNJIT_HD constexpr int mta_band_strips_of(int ntiles, int kw, int sw, int dw, int pad_left) {
  return sw * (ntiles - 1) + 2 * mta_band_ksteps(kw, sw, dw, pad_left);
}
// Whether some (n-tile n, k-step s) of a warp tile starts its A fragment at strip u = sw * n + 2s.
ATTNJIT_HD constexpr bool mta_band_reads_strip(int u, int sw, int ntiles, int ksteps) {
  for (int s = 0; s < ksteps; ++s) {
    if (u >= 2 * s && (u - 2 * s) % sw == 0 && (u - 2 * s) / sw < ntiles) return true;
  }
  return false;
}
// The patch: rows as mta_patch_extent, columns to the last warp tile's last strip; the row pitch is an
// odd number of 16-byte groups, so the 8 row addresses of an ldmatrix fall in distinct banks.
ATTNJIT_HD constexpr int mta_band_patch_w_of(int tile_j, int ntiles, int kw, int sw, int dw, int pad_left) {
  return 8 * (sw * (tile_j / 8 - ntiles) + mta_band_strips_of(ntiles, kw, sw, dw, pad_left));
}
ATTNJIT_HD constexpr int mta_band_patch_w(int tile_j, int kw, int sw, int dw, int pad_left) {
  return mta_band_patch_w_of(tile_j, mta_band_ntiles(tile_j), kw, sw, dw, pad_left);
}
ATTNJIT_HD constexpr int mta_band_pitch(int patch_w) { return (patch_w / 8) % 2 == 0 ? patch_w + 8 : patch_w; }
// The band's table of value pairs per filter row (see mta_forward_band): entries for d from -kBandLo (the
// lowest k - n * sw - offset of an n-tile) up to the last k-step's end.
ATTNJIT_HD constexpr int mta_band_lo(int sw, int pad_left) { return 7 * sw + mta_band_offset(pad_left); }
ATTNJIT_HD constexpr int mta_band_table_w(int kw, int sw, int dw, int pad_left) {
  return 16 * mta_band_ksteps(kw, sw, dw, pad_left) + mta_band_lo(sw, pad_left);
}
// The table's bytes in shared memory: 4 per pair, rounded to 16 bytes (what follows it starts aligned).
ATTNJIT_HD constexpr int mta_band_table_bytes(int kh, int kw, int sw, int dw, int pad_left) {
  return (4 * kh * mta_band_table_w(kw, sw, dw, pad_left) + 15) / 16 * 16;
}
// Each warp writes its output tile through rows of shared memory (16 rows, 8 columns more than the tile's, so
// the fragments' 4-byte stores fall in distinct banks), then to global memory as 16-byte row pieces.
ATTNJIT_HD constexpr int mta_band_stage_pitch(int tile_j) { return 8 * mta_band_ntiles(tile_j) + 8; }
// Shared memory, in bytes: the patch in T, the band table (4 bytes per pair, rounded to 16 bytes), the warps'
// output rows in T.
ATTNJIT_HD constexpr int mta_forward_band_smem_bytes(int patch_h, int tile_j, int warps, int kh, int kw, int sw,
                                                     int dw, int pad_left) {
  return 2 * patch_h * mta_band_pitch(mta_band_patch_w(tile_j, kw, sw, dw, pad_left)) +
         mta_band_table_bytes(kh, kw, sw, dw, pad_left) + 2 * warps * 16 * mta_band_stage_pitch(tile_j);
}
// The decision, the same on the host and in the kernel: 16-bit storage, one input channel per output
// channel and one output channel per block, whole 16 x 8 tiles, a band of at most two k-steps, the
// filter's B fragments (2 registers per filter row and k-step) at most 32 registers, shared memory in
// bounds.
ATTNJIT_HD constexpr bool mta_forward_uses_band(int elem_bytes, int cin_per_group, int oc_tile, int kh, int kw, int sw,
                                                int dw, int pad_left, int tile_i, int tile_j, int warps, int patch_h) {
  return elem_bytes == 2 && cin_per_group == 1 && oc_tile == 1 && tile_i % 16 == 0 && tile_j % 8 == 0 &&
         (tile_j / 8) % mta_band_ntiles(tile_j) == 0 && mta_band_ksteps(kw, sw, dw, pad_left) <= 2 &&
         kh * mta_band_ksteps(kw, sw, dw, pad_left) <= 16 &&
         mta_forward_band_smem_bytes(patch_h, tile_j, warps, kh, kw, sw, dw, pad_left) <= kMtaMmaSmemLimit;
}
// Which code mta_forward runs, decided once for the host (launch shape, heuristics, tuner) and the kernel
// (its if constexpr): channel mixing on tensor cores, else depthwise on tensor cores, else CUDA cores.
// `none` is the host's answer for a spec of another kind; the kernel never sees it.
enum class MtaForwardPath : int { none, cuda_cores, channel_mixing_mma, depthwise_band_mma };
ATTNJIT_HD constexpr MtaForwardPath mta_forward_path_of(int elem_bytes, int cin_per_group, int oc_tile, int kh, int kw,
                                                        int sh, int sw, int dh, int dw, int pad_left, int tile_i,
                                                        int tile_j, int warps) {
  const int patch_h = mta_patch_extent(tile_i, sh, kh, dh), patch_w = mta_patch_extent(tile_j, sw, kw, dw);
  if (mta_forward_uses_mma(elem_bytes, cin_per_group, oc_tile, kh, kw, tile_i, tile_j, warps, patch_h, patch_w)) {
    return MtaForwardPath::channel_mixing_mma;
  }
  if (mta_forward_uses_band(elem_bytes, cin_per_group, oc_tile, kh, kw, sw, dw, pad_left, tile_i, tile_j, warps,
                            patch_h)) {
    return MtaForwardPath::depthwise_band_mma;
  }
  return MtaForwardPath::cuda_cores;
}
// The input gradient's dP on tensor cores (mta_backward_input with a depthwise filter, f16/bf16, stride 1):
// dP is the correlation of the grad patch (grad_out, causal, zero-padded) with the flipped filter, which is
// the forward's band product with sw = sh = 1 and the tap lead (kw - 1) * dw - pad_left in place of
// pad_left: the patch's first column is tile column j0 - lead. The grad patch is then a 16-bit copy of
// grad_out starting on a 16-byte column (offset = mta_band_offset(lead)).
ATTNJIT_HD constexpr int mta_backward_band_lead(int kw, int dw, int pad_left) { return (kw - 1) * dw - pad_left; }
// Warp tiles are 16 rows x 8 * ntiles columns: the widest (fewest ldmatrix per output) that still gives
// every warp one.
ATTNJIT_HD constexpr int mta_backward_band_ntiles(int tile_i, int tile_j, int warps) {
  for (int n = 8; n > 1; n /= 2) {
    if ((tile_j / 8) % n == 0 && (tile_i / 16) * (tile_j / (8 * n)) >= warps) return n;
  }
  return 1;
}
// dP of the tile goes through shared memory as floats, rows tile_j + 8 apart: the fragments' 8-byte stores
// (rows g, columns 2t) of a half-warp then fall in distinct banks when tile_j is a multiple of 32.
ATTNJIT_HD constexpr int mta_backward_band_dp_pitch(int tile_j) { return tile_j + 8; }
// The 16-bit grad patch's width (to the last warp tile's last strip) and row pitch.
ATTNJIT_HD constexpr int mta_backward_band_patch_w(int kw, int dw, int pad_left, int tile_i, int tile_j, int warps) {
  return mta_band_patch_w_of(tile_j, mta_backward_band_ntiles(tile_i, tile_j, warps), kw, 1, dw,
                             mta_backward_band_lead(kw, dw, pad_left));
}
// Shared memory, in bytes, laid out in this order (the host's total and the kernel's offsets both come from
// these): the grad patch in T, whose region then holds the block's weight-gradient sums (warps * taps
// floats), rounded to 16 bytes; the band table; dP of the tile; the per-run partials; the rows' totals.
ATTNJIT_HD constexpr int mta_backward_band_region_bytes(int kh, int kw, int dh, int dw, int pad_left, int tile_i,
                                                        int tile_j, int warps) {
  const int patch = 2 * mta_grad_patch_extent(tile_i, kh, dh) *
                    mta_band_pitch(mta_backward_band_patch_w(kw, dw, pad_left, tile_i, tile_j, warps));
  const int sums = mta_fuses_weight_grad(1, kh, kw) ? 4 * warps * kh * kw : 0;
  return (mta_max(patch, sums) + 15) / 16 * 16;
}
ATTNJIT_HD constexpr int mta_backward_band_smem_bytes(int kh, int kw, int dh, int dw, int pad_left, int tile_i,
                                                      int tile_j, int warps) {
  return mta_backward_band_region_bytes(kh, kw, dh, dw, pad_left, tile_i, tile_j, warps) +
         mta_band_table_bytes(kh, kw, 1, dw, mta_backward_band_lead(kw, dw, pad_left)) +
         4 * tile_i * mta_backward_band_dp_pitch(tile_j) + 4 * tile_i * (tile_j / mta_backward_input_run(tile_j)) +
         4 * 2 * tile_i;
}
// The decision, the same on the host and in the kernel: 16-bit storage, one output channel per group (the
// band is one filter), stride 1 on both axes (grad_out is the padded grid, no scatter), 16-byte grad_out
// rows, a lead of at least 0, whole 16-row warp tiles over tiles of 32-column multiples, a band of at
// most two k-steps and shared memory in bounds.
ATTNJIT_HD constexpr bool mta_backward_input_uses_band(int elem_bytes, int cout_per_group, int kh, int kw, int sh,
                                                       int sw, int dh, int dw, int pad_left, int out_w, int tile_i,
                                                       int tile_j, int warps) {
  const int lead = mta_backward_band_lead(kw, dw, pad_left);
  return elem_bytes == 2 && cout_per_group == 1 && sh == 1 && sw == 1 && (out_w * 2) % 16 == 0 && lead >= 0 &&
         tile_i % 16 == 0 && tile_j % 32 == 0 && mta_band_ksteps(kw, 1, dw, lead) <= 2 &&
         kh * mta_band_ksteps(kw, 1, dw, lead) <= 16 &&
         mta_backward_band_smem_bytes(kh, kw, dh, dw, pad_left, tile_i, tile_j, warps) <= kMtaMmaSmemLimit;
}
// The input gradient on tensor cores (channel mixing in f16/bf16 at stride 1, mta_backward_input_mma.cuh): dP of
// every input channel of the group over a tile is the forward's implicit GEMM run on the grad patch, m = the
// tile's positions, n = the group's input channels, k = (tap, output channel) with the filter flipped. Its
// shared memory, in bytes: the grad patch of the group's output channels in planes of 8 (16-byte rows), the
// filters [C_in/groups][K padded, pitch mta_mma_filter_pitch], each half k-step's row offset.
// Where rows are 16-byte aligned (L a multiple of 8) the raw scores of the tile's positions follow, copied by
// cp.async while the grad patch is staged: [C_in/groups][tile_i][tile_j + 8], each channel 8 elements more,
// so the epilogue's reads (8 positions of 4 channels a warp) fall in distinct banks.
ATTNJIT_HD constexpr bool mta_backward_input_mma_prefetches(int length) { return length % 8 == 0; }
ATTNJIT_HD constexpr int mta_backward_input_mma_probs_pitch(int tile_j) { return tile_j + 8; }
ATTNJIT_HD constexpr int mta_backward_input_mma_probs_stride(int tile_i, int tile_j) {
  return tile_i * mta_backward_input_mma_probs_pitch(tile_j) + 8;
}
ATTNJIT_HD constexpr int mta_backward_input_mma_smem_bytes(int cin_per_group, int cout_per_group, int kh, int kw, int dh,
                                                           int dw, int tile_i, int tile_j, int length) {
  return 2 * cout_per_group * mta_grad_patch_extent(tile_i, kh, dh) * mta_grad_patch_extent(tile_j, kw, dw) +
         2 * cin_per_group * mta_mma_filter_pitch(cout_per_group, kh, kw) +
         (mta_mma_k(cout_per_group, kh, kw) / 8 * 4 + 15) / 16 * 16 +
         (mta_backward_input_mma_prefetches(length) ? 2 * cin_per_group * mta_backward_input_mma_probs_stride(tile_i, tile_j) : 0);
}
// The decision, the same on the host and in the kernel: 16-bit storage, stride 1 (grad_out is the padded
// grid: no scatter), channels in whole planes of 8 on both sides, a weight gradient of its own (more than
// kMtaMaxFusedWeightTaps taps, so K fills k-steps), each warp's m-tiles whole rows of the tile (its row
// reductions stay in the warp), shared memory in bounds.
ATTNJIT_HD constexpr bool mta_backward_input_uses_mma(int elem_bytes, int cin_per_group, int cout_per_group, int kh,
                                                      int kw, int sh, int sw, int dh, int dw, int tile_i, int tile_j,
                                                      int warps, int length) {
  return elem_bytes == 2 && sh == 1 && sw == 1 && cin_per_group % 8 == 0 && cout_per_group % 8 == 0 &&
         !mta_fuses_weight_grad(cout_per_group, kh, kw) && tile_j % 16 == 0 && (tile_i * tile_j / 16) % warps == 0 &&
         (tile_i * tile_j / 16 / warps) % (tile_j / 16) == 0 &&
         mta_backward_input_mma_smem_bytes(cin_per_group, cout_per_group, kh, kw, dh, dw, tile_i, tile_j, length) <=
             kMtaMmaSmemLimit;
}
// Its blocks each own two strips of kTileI rows, s and strips - 1 - s (the triangle's short and long ones,
// so every block sweeps about as many tiles): grid = B * groups * this.
ATTNJIT_HD constexpr int mta_backward_input_mma_pairs(int length, int tile_i) {
  return mta_ceil_div(mta_ceil_div(length, tile_i), 2);
}
ATTNJIT_HD constexpr int mta_backward_weight_smem_floats(int patch_h, int patch_pitch, int warps, int kh, int kw) {
  return mta_max(patch_h * patch_pitch, warps * (kh * kw + 1));
}
// The weight gradient on tensor cores (channel mixing in f16/bf16, mta_backward_weight_mma.cuh): per block an
// implicit GEMM grad_w[m][n] = sum_k G[m][k] * P[k][n] with m = kOcTile output channels, n = (tap, input
// channel), k = output positions, G the masked grad_out and P the normalized score each tap reads. kOcTile is
// 16 where C_out/groups allows it, else 8 (an m-tile then carries 8 rows of nothing).
ATTNJIT_HD constexpr int mta_weight_mma_oc_tile(int cout_per_group) { return cout_per_group % 16 == 0 ? 16 : 8; }
// Its work items are the causal tiles of kTileI x kTileJ output positions, strip by strip (strip s holds the
// tiles up to its last row's last causal column): a block takes an equal run of them (so the triangle's long
// strips do not decide the time) and writes one slot of partials.
ATTNJIT_HD constexpr int mta_weight_mma_strip_tiles(int strip, int out_h, int out_w, int tile_i, int tile_j) {
  const int last_row = (strip + 1) * tile_i < out_h ? (strip + 1) * tile_i - 1 : out_h - 1;
  return (last_row < out_w - 1 ? last_row : out_w - 1) / tile_j + 1;
}
ATTNJIT_HD constexpr int mta_weight_mma_items(int out_h, int out_w, int tile_i, int tile_j) {
  int items = 0;
  for (int s = 0; s * tile_i < out_h; ++s) items += mta_weight_mma_strip_tiles(s, out_h, out_w, tile_i, tile_j);
  return items;
}
// Blocks per batch element (the runs of items; slots of partials = batch * this): about kMtaWeightMmaBlocks
// blocks in all, two an SM on the H100's 132, all resident at once with equal work.
constexpr int kMtaWeightMmaBlocks = 256;
ATTNJIT_HD constexpr int mta_weight_mma_blocks(int batch, int oc_blocks, int items) {
  const int per_batch = mta_ceil_div(kMtaWeightMmaBlocks, batch * oc_blocks);
  return per_batch < items ? per_batch : items;
}
// Shared memory, in bytes: the normalized scores of every input channel of the group over the tile's patch,
// in planes of 8 channels (16-byte rows), then the tile's grad_out of the block's output channels, likewise.
ATTNJIT_HD constexpr int mta_backward_weight_mma_smem_bytes(int cin_per_group, int cout_per_group, int patch_h,
                                                            int patch_w, int tile_i, int tile_j) {
  return 2 * cin_per_group * patch_h * patch_w + 2 * mta_weight_mma_oc_tile(cout_per_group) * tile_i * tile_j;
}
// The decision, the same on the host and in the kernel: 16-bit storage, input and output channels per group
// in whole planes of 8, k-steps of 16 consecutive output columns (tile_j a multiple of 16), shared memory in
// bounds.
ATTNJIT_HD constexpr bool mta_backward_weight_uses_mma(int elem_bytes, int cin_per_group, int cout_per_group, int kh,
                                                      int kw, int sh, int sw, int dh, int dw, int tile_i, int tile_j) {
  return elem_bytes == 2 && cin_per_group % 8 == 0 && cout_per_group % 8 == 0 && tile_j % 16 == 0 &&
         mta_backward_weight_mma_smem_bytes(cin_per_group, cout_per_group, mta_patch_extent(tile_i, sh, kh, dh),
                                            mta_patch_extent(tile_j, sw, kw, dw), tile_i,
                                            tile_j) <= kMtaMmaSmemLimit;
}

}  // namespace attnjit
