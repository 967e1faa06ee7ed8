// mta forward on tensor cores, for channel mixing in f16/bf16 (see mta_forward_uses_mma): an implicit
// GEMM per block, out[m][n] = sum_k A[m][k] * W[n][k] + bias[n], with
//   m = the tile's output positions (kTileI x kTileJ), n = its kOcTile output channels,
//   k = (input channel of the group, kh, kw), padded to whole k-steps of 16 with zero filters;
//   A[m][k] = the normalized score that tap k of position m reads, from every input channel's patch,
//   staged once per block in shared memory in T (P rounded to T, as eager PyTorch's bf16 softmax is).
// Each warp owns kMTiles m-tiles of 16 positions and all n-tiles of 8 channels, and runs
// mma.sync.m16n8k16 with fp32 accumulation; per k-step a lane loads its 4 taps' offsets once (a table in
// shared memory) and its A elements as 16-bit loads at (position offset + tap offset), its B fragments as
// 32-bit loads of adjacent k. Fragment layouts: PTX ISA, "Matrix Fragments for mma.m16n8k16".
#pragma once

#include "mma.cuh"
#include "mta_norm.cuh"

namespace attnjit {

// The block's part of mta_forward on tensor cores; grid and block as mta_forward's.
template <class Cfg>
__device__ __forceinline__ void mta_forward_mma(const MtaParams& p, float* smem) {
  using T = typename Cfg::T;
  static_assert(sizeof(T) == 2, "tensor cores take f16 or bf16 here");
  constexpr int kK = Cfg::kKh * Cfg::kKw;
  constexpr int kTaps = Cfg::kCinG * kK;  // the GEMM's true K
  constexpr int kCin = Cfg::kCinG * Cfg::kGroups, kCout = Cfg::kCoutG * Cfg::kGroups;
  constexpr int kPatchH = mta_patch_extent(Cfg::kTileI, Cfg::kSh, Cfg::kKh, Cfg::kDh);
  constexpr int kPatchW = mta_patch_extent(Cfg::kTileJ, Cfg::kSw, Cfg::kKw, Cfg::kDw);
  constexpr int kPlane = kPatchH * kPatchW;  // one input channel's patch, row pitch kPatchW
  constexpr int kKpad = mta_mma_k(Cfg::kCinG, Cfg::kKh, Cfg::kKw);
  constexpr int kWarps = Cfg::kThreads / 32;
  constexpr int kMTiles = Cfg::kTileI * Cfg::kTileJ / 16 / kWarps;  // per warp
  constexpr int kNTiles = Cfg::kOcTile / 8;
  constexpr int kTilesJ = mta_ceil_div(Cfg::kOutW, Cfg::kTileJ);
  constexpr int kOcChunks = Cfg::kCoutG / Cfg::kOcTile;
  static_assert(kMTiles >= 1 && Cfg::kTileI * Cfg::kTileJ % (16 * kWarps) == 0, "whole m-tiles per warp");

  unsigned char* bytes = reinterpret_cast<unsigned char*>(smem);
  T* patch = reinterpret_cast<T*>(bytes);                                      // [kCinG][kPatchH][kPatchW]
  T* filters = reinterpret_cast<T*>(bytes + (2 * Cfg::kCinG * kPlane + 15) / 16 * 16);  // [kOcTile][kKpad]
  int* tap_offset = reinterpret_cast<int*>(filters + Cfg::kOcTile * kKpad);   // [kKpad]

  const int oi0 = (blockIdx.x / kTilesJ) * Cfg::kTileI, oj0 = (blockIdx.x % kTilesJ) * Cfg::kTileJ;
  const int group = blockIdx.y / kOcChunks;
  const int oc0 = group * Cfg::kCoutG + (blockIdx.y % kOcChunks) * Cfg::kOcTile;
  const int b = blockIdx.z;
  const bool upper_tile = oj0 > oi0 + Cfg::kTileI - 1;  // every position has j > i: output is 0

  if (!upper_tile) {
    for (int icg = 0; icg < Cfg::kCinG; ++icg) {
      load_normalized_patch<Cfg, kPatchH, kPatchW, -1, T, kPatchW>(
          p, static_cast<long long>(b) * kCin + group * Cfg::kCinG + icg, oi0 * Cfg::kSh - Cfg::kPadTop,
          oj0 * Cfg::kSw - Cfg::kPadLeft, patch + icg * kPlane);
    }
    const T* weight = static_cast<const T*>(p.weight) + static_cast<long long>(oc0) * kTaps;
    for (int idx = threadIdx.x; idx < Cfg::kOcTile * kKpad; idx += Cfg::kThreads) {
      const int n = idx / kKpad, k = idx % kKpad;
      filters[idx] = k < kTaps ? weight[static_cast<long long>(n) * kTaps + k] : T{0};
    }
    for (int k = threadIdx.x; k < kKpad; k += Cfg::kThreads) {
      const int icg = k / kK, tap = k % kK;  // padded k read a valid place; their filters are 0
      tap_offset[k] = k < kTaps ? icg * kPlane + (tap / Cfg::kKw) * Cfg::kDh * kPatchW + (tap % Cfg::kKw) * Cfg::kDw : 0;
    }
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
  // Patch offsets of this lane's two positions (rows g and g + 8) of each m-tile.
  int position_offset[kMTiles][2];
#pragma unroll
  for (int i = 0; i < kMTiles; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = (warp * kMTiles + i) * 16 + g + 8 * h;
      position_offset[i][h] = (m / Cfg::kTileJ) * Cfg::kSh * kPatchW + (m % Cfg::kTileJ) * Cfg::kSw;
    }
  }
  if (!upper_tile) {
    const unsigned short* a_src = reinterpret_cast<const unsigned short*>(patch);
#pragma unroll 2
    for (int k0 = 2 * t; k0 < kKpad; k0 += 16) {  // this lane's columns k0, k0 + 1, k0 + 8, k0 + 9
      const int o0 = tap_offset[k0], o1 = tap_offset[k0 + 1], o2 = tap_offset[k0 + 8], o3 = tap_offset[k0 + 9];
      unsigned b_frag[kNTiles][2];
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
        const T* row = filters + (nt * 8 + g) * kKpad;
        b_frag[nt][0] = *reinterpret_cast<const unsigned*>(row + k0);
        b_frag[nt][1] = *reinterpret_cast<const unsigned*>(row + k0 + 8);
      }
#pragma unroll
      for (int i = 0; i < kMTiles; ++i) {
        const unsigned short* top = a_src + position_offset[i][0];
        const unsigned short* bottom = a_src + position_offset[i][1];
        const unsigned a_frag[4] = {pack_pair(top[o0], top[o1]), pack_pair(bottom[o0], bottom[o1]),
                                    pack_pair(top[o2], top[o3]), pack_pair(bottom[o2], bottom[o3])};
#pragma unroll
        for (int nt = 0; nt < kNTiles; ++nt) Mma16816<T>::run(acc[i][nt], a_frag, b_frag[nt]);
      }
    }
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
