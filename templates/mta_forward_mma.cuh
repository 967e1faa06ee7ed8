// mta forward on tensor cores, for channel mixing in f16/bf16 (see mta_forward_uses_mma): an implicit
// GEMM per block, out[m][n] = sum_k A[m][k] * W[n][k] + bias[n], with
//   m = the tile's output positions (kTileI x kTileJ), n = its kOcTile output channels,
//   k = (tap, input channel of the group), the channel fastest, padded to whole k-steps of 16 with zero
//   filters: each half k-step of 8 is 8 channels of one tap;
//   A[m][k] = the normalized score that tap k of position m reads (P rounded to T, as eager PyTorch's bf16
//   softmax is).
// The block stages the patch of every input channel of the group once, in planes of 8 channels: plane c
// holds, for each patch position, channels 8c .. 8c + 7 as one 16-byte row. The 8 channels of a half
// k-step at one position are then one row, and a lane's A fragment of an m-tile is one ldmatrix.x4 whose
// rows are the m-tile's 16 positions shifted by the tap (each lane gives one row's address: its position's
// plus the half k-step's offset, from a table). 8 consecutive positions are 128 contiguous bytes: no bank
// conflicts. Each warp owns kMTiles m-tiles of 16 positions and all n-tiles of 8 channels, and runs
// mma.sync.m16n8k16 with fp32 accumulation; B fragments of two n-tiles are one ldmatrix.x4 from the
// filters [oc_tile][K padded] (rows at an odd number of 16 bytes: conflict-free too).
// Fragment layouts: PTX ISA, "Matrix Fragments for mma.m16n8k16" and "ldmatrix".
// Shared memory bounded the k-step loop: each 16-byte A row feeds only the kOcTile output channels (16 at
// groups=1, C=16), so per tap a position's 32 bytes are read for 16 x 16 MACs (about 7 GB at B=2, L=2048,
// K7), more time than the mma.sync they feed. Where a warp's m-tiles are whole output rows
// (mta_forward_mma_row_reuse) the loop instead keeps every filter row's B in registers and uses one A
// fragment for all the (output row, kh) pairs that read its patch row: 2.3x fewer shared bytes a mma,
// groups=1 K7 651 -> 588 us. What bounds it then is the patch staging (scalar loads of 8 channels'
// scores, normalized): the long scoreboard is a third of the stall samples. Measured no faster: fully
// unrolled k-steps with constant offsets, the staging with four items' loads in flight a thread
// (bench/results/2026-11-24_H100_03186f3), and from 16-byte packs, 8 channels a thread (8262cde's folder).
#pragma once

#include "mma.cuh"
#include "mta_norm.cuh"

