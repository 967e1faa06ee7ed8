// mta forward on tensor cores for depthwise convolutions (one input channel per output channel) in
// f16/bf16: see mta_forward_uses_band. One filter row a is a banded matrix, so 16 output rows x 8 output
// columns are, summed over a, the product of 16 rows of normalized scores (row (i * sh + a * dh), the
// patch columns the 8 outputs' taps reach) with the band
//   B_a[k][n] = weight[a][c]  where k = n * sw + offset + c * dw, 0 <= c < Kw  (0 elsewhere),
// k counted from the n-tile's first 8-column strip of the patch (offset = mta_band_offset). The band is
// the same for every n-tile, so each lane builds its B fragments once per block in registers; A
// fragments come by ldmatrix from the block's patch of normalized scores in T (P rounded to T, as in
// the channel-mixing forward and in eager PyTorch's bf16 softmax). A warp tile is 16 output rows x up to
// 64 columns (kNTiles n-tiles); per filter row it loads each A fragment once (n-tile n, k-step s reads
// 8-column strips sw * n + 2s and the next: fragments of different (n, s) coincide) and runs
// kNTiles * kKSteps mma.sync.
// On CUDA cores the same work costs a shared-memory load and Kw FFMAs per output and filter row, the
// instruction bound the CUDA-core forward sits at (bench/results, mta notes).
#pragma once

#include "mta_band.cuh"
#include "mta_norm.cuh"

