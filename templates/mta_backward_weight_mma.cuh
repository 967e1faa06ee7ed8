// mta weight gradient on tensor cores, for channel mixing in f16/bf16 (see mta_backward_weight_uses_mma): per
// block an implicit GEMM over a run of causal output tiles,
//   partial[m][n] = sum_k G[m][k] * P[k][n]
//   m = kOcTile output channels of one group (16, or 8 where C_out/groups is not a multiple of 16),
//   n = (tap, input channel of the group): 8 channels of one tap an n-tile,
//   k = output positions, 16 consecutive columns of one output row a k-step,
//   G[m][k] = grad_out at position k, masked (0 in the future and past the output's edge),
//   P[k][n] = the normalized score that tap n reads from position k (P rounded to T, as eager PyTorch's
//   bf16 softmax is, and as the forward on tensor cores reads it).
// Per tile the block stages both operands in planes of 8 channels (a position's 8 channels one 16-byte row):
// P over the tile's halo'd patch (stage_normalized_planes, the forward's), G over the tile. An A fragment
// (16 output channels x 16 positions) is then one ldmatrix.x4.trans of the k-step's 16 position rows in two
// planes, and the B fragments of one tap's two n-tiles one more, of the 16 patch rows the tap shifts them to:
// any stride and dilation are row addresses. The warps split the n dimension in units of (tap, one or two
// planes of input channels), so each warp keeps its units' accumulators for the whole run and the block's
// partials leave once, to its slot of the workspace (mta_reduce_weight sums the slots in a fixed order).
// The bias gradient is one more unit whose B is all ones. The CUDA-core kernel it replaces (one block per
// output channel, input channel and strip) normalized every score once per output channel: groups=1 K7,
// 9.2-10.7 ms on the H100.
// Fragment layouts: PTX ISA, "Matrix Fragments for mma.m16n8k16" and "ldmatrix" (.trans: lane l holds
// elements (2 (l % 4), l / 4) and (2 (l % 4) + 1, l / 4) of each 8 x 8 matrix, i.e. the stored rows are k).
#pragma once

#include "mma.cuh"
#include "mta_norm.cuh"

namespace attnjit {

// grad_out of kChannels output channels from oc0 over the kH x kW positions from (oi0, oj0), staged in planes
// of 8 channels as stage_normalized_planes stages scores: planes[c][position] is one 16-byte row of the bits of
// channels 8c .. 8c + 7 there, 0 where masked (outside the output, or in the future: oj > oi).
template <class Cfg, int kChannels, int kH, int kW>
__device__ __forceinline__ void stage_grad_planes(const MtaParams& p, int b, int oc0, int oi0, int oj0, uint4* planes) {
  static_assert(kChannels % 8 == 0, "whole planes of 8 channels");
  constexpr int kCout = Cfg::kCoutG * Cfg::kGroups;
  const unsigned short* grad_out = static_cast<const unsigned short*>(p.grad_out) +
                                   (static_cast<long long>(b) * kCout + oc0) * Cfg::kOutH * Cfg::kOutW;
  // Two items a trip: 16 loads in flight a thread (groups=1 K7 backward 1691 -> 1659 us, groups=2 1894 -> 1830;
  // four items: 1670 and 1935, bench/results/2026-11-24_H100_cc784c8).
#pragma unroll 2
  for (int idx = threadIdx.x; idx < kChannels / 8 * kH * kW; idx += Cfg::kThreads) {
    const int plane = idx / (kH * kW), pos = idx % (kH * kW);
    const int oi = oi0 + pos / kW, oj = oj0 + pos % kW;
    unsigned short v[8];
    const bool inside = oi >= 0 && oi < Cfg::kOutH && oj >= 0 && oj < Cfg::kOutW && oj <= oi;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      v[e] = inside ? grad_out[static_cast<long long>(plane * 8 + e) * Cfg::kOutH * Cfg::kOutW +
                               static_cast<long long>(oi) * Cfg::kOutW + oj]
                    : static_cast<unsigned short>(0);
    }
    planes[idx] = uint4{pack_pair(v[0], v[1]), pack_pair(v[2], v[3]), pack_pair(v[4], v[5]), pack_pair(v[6], v[7])};
  }
}

template <class Cfg>
ATTNJIT_HD constexpr bool mta_backward_weight_uses_mma_cfg() {
  return mta_backward_weight_uses_mma(sizeof(typename Cfg::T), Cfg::kCinG, Cfg::kCoutG, Cfg::kKh, Cfg::kKw, Cfg::kSh,
                                      Cfg::kSw, Cfg::kDh, Cfg::kDw, Cfg::kTileI, Cfg::kTileJ);
}