namespace attnjit {

// Whether mta_forward_mma's warps reuse A fragments across filter rows (its main loop as
// mta_forward_mma_rows): the warp's m-tiles are whole output rows of kTileJ / 16 column groups, a k-step is
// 16 channels of one tap, two n-tiles, at most 8 filter rows. Such a block asks for at most half an SM's
// registers (mta_forward_min_blocks): at 133 registers a thread a 256-thread block ran alone on its SM and
// the patch staging's loads went unhidden.
template <class Cfg>
ATTNJIT_HD constexpr bool mta_forward_mma_row_reuse() {
  constexpr int kMTiles = Cfg::kTileI * Cfg::kTileJ / 16 / (Cfg::kThreads / 32);
  return Cfg::kTileJ % 16 == 0 && kMTiles % (Cfg::kTileJ / 16) == 0 && Cfg::kCinG % 16 == 0 &&
         Cfg::kOcTile == 16 && Cfg::kKh <= 8;
}

// The main loop of mta_forward_mma where a warp's m-tiles are kRows whole output rows (mta_forward_mma_row_reuse):
// acc[row * kColumnGroups + column group][n-tile] += the products of every tap.
template <class Cfg, int kRows, int kMTiles = kRows * (Cfg::kTileJ / 16)>
__device__ __forceinline__ void mta_forward_mma_rows(float (&acc)[kMTiles][2][4], const uint4* patch,
                                                     const typename Cfg::T* filters, int lane, int warp) {
  constexpr int kColumnGroups = Cfg::kTileJ / 16;
  constexpr int kPatchH = mta_patch_extent(Cfg::kTileI, Cfg::kSh, Cfg::kKh, Cfg::kDh);
  constexpr int kPatchW = mta_patch_extent(Cfg::kTileJ, Cfg::kSw, Cfg::kKw, Cfg::kDw);
  constexpr int kPlane = kPatchH * kPatchW;
  constexpr int kFilterPitch = mta_mma_filter_pitch(Cfg::kCinG, Cfg::kKh, Cfg::kKw);
  constexpr int kPatchRows = (kRows - 1) * Cfg::kSh + (Cfg::kKh - 1) * Cfg::kDh + 1;  // the rows the warp reads
  // A: lane l's row of column group cg at the warp's first output row (its ldmatrix row as in the k-step loop;
  // lanes 16-31 the plane of channels 8-15 of a channel step). B: as in the k-step loop.
  const unsigned char* rows = reinterpret_cast<const unsigned char*>(patch);
  int a_at[kColumnGroups];
#pragma unroll
  for (int cg = 0; cg < kColumnGroups; ++cg) {
    a_at[cg] = 16 * (warp * kRows * Cfg::kSh * kPatchW + (cg * 16 + (lane & 7) + 8 * (lane >> 3 & 1)) * Cfg::kSw +
                     (lane >> 4) * kPlane);
  }
  const typename Cfg::T* filter_row = filters + ((lane & 7) + 8 * (lane >> 4)) * kFilterPitch + 8 * (lane >> 3 & 1);
#pragma unroll 1
  for (int kw = 0; kw < Cfg::kKw; ++kw) {
#pragma unroll 1
    for (int cs = 0; cs < Cfg::kCinG / 16; ++cs) {
      unsigned b_frag[Cfg::kKh][2][2];
#pragma unroll
      for (int kh = 0; kh < Cfg::kKh; ++kh) {
        unsigned r[4];
        const typename Cfg::T* at = filter_row + (kh * Cfg::kKw + kw) * Cfg::kCinG + 16 * cs;  // k-step (tap, cs)
        ldmatrix_x4<false>(r, reinterpret_cast<const unsigned short*>(at));
        b_frag[kh][0][0] = r[0], b_frag[kh][0][1] = r[1], b_frag[kh][1][0] = r[2], b_frag[kh][1][1] = r[3];
      }
      const int a_step = 16 * (kw * Cfg::kDw + 2 * cs * kPlane);
#pragma unroll
      for (int pr = 0; pr < kPatchRows; ++pr) {
        bool used = false;  // whether some (output row, kh) reads patch row pr: a constant once unrolled
#pragma unroll
        for (int kh = 0; kh < Cfg::kKh; ++kh) {
          const int d = pr - kh * Cfg::kDh;
          used |= d >= 0 && d % Cfg::kSh == 0 && d / Cfg::kSh < kRows;
        }
        if (!used) continue;
        unsigned a_frag[kColumnGroups][4];
#pragma unroll
        for (int cg = 0; cg < kColumnGroups; ++cg) {
          const unsigned char* at = rows + a_at[cg] + 16 * pr * kPatchW + a_step;
          ldmatrix_x4<false>(a_frag[cg], reinterpret_cast<const unsigned short*>(at));
        }
#pragma unroll
        for (int kh = 0; kh < Cfg::kKh; ++kh) {
          const int d = pr - kh * Cfg::kDh;
          if (d < 0 || d % Cfg::kSh != 0 || d / Cfg::kSh >= kRows) continue;
#pragma unroll
          for (int cg = 0; cg < kColumnGroups; ++cg) {
#pragma unroll
            for (int nt = 0; nt < 2; ++nt) {
              Mma16816<typename Cfg::T>::run(acc[d / Cfg::kSh * kColumnGroups + cg][nt], a_frag[cg], b_frag[kh][nt]);
            }
          }
        }
      }
    }
  }
}

// Half k-step q (k = 8q .. 8q + 7): the byte offset of its rows from a position's row in plane 0, that is its
// plane and its tap's shift. Padded halves read tap 0 of plane 0; their filters are 0. (Read by the k-step
// loop only; the row-reuse loop computes its offsets.)
template <class Cfg>
__device__ __forceinline__ void fill_half_steps(int* half_step) {
  constexpr int kTaps = Cfg::kCinG * Cfg::kKh * Cfg::kKw;
  constexpr int kPatchH = mta_patch_extent(Cfg::kTileI, Cfg::kSh, Cfg::kKh, Cfg::kDh);
  constexpr int kPatchW = mta_patch_extent(Cfg::kTileJ, Cfg::kSw, Cfg::kKw, Cfg::kDw);
  constexpr int kPlane = kPatchH * kPatchW;
  for (int q = threadIdx.x; q < mta_mma_k(Cfg::kCinG, Cfg::kKh, Cfg::kKw) / 8; q += Cfg::kThreads) {
    const int k = 8 * q < kTaps ? 8 * q : 0, tap = k / Cfg::kCinG;
    half_step[q] = 16 * (k % Cfg::kCinG / 8 * kPlane + (tap / Cfg::kKw) * Cfg::kDh * kPatchW + (tap % Cfg::kKw) * Cfg::kDw);
  }
}

// The main loop of mta_forward_mma over k-steps (where rows are not reused): acc[m-tile][n-tile] += the
// products of every k-step, for the warp's kMTiles m-tiles.
template <class Cfg, int kMTiles, int kNTiles = Cfg::kOcTile / 8>
__device__ __forceinline__ void mta_forward_mma_ksteps(float (&acc)[kMTiles][kNTiles][4], const uint4* patch,
                                                       const typename Cfg::T* filters, const int* half_step, int lane,
                                                       int warp) {
  using T = typename Cfg::T;
  constexpr int kPatchW = mta_patch_extent(Cfg::kTileJ, Cfg::kSw, Cfg::kKw, Cfg::kDw);
  constexpr int kKpad = mta_mma_k(Cfg::kCinG, Cfg::kKh, Cfg::kKw);
  constexpr int kFilterPitch = mta_mma_filter_pitch(Cfg::kCinG, Cfg::kKh, Cfg::kKw);
  const int g = lane >> 2, t = lane & 3;
  // ldmatrix.x4 of an m-tile: lane l gives row l % 8 of matrix l / 8, i.e. position row (l % 8) + 8 * (l / 8
  // % 2) of the m-tile at half k-step l / 16 (A's fragment order: rows 0-7 / 8-15 of k 0-7, then of k 8-15).
  // Of two n-tiles' B: filter row (l % 8) + 8 * (l / 16) at half k-step l / 8 % 2 (b[0][0], b[0][1], b[1][0],
  // b[1][1]).
  const unsigned char* rows = reinterpret_cast<const unsigned char*>(patch);
  int row_at[kMTiles];  // byte offset of the lane's row in plane 0
#pragma unroll
  for (int i = 0; i < kMTiles; ++i) {
    const int m = (warp * kMTiles + i) * 16 + (lane & 7) + 8 * (lane >> 3 & 1);
    row_at[i] = 16 * ((m / Cfg::kTileJ) * Cfg::kSh * kPatchW + (m % Cfg::kTileJ) * Cfg::kSw);
  }
  const T* filter_row = filters + ((lane & 7) + 8 * (lane >> 4)) * kFilterPitch + 8 * (lane >> 3 & 1);
#pragma unroll 2
  for (int k0 = 0; k0 < kKpad; k0 += 16) {
    const int step = half_step[k0 / 8 + (lane >> 4)];
    unsigned b_frag[kNTiles][2];
#pragma unroll
    for (int nt = 0; nt + 1 < kNTiles; nt += 2) {
      unsigned r[4];
      ldmatrix_x4<false>(r, reinterpret_cast<const unsigned short*>(filter_row + nt * 8 * kFilterPitch + k0));
      b_frag[nt][0] = r[0], b_frag[nt][1] = r[1], b_frag[nt + 1][0] = r[2], b_frag[nt + 1][1] = r[3];
    }
    if constexpr (kNTiles % 2 == 1) {
      const T* row = filters + ((kNTiles - 1) * 8 + g) * kFilterPitch + k0 + 2 * t;
      b_frag[kNTiles - 1][0] = *reinterpret_cast<const unsigned*>(row);
      b_frag[kNTiles - 1][1] = *reinterpret_cast<const unsigned*>(row + 8);
    }
#pragma unroll
    for (int i = 0; i < kMTiles; ++i) {
      unsigned a_frag[4];
      ldmatrix_x4<false>(a_frag, reinterpret_cast<const unsigned short*>(rows + row_at[i] + step));
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) Mma16816<T>::run(acc[i][nt], a_frag, b_frag[nt]);
    }
  }
}