namespace attnjit {

// The block's part of mta_forward for depthwise f16/bf16; grid and block as mta_forward's (kOcTile 1).
template <class Cfg>
__device__ __forceinline__ void mta_forward_band(const MtaParams& p, float* smem) {
  using T = typename Cfg::T;
  static_assert(sizeof(T) == 2 && Cfg::kCinG == 1 && Cfg::kOcTile == 1, "depthwise f16/bf16 only");
  constexpr int kOffset = mta_band_offset(Cfg::kPadLeft);
  constexpr int kKSteps = mta_band_ksteps(Cfg::kKw, Cfg::kSw, Cfg::kDw, Cfg::kPadLeft);
  constexpr int kNTiles = mta_band_ntiles(Cfg::kTileJ);
  constexpr int kPatchH = mta_patch_extent(Cfg::kTileI, Cfg::kSh, Cfg::kKh, Cfg::kDh);
  constexpr int kPatchW = mta_band_patch_w(Cfg::kTileJ, Cfg::kKw, Cfg::kSw, Cfg::kDw, Cfg::kPadLeft);
  constexpr int kPitch = mta_band_pitch(kPatchW);
  // Columns holding scores some tap reads, in whole packs; the rest of the patch only meets zeros of
  // the band, and is zero (finite) so that the product is.
  constexpr int kLoadW = (kOffset + mta_patch_extent(Cfg::kTileJ, Cfg::kSw, Cfg::kKw, Cfg::kDw) + 7) / 8 * 8;
  constexpr int kWarpCols = 8 * kNTiles;
  constexpr int kWarpTiles = (Cfg::kTileI / 16) * (Cfg::kTileJ / kWarpCols);
  constexpr int kWarps = Cfg::kThreads / 32;
  constexpr int kTilesJ = mta_ceil_div(Cfg::kOutW, Cfg::kTileJ);
  constexpr int kCout = Cfg::kCoutG * Cfg::kGroups;
  static_assert(kLoadW <= kPatchW, "the strips cover every column a tap reads");
  constexpr int kBandLo = mta_band_lo(Cfg::kSw, Cfg::kPadLeft), kBandW = mta_band_table_w(Cfg::kKw, Cfg::kSw, Cfg::kDw, Cfg::kPadLeft);
  constexpr int kStagePitch = mta_band_stage_pitch(Cfg::kTileJ);

  T* patch = reinterpret_cast<T*>(smem);  // [kPatchH][kPitch]
  const int oi0 = (blockIdx.x / kTilesJ) * Cfg::kTileI, oj0 = (blockIdx.x % kTilesJ) * Cfg::kTileJ;
  const int oc = blockIdx.y, group = oc / Cfg::kCoutG, b = blockIdx.z;
  T* out = static_cast<T*>(p.out) + (static_cast<long long>(b) * kCout + oc) * Cfg::kOutH * Cfg::kOutW;

  // Every position has j > i: zeros, nothing read. Stored as a Pack of zeros converted by cvt, which the
  // compilers emit as 2-byte stores: 16-byte stores of the same zeros (which T{} or store_pack_global give)
  // measured 2.5% slower on the H100 (dw K5 and K7 forward 249 -> 255 and 267 -> 273 us,
  // bench/results/2026-11-23_H100_3230f67, the A/B in its notes).
  if (oj0 > oi0 + Cfg::kTileI - 1) {
    constexpr int kVec = Cfg::kOutW % 8 == 0 ? 8 : 1;
    for (int idx = threadIdx.x; idx < Cfg::kTileI * Cfg::kTileJ / kVec; idx += Cfg::kThreads) {
      const int oi = oi0 + idx / (Cfg::kTileJ / kVec), oj = oj0 + idx % (Cfg::kTileJ / kVec) * kVec;
      if (oi >= Cfg::kOutH || oj >= Cfg::kOutW) continue;
      Pack<T, kVec> zeros;
#pragma unroll
      for (int e = 0; e < kVec; ++e) zeros.v[e] = from_float<T>(0.0f);
      *reinterpret_cast<Pack<T, kVec>*>(out + static_cast<long long>(oi) * Cfg::kOutW + oj) = zeros;
    }
    return;
  }

  load_normalized_patch<Cfg, kPatchH, kLoadW, 0, T, kPitch>(
      p, static_cast<long long>(b) * Cfg::kGroups + group, oi0 * Cfg::kSh - Cfg::kPadTop,
      oj0 * Cfg::kSw - Cfg::kPadLeft - kOffset, patch);
  if constexpr (kLoadW < kPatchW) {
    constexpr int kZeroPacks = (kPatchW - kLoadW) / 8;
    for (int idx = threadIdx.x; idx < kPatchH * kZeroPacks; idx += Cfg::kThreads) {
      *reinterpret_cast<uint4*>(patch + (idx / kZeroPacks) * kPitch + kLoadW + (idx % kZeroPacks) * 8) = make_uint4(0, 0, 0, 0);
    }
  }

  unsigned* pairs = reinterpret_cast<unsigned*>(patch + kPatchH * kPitch);  // [kKh][kBandW]
  {
    const unsigned short* w = static_cast<const unsigned short*>(p.weight) + static_cast<long long>(oc) * Cfg::kKh * Cfg::kKw;
    build_band_table<Cfg::kThreads, Cfg::kKh, kBandW, kBandLo>(pairs, [&](int a, int d) -> unsigned short {
      return d >= 0 && d % Cfg::kDw == 0 && d / Cfg::kDw < Cfg::kKw ? w[a * Cfg::kKw + d / Cfg::kDw] : 0;
    });
  }
  const float bias = Cfg::kHasBias ? load<T>(p.bias, oc) : 0.0f;
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  T* stage = reinterpret_cast<T*>(pairs + mta_band_table_bytes(Cfg::kKh, Cfg::kKw, Cfg::kSw, Cfg::kDw, Cfg::kPadLeft) / 4) +
             warp * 16 * kStagePitch;  // [16][kStagePitch]
  BandFragment band[Cfg::kKh][kKSteps];  // built once per block: the band is the same for every warp tile
#pragma unroll
  for (int a = 0; a < Cfg::kKh; ++a) {
#pragma unroll
    for (int s = 0; s < kKSteps; ++s) band[a][s] = band_fragment<Cfg::kSw, kOffset, kBandLo, kBandW>(pairs, a, s, g, t);
  }

  for (int wt = warp; wt < kWarpTiles; wt += kWarps) {
    const int wi = (wt / (Cfg::kTileJ / kWarpCols)) * 16, wj = (wt % (Cfg::kTileJ / kWarpCols)) * kWarpCols;
    const int last_row = oi0 + wi + 15;
    float acc[kNTiles][4];
#pragma unroll
    for (int n = 0; n < kNTiles; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = bias;
    if (oj0 + wj <= last_row) {  // else every output of the warp tile is in the future
      // n-tiles wholly in the future are computed too and masked at the store: a branch per n-tile cost more
      // than the few diagonal tiles.
      band_warp_tile<T, Cfg::kKh, Cfg::kDh, Cfg::kSw, kNTiles, kKSteps, kPitch>(
          acc, band_rows<Cfg::kSh, Cfg::kSw, kPitch>(patch, wi, wj, lane),
          [&](int a, int s) -> const BandFragment& { return band[a][s]; });
    }
    // c[0..1]: output row g, columns 2t, 2t + 1 of the n-tile; c[2..3]: row g + 8. Masked (only warp tiles
    // that reach past the diagonal test), written to the warp's rows of shared memory, then to the output as
    // 16-byte row pieces (4-byte fragment stores straight to global memory, 8 rows per instruction, kept L2
    // busy with partial sectors: the kernel ran at 1 TB/s).
    if (oj0 + wj + kWarpCols - 1 <= oi0 + wi) {
#pragma unroll
      for (int n = 0; n < kNTiles; ++n) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          *reinterpret_cast<unsigned*>(stage + (g + 8 * h) * kStagePitch + 8 * n + 2 * t) =
              pack_floats<T>(acc[n][2 * h], acc[n][2 * h + 1]);
        }
      }
    } else {
#pragma unroll
      for (int n = 0; n < kNTiles; ++n) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int row = g + 8 * h, col = 8 * n + 2 * t, oi = oi0 + wi + row, oj = oj0 + wj + col;
          *reinterpret_cast<unsigned*>(stage + row * kStagePitch + col) =
              pack_floats<T>(oj <= oi ? acc[n][2 * h] : 0.0f, oj + 1 <= oi ? acc[n][2 * h + 1] : 0.0f);
        }
      }
    }
    __syncwarp();
    constexpr int kPieces = kWarpCols / 8;  // 16-byte pieces per row
#pragma unroll
    for (int c = lane; c < 16 * kPieces; c += 32) {
      const int row = c / kPieces, col = c % kPieces * 8, oi = oi0 + wi + row, oj = oj0 + wj + col;
      if (oi >= Cfg::kOutH || oj >= Cfg::kOutW) continue;
      const T* src = stage + row * kStagePitch + col;
      T* dst = out + static_cast<long long>(oi) * Cfg::kOutW + oj;
      if constexpr (Cfg::kOutW % 8 == 0) {
        *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
      } else {
        for (int e = 0; e < 8 && oj + e < Cfg::kOutW; ++e) dst[e] = src[e];
      }
    }
    __syncwarp();  // the rows are read before the warp's next tile writes them
  }
}

}  // namespace attnjit