// grid = (blocks per batch element = p.weight_slots / p.batch, groups * C_out/groups/kOcTile, B).
template <class Cfg>
__device__ __forceinline__ void mta_backward_weight_mma(const MtaParams& p, float* smem) {
  using T = typename Cfg::T;
  static_assert(sizeof(T) == 2, "tensor cores take f16 or bf16 here");
  constexpr int kK = Cfg::kKh * Cfg::kKw;
  constexpr int kCin = Cfg::kCinG * Cfg::kGroups, kCout = Cfg::kCoutG * Cfg::kGroups;
  constexpr int kPatchH = mta_patch_extent(Cfg::kTileI, Cfg::kSh, Cfg::kKh, Cfg::kDh);
  constexpr int kPatchW = mta_patch_extent(Cfg::kTileJ, Cfg::kSw, Cfg::kKw, Cfg::kDw);
  constexpr int kPlane = kPatchH * kPatchW;  // positions of the patch, row pitch kPatchW
  constexpr int kTilePix = Cfg::kTileI * Cfg::kTileJ;
  constexpr int kOcTile = mta_weight_mma_oc_tile(Cfg::kCoutG);
  constexpr int kOcPlanes = kOcTile / 8;
  constexpr int kOcBlocks = Cfg::kCoutG / kOcTile;
  constexpr int kChunks = Cfg::kCinG / 8;                    // planes of 8 input channels
  constexpr int kPlanesPerUnit = kChunks % 2 == 0 ? 2 : 1;  // n-tiles of a unit: one ldmatrix.x4 feeds two
  constexpr int kChunkUnits = kChunks / kPlanesPerUnit;
  constexpr int kWeightUnits = kK * kChunkUnits;
  constexpr int kUnits = kWeightUnits + (Cfg::kHasBias ? 1 : 0);  // the last: the bias
  constexpr int kWarps = Cfg::kThreads / 32;
  constexpr int kUnitsPerWarp = mta_ceil_div(kUnits, kWarps);
  constexpr int kItems = mta_weight_mma_items(Cfg::kOutH, Cfg::kOutW, Cfg::kTileI, Cfg::kTileJ);
  static_assert(Cfg::kTileJ % 16 == 0, "k-steps of 16 columns of one output row");

  unsigned char* bytes = reinterpret_cast<unsigned char*>(smem);
  uint4* patch = reinterpret_cast<uint4*>(bytes);  // [kChunks][kPlane] rows of 8 input channels
  uint4* grad = patch + kChunks * kPlane;          // [kOcPlanes][kTilePix] rows of 8 output channels

  const int blocks = p.weight_slots / p.batch, block = blockIdx.x;
  const int group = blockIdx.y / kOcBlocks;
  const int oc0 = group * Cfg::kCoutG + (blockIdx.y % kOcBlocks) * kOcTile;
  const int b = blockIdx.z;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;

  // ldmatrix.x4.trans rows. A: matrix l / 8 is (positions 0-7 | 8-15 of the k-step: l / 16) x (output-channel
  // plane (l / 8) % 2), giving a0..a3 = (m 0-7, k 0-7), (m 8-15, k 0-7), (m 0-7, k 8-15), (m 8-15, k 8-15); with
  // one plane, rows 8-15 repeat rows 0-7 and are not written. B of unit u: matrix l / 8 is (positions
  // 0-7 | 8-15: (l / 8) % 2) x (input-channel plane of the unit: l / 16), giving b[0][0], b[0][1], b[1][0], b[1][1].
  const int a_lane = 16 * ((kOcPlanes == 2 ? (lane >> 3 & 1) : 0) * kTilePix + (lane & 7) + 8 * (lane >> 4));
  const int b_lane =
      16 * ((kPlanesPerUnit == 2 ? (lane >> 4) : 0) * kPlane + ((lane & 7) + 8 * (lane >> 3 & 1)) * Cfg::kSw);
  int unit_at[kUnitsPerWarp];  // byte offset of the unit's tap and planes, from a position's row in plane 0
#pragma unroll
  for (int u = 0; u < kUnitsPerWarp; ++u) {
    const int unit = warp + u * kWarps, tap = unit / kChunkUnits, cu = unit % kChunkUnits;
    unit_at[u] = unit < kWeightUnits ? 16 * (cu * kPlanesPerUnit * kPlane + (tap / Cfg::kKw) * Cfg::kDh * kPatchW +
                                             (tap % Cfg::kKw) * Cfg::kDw)
                                     : 0;
  }
  const unsigned ones = pack_floats<T>(1.0f, 1.0f);
  const unsigned ones_frag[2] = {ones, ones};

  float acc[kUnitsPerWarp][kPlanesPerUnit][4];
#pragma unroll
  for (int u = 0; u < kUnitsPerWarp; ++u) {
#pragma unroll
    for (int nt = 0; nt < kPlanesPerUnit; ++nt) acc[u][nt][0] = acc[u][nt][1] = acc[u][nt][2] = acc[u][nt][3] = 0.0f;
  }

  // The block's run of items, and the strip and tile of its first.
  const int first = static_cast<int>(static_cast<long long>(block) * kItems / blocks);
  const int end = static_cast<int>(static_cast<long long>(block + 1) * kItems / blocks);
  int strip = 0, tile = first;
  while (tile >= mta_weight_mma_strip_tiles(strip, Cfg::kOutH, Cfg::kOutW, Cfg::kTileI, Cfg::kTileJ)) {
    tile -= mta_weight_mma_strip_tiles(strip, Cfg::kOutH, Cfg::kOutW, Cfg::kTileI, Cfg::kTileJ);
    ++strip;
  }
  for (int item = first; item < end; ++item) {
    const int oi0 = strip * Cfg::kTileI, oj0 = tile * Cfg::kTileJ;
    __syncthreads();  // the previous tile's fragments are read
    stage_normalized_planes<Cfg, Cfg::kCinG, kPatchH, kPatchW>(
        p, static_cast<long long>(b) * kCin + group * Cfg::kCinG, oi0 * Cfg::kSh - Cfg::kPadTop,
        oj0 * Cfg::kSw - Cfg::kPadLeft, patch);
    stage_grad_planes<Cfg, kOcTile, Cfg::kTileI, Cfg::kTileJ>(p, b, oc0, oi0, oj0, grad);
    __syncthreads();

    const unsigned char* patch_bytes = reinterpret_cast<const unsigned char*>(patch);
    const unsigned char* grad_bytes = reinterpret_cast<const unsigned char*>(grad);
    const int rows = min(Cfg::kTileI, Cfg::kOutH - oi0);
#pragma unroll 1
    for (int r = 0; r < rows; ++r) {
      const int last = min(oi0 + r, Cfg::kOutW - 1);  // the row's last causal column
#pragma unroll
      for (int cg = 0; cg < Cfg::kTileJ / 16; ++cg) {
        if (oj0 + cg * 16 > last) break;  // every position of this k-step and the next is masked
        unsigned a_frag[4];
        ldmatrix_x4<true>(a_frag, reinterpret_cast<const unsigned short*>(grad_bytes + a_lane + 16 * (r * Cfg::kTileJ + cg * 16)));
        const unsigned char* b_step = patch_bytes + b_lane + 16 * (r * Cfg::kSh * kPatchW + cg * 16 * Cfg::kSw);
#pragma unroll
        for (int u = 0; u < kUnitsPerWarp; ++u) {
          const int unit = warp + u * kWarps;
          if (kUnits % kWarps != 0 && unit >= kUnits) break;
          if (Cfg::kHasBias && unit == kWeightUnits) {
            Mma16816<T>::run(acc[u][0], a_frag, ones_frag);
            continue;
          }
          unsigned r4[4];
          ldmatrix_x4<true>(r4, reinterpret_cast<const unsigned short*>(b_step + unit_at[u]));
          const unsigned b0[2] = {r4[0], r4[1]};
          Mma16816<T>::run(acc[u][0], a_frag, b0);
          if constexpr (kPlanesPerUnit == 2) {
            const unsigned b1[2] = {r4[2], r4[3]};
            Mma16816<T>::run(acc[u][1], a_frag, b1);
          }
        }
      }
    }
    if (++tile == mta_weight_mma_strip_tiles(strip, Cfg::kOutH, Cfg::kOutW, Cfg::kTileI, Cfg::kTileJ)) {
      tile = 0;
      ++strip;
    }
  }

  // c[0..1]: output channel g, input channels 2t, 2t + 1 of the n-tile; c[2..3]: output channel g + 8.
  const long long slot = static_cast<long long>(b) * blocks + block;
#pragma unroll
  for (int u = 0; u < kUnitsPerWarp; ++u) {
    const int unit = warp + u * kWarps;
    if (unit >= kUnits) break;
    if (Cfg::kHasBias && unit == kWeightUnits) {  // every column holds the same sum; column 0's lanes write it
      if (t == 0) {
#pragma unroll
        for (int h = 0; h < kOcPlanes; ++h) p.partial_bias[slot * kCout + oc0 + g + 8 * h] = acc[u][0][2 * h];
      }
      continue;
    }
    const int tap = unit / kChunkUnits, cu = unit % kChunkUnits;
#pragma unroll
    for (int nt = 0; nt < kPlanesPerUnit; ++nt) {
#pragma unroll
      for (int h = 0; h < kOcPlanes; ++h) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int m = g + 8 * h, ci = (cu * kPlanesPerUnit + nt) * 8 + 2 * t + e;
          p.partial_weight[((slot * kCout + oc0 + m) * Cfg::kCinG + ci) * kK + tap] = acc[u][nt][2 * h + e];
        }
      }
    }
  }
}

}  // namespace attnjit