// The block's part of mta_forward on tensor cores; grid and block as mta_forward's.
template <class Cfg>
__device__ __forceinline__ void mta_forward_mma(const MtaParams& p, float* smem) {
  using T = typename Cfg::T;
  static_assert(sizeof(T) == 2, "tensor cores take f16 or bf16 here");
  static_assert(Cfg::kCinG % 8 == 0, "whole 16-byte chunks of 8 input channels a position");
  constexpr int kK = Cfg::kKh * Cfg::kKw;
  constexpr int kTaps = Cfg::kCinG * kK;  // the GEMM's true K
  constexpr int kCin = Cfg::kCinG * Cfg::kGroups, kCout = Cfg::kCoutG * Cfg::kGroups;
  constexpr int kPatchH = mta_patch_extent(Cfg::kTileI, Cfg::kSh, Cfg::kKh, Cfg::kDh);
  constexpr int kPatchW = mta_patch_extent(Cfg::kTileJ, Cfg::kSw, Cfg::kKw, Cfg::kDw);
  constexpr int kPlane = kPatchH * kPatchW;  // positions of the patch, row pitch kPatchW
  constexpr int kChunks = Cfg::kCinG / 8;    // planes of 8 channels
  constexpr int kKpad = mta_mma_k(Cfg::kCinG, Cfg::kKh, Cfg::kKw);
  constexpr int kFilterPitch = mta_mma_filter_pitch(Cfg::kCinG, Cfg::kKh, Cfg::kKw);
  constexpr int kWarps = Cfg::kThreads / 32;
  constexpr int kMTiles = Cfg::kTileI * Cfg::kTileJ / 16 / kWarps;  // per warp
  constexpr int kNTiles = Cfg::kOcTile / 8;
  constexpr int kTilesJ = mta_ceil_div(Cfg::kOutW, Cfg::kTileJ);
  constexpr int kOcChunks = Cfg::kCoutG / Cfg::kOcTile;
  static_assert(kMTiles >= 1 && Cfg::kTileI * Cfg::kTileJ % (16 * kWarps) == 0, "whole m-tiles per warp");

  unsigned char* bytes = reinterpret_cast<unsigned char*>(smem);
  uint4* patch = reinterpret_cast<uint4*>(bytes);                               // [kChunks][kPlane] rows of 8
  T* filters = reinterpret_cast<T*>(bytes + 16 * kChunks * kPlane);             // [kOcTile][kFilterPitch]
  int* half_step = reinterpret_cast<int*>(filters + Cfg::kOcTile * kFilterPitch);  // [kKpad / 8]

  const int oi0 = (blockIdx.x / kTilesJ) * Cfg::kTileI, oj0 = (blockIdx.x % kTilesJ) * Cfg::kTileJ;
  const int group = blockIdx.y / kOcChunks;
  const int oc0 = group * Cfg::kCoutG + (blockIdx.y % kOcChunks) * Cfg::kOcTile;
  const int b = blockIdx.z;
  const bool upper_tile = oj0 > oi0 + Cfg::kTileI - 1;  // every position has j > i: output is 0

  if (!upper_tile) {
    // The patch: every input channel's normalized scores, zero outside [0, L) and in the future.
    stage_normalized_planes<Cfg, Cfg::kCinG, kPatchH, kPatchW>(
        p, static_cast<long long>(b) * kCin + group * Cfg::kCinG, oi0 * Cfg::kSh - Cfg::kPadTop,
        oj0 * Cfg::kSw - Cfg::kPadLeft, patch);
    // Filters with k = tap * kCinG + channel (the weight's layout is [oc][channel][tap]).
    const T* weight = static_cast<const T*>(p.weight) + static_cast<long long>(oc0) * kTaps;
    for (int idx = threadIdx.x; idx < Cfg::kOcTile * kKpad; idx += Cfg::kThreads) {
      const int n = idx / kKpad, k = idx % kKpad;
      filters[n * kFilterPitch + k] =
          k < kTaps ? weight[static_cast<long long>(n) * kTaps + (k % Cfg::kCinG) * kK + k / Cfg::kCinG] : T{0};
    }
    fill_half_steps<Cfg>(half_step);
    __syncthreads();
  }

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  float acc[kMTiles][kNTiles][4];
#pragma unroll
  for (int nt = 0; nt < kNTiles; ++nt) {
    const float b0 = Cfg::kHasBias && !upper_tile ? load<T>(p.bias, oc0 + nt * 8 + 2 * t) : 0.0f;
    const float b1 = Cfg::kHasBias && !upper_tile ? load<T>(p.bias, oc0 + nt * 8 + 2 * t + 1) : 0.0f;
#pragma unroll
    for (int i = 0; i < kMTiles; ++i) {
      acc[i][nt][0] = acc[i][nt][2] = b0;
      acc[i][nt][1] = acc[i][nt][3] = b1;
    }
  }
  // With row reuse (mta_forward_mma_row_reuse) the loop runs over (kw, channel step)
  // with the B fragments of every filter row kh in registers, and over the patch rows the warp's outputs
  // reach: one A fragment of patch row pr (per column group) serves every (output row, kh) with
  // row * kSh + kh * kDh = pr. Shared bytes a mma: 123 where the k-step loop below reads 288 (groups=1 K7,
  // 32 x 32 by 8 warps); the price is registers (B: 4 a filter row).
  constexpr int kColumnGroups = Cfg::kTileJ / 16;
  if constexpr (mta_forward_mma_row_reuse<Cfg>()) {
    if (!upper_tile) mta_forward_mma_rows<Cfg, kMTiles / kColumnGroups>(acc, patch, filters, lane, warp);
  } else if (!upper_tile) {
    mta_forward_mma_ksteps<Cfg, kMTiles>(acc, patch, filters, half_step, lane, warp);
  }

  // c[0..1]: position row g, channels 2t, 2t + 1; c[2..3]: position row g + 8. Masked, then stored.
  T* out = static_cast<T*>(p.out) + (static_cast<long long>(b) * kCout + oc0) * Cfg::kOutH * Cfg::kOutW;
#pragma unroll
  for (int i = 0; i < kMTiles; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = (warp * kMTiles + i) * 16 + g + 8 * h;
      const int oi = oi0 + m / Cfg::kTileJ, oj = oj0 + m % Cfg::kTileJ;
      if (oi >= Cfg::kOutH || oj >= Cfg::kOutW) continue;
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int n = nt * 8 + 2 * t + e;
          out[static_cast<long long>(n) * Cfg::kOutH * Cfg::kOutW + static_cast<long long>(oi) * Cfg::kOutW + oj] =
              from_float<T>(oj <= oi ? acc[i][nt][2 * h + e] : 0.0f);  // the output mask
        }
      }
    }
  }
}

}  // namespace attnjit
