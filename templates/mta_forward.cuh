// mta forward, steps 2-4 of SPEC.md section 1 in one pass: each block owns a tile of outputs
// (kTileI x kTileJ positions, kOcTile output channels of one group), loads the normalized scores its
// taps read (a halo'd patch, normalized on the fly from the raw scores and the row statistics) into
// shared memory one input channel at a time, convolves, adds the bias and applies the output mask.
// No L x L temporary: the only L x L tensor written is the output. Tiles wholly above the diagonal
// are written as zeros without reading anything.
#pragma once

#include "mta_norm.cuh"

namespace attnjit {

// grid = (tiles_i * tiles_j, groups * C_out/groups/kOcTile, B); block = kThreads.
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) mta_forward(const __grid_constant__ MtaParams p) {
  using T = typename Cfg::T;
  constexpr int kK = Cfg::kKh * Cfg::kKw;
  constexpr int kCin = Cfg::kCinG * Cfg::kGroups, kCout = Cfg::kCoutG * Cfg::kGroups;
  constexpr int kPatchH = mta_patch_extent(Cfg::kTileI, Cfg::kSh, Cfg::kKh, Cfg::kDh);
  constexpr int kPatchW = mta_patch_extent(Cfg::kTileJ, Cfg::kSw, Cfg::kKw, Cfg::kDw);
  constexpr int kTilePix = Cfg::kTileI * Cfg::kTileJ;
  constexpr int kPix = mta_ceil_div(kTilePix, Cfg::kThreads);  // output positions per thread
  constexpr int kTilesJ = mta_ceil_div(Cfg::kOutW, Cfg::kTileJ);
  constexpr int kOcChunks = Cfg::kCoutG / Cfg::kOcTile;
  static_assert(Cfg::kCoutG % Cfg::kOcTile == 0, "kOcTile must divide C_out / groups");

  extern __shared__ float smem[];
  float* patch = smem;                            // [kPatchH][kPatchW]
  float* weights = smem + kPatchH * kPatchW;      // [kOcTile][kKh][kKw] for the current input channel

  const int oi0 = (blockIdx.x / kTilesJ) * Cfg::kTileI, oj0 = (blockIdx.x % kTilesJ) * Cfg::kTileJ;
  const int group = blockIdx.y / kOcChunks;
  const int oc0 = group * Cfg::kCoutG + (blockIdx.y % kOcChunks) * Cfg::kOcTile;
  const int b = blockIdx.z;
  const long long out_plane0 = (static_cast<long long>(b) * kCout + oc0) * Cfg::kOutH * Cfg::kOutW;

  float acc[Cfg::kOcTile][kPix];
  const bool upper_tile = oj0 > oi0 + Cfg::kTileI - 1;  // every position has j > i: output is 0
  for (int o = 0; o < Cfg::kOcTile; ++o) {
    const float init = (Cfg::kHasBias && !upper_tile) ? load<T>(p.bias, oc0 + o) : 0.0f;
    for (int k = 0; k < kPix; ++k) acc[o][k] = init;
  }

  for (int icg = 0; icg < Cfg::kCinG && !upper_tile; ++icg) {
    const long long in_plane = static_cast<long long>(b) * kCin + group * Cfg::kCinG + icg;
    __syncthreads();  // the previous channel's patch and weights are no longer read
    for (int idx = threadIdx.x; idx < Cfg::kOcTile * kK; idx += Cfg::kThreads) {
      weights[idx] = load<T>(p.weight, (static_cast<long long>(oc0 + idx / kK) * Cfg::kCinG + icg) * kK + idx % kK);
    }
    load_normalized_patch<Cfg, kPatchH, kPatchW>(p, in_plane, oi0 * Cfg::kSh - Cfg::kPadTop,
                                                 oj0 * Cfg::kSw - Cfg::kPadLeft, patch);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kPix; ++k) {
      const int q = threadIdx.x + k * Cfg::kThreads;
      if (kTilePix % Cfg::kThreads != 0 && q >= kTilePix) break;
      const float* tap0 = patch + (q / Cfg::kTileJ) * Cfg::kSh * kPatchW + (q % Cfg::kTileJ) * Cfg::kSw;
      for (int kh = 0; kh < Cfg::kKh; ++kh) {
#pragma unroll
        for (int kw = 0; kw < Cfg::kKw; ++kw) {
          const float v = tap0[kh * Cfg::kDh * kPatchW + kw * Cfg::kDw];
#pragma unroll
          for (int o = 0; o < Cfg::kOcTile; ++o) acc[o][k] += weights[o * kK + kh * Cfg::kKw + kw] * v;
        }
      }
    }
  }

#pragma unroll
  for (int k = 0; k < kPix; ++k) {
    const int q = threadIdx.x + k * Cfg::kThreads;
    if (kTilePix % Cfg::kThreads != 0 && q >= kTilePix) break;
    const int oi = oi0 + q / Cfg::kTileJ, oj = oj0 + q % Cfg::kTileJ;
    if (oi >= Cfg::kOutH || oj >= Cfg::kOutW) continue;
    for (int o = 0; o < Cfg::kOcTile; ++o) {
      const long long index = out_plane0 + static_cast<long long>(o) * Cfg::kOutH * Cfg::kOutW +
                              static_cast<long long>(oi) * Cfg::kOutW + oj;
      store<T>(p.out, index, oj <= oi ? acc[o][k] : 0.0f);
    }
  }
}

}  // namespace attnjit
