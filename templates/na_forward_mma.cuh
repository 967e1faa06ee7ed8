// Neighborhood attention forward on tensor cores (f16/bf16, D a multiple of 16 up to 128): FlashAttention's
// loop restricted to the band, for every window the dtype and D allow (at k=7 it beat the CUDA-core kernel too).
//
// A block owns kRows = 16 * warps consecutive queries of one dilation group; warp w the 16 rows
// t0 + 16w .. t0 + 16w + 15. The block's keys [first(t0), last(t_end - 1)] come in tiles of kChunk keys
// (keys and values in T, rows at na_mma_pitch), two buffers: cp.async stages tile i + 1 while the warps
// compute on tile i (one barrier per tile). The queries are staged once and held as A fragments (ldmatrix)
// for the whole block. Per tile, a warp whose rows see none of its keys skips it; otherwise S = Q K^T
// (16 x kChunk, mma.sync m16n8k16, K's B fragments by ldmatrix, two n-tiles per load); on the band's edges
// every element outside its row's window is set to -inf (a tile inside every row's window skips the mask);
// the online softmax (row max over the quad of lanes that holds a row, the scale folded into the exponent);
// O += P V with P's C fragments repacked as A fragments in T and V's B fragments by ldmatrix.trans. Work
// beyond the window is the band's ragged edges in whole 16 x 8 tiles only. The output leaves through the
// warp's staged query rows (na_store_tile: 16-byte stores of whole rows).
#pragma once

#include "na_mma.cuh"

namespace attnjit {

template <class Cfg>
__device__ __forceinline__ void na_forward_mma(const NaParams& p) {
  using T = typename Cfg::T;
  static_assert(na_forward_mma_eligible(sizeof(T), Cfg::kD), "tensor cores take f16/bf16 and D % 16 == 0, D <= 128");
  static_assert(Cfg::kRows == Cfg::kThreads / 2 && Cfg::kChunk % 16 == 0, "16 rows per warp, whole k-steps of keys");
  constexpr int kPitch = na_mma_pitch(Cfg::kD);
  constexpr int kKSteps = Cfg::kD / 16, kNTiles = Cfg::kChunk / 8, kDTiles = Cfg::kD / 8;
  constexpr int kTile = Cfg::kChunk * kPitch;  // elements of one staged tile of one tensor
  const NaBlock blk = na_block<Cfg>();
  if (blk.t0 >= blk.n) return;
  extern __shared__ float4 smem4[];
  unsigned short* buffers = reinterpret_cast<unsigned short*>(smem4);  // [2][keys, values][kChunk][kPitch], T's bits
  unsigned short* queries = buffers + 4 * kTile;                        // [kRows][kPitch]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  const NaWarpBand band = na_warp_band<Cfg, true>(blk, warp, g);
  const int t_end = band.end, first = band.first, last = band.last;
  const int(&rows_t)[2] = band.rows;  // this lane's two rows (g and g + 8 of the warp's 16) and their windows
  NaRange window[2];
  // The keys every row of the warp sees (rows past t_end see all): a tile within them needs no mask.
  int inner_first = -(1 << 30), inner_last = 1 << 30;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const bool valid = rows_t[r] < t_end;
    window[r] = valid ? na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, rows_t[r]) : NaRange{1, 0};
    if (valid) inner_first = mta_max(inner_first, window[r].first), inner_last = na_min(inner_last, window[r].last);
  }
#pragma unroll
  for (int offset = 4; offset < 32; offset *= 2) {  // over the warp's 8 row pairs (lanes of one g agree)
    inner_first = mta_max(inner_first, __shfl_xor_sync(kFullMask, inner_first, offset));
    inner_last = na_min(inner_last, __shfl_xor_sync(kFullMask, inner_last, offset));
  }

  const int tiles = (last - first) / Cfg::kChunk + 1;
  auto stage = [&](int tile) {  // rows past the range zero: P = 0 there, and V's zeros add nothing
    const int c0 = first + tile * Cfg::kChunk;
    unsigned short* to = buffers + (tile & 1) * 2 * kTile;
    na_stage_async<Cfg>(blk, p.key, c0, na_min(Cfg::kChunk, last + 1 - c0), to);
    na_stage_async<Cfg>(blk, p.value, c0, na_min(Cfg::kChunk, last + 1 - c0), to + kTile);
  };
  na_stage_async<Cfg, Cfg::kRows>(blk, p.query, blk.t0, t_end - blk.t0, queries);  // rows past t_end zero
  stage(0);
  cp_async_commit();
  unsigned qa[kKSteps][4];  // Q's A fragments: (row g or g + 8) x (head elements 2c.., 2c + 8..)
  float o[kDTiles][4];
#pragma unroll
  for (int dt = 0; dt < kDTiles; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  // m: the row's running max of raw scores (scale > 0, so scaling commutes with the max and folds into
  // the exponent: p = 2^(s * scale_log2 - m * scale_log2), one FFMA); l: this lane's part of the row's sum.
  float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};

  for (int tile = 0; tile < tiles; ++tile) {
    cp_async_wait_group<0>();  // this tile (and, the first time, the queries)
    __syncthreads();           // ... for every thread; and no warp still reads the previous tile's buffer
    if (tile + 1 < tiles) stage(tile + 1);  // into that buffer, while this tile is computed on
    cp_async_commit();
    if (tile == 0) {
#pragma unroll
      for (int ks = 0; ks < kKSteps; ++ks) na_load_a_shared<kPitch>(qa[ks], queries + 16 * warp * kPitch, ks, lane);
    }
    const int c0 = first + tile * Cfg::kChunk;
    if (band.misses(c0, na_min(Cfg::kChunk, last + 1 - c0))) continue;  // warp-uniform
    const unsigned short* keys = buffers + (tile & 1) * 2 * kTile;
    const unsigned short* values = keys + kTile;
    float s[kNTiles][4];  // S: (row g / g + 8) x (key nt * 8 + 2c, + 1)
    na_mma_abt<Cfg>(qa, keys, lane, s);
    float row_max[2] = {neg_inf(), neg_inf()};
    if (c0 >= inner_first && c0 + Cfg::kChunk - 1 <= inner_last) {  // warp-uniform: every row sees every key
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) row_max[e >> 1] = fmaxf(row_max[e >> 1], s[nt][e]);
      }
    } else {
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = e >> 1, j = c0 + nt * 8 + 2 * c + (e & 1);
          const bool seen = j >= window[r].first && j <= window[r].last;  // window.last <= last: zero rows fail
          s[nt][e] = seen ? s[nt][e] : neg_inf();
          row_max[r] = fmaxf(row_max[r], s[nt][e]);
        }
      }
    }
    float base[2], alpha[2], row_sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(kFullMask, row_max[r], 1));  // the quad holds the row
      row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(kFullMask, row_max[r], 2));
      const float m_new = fmaxf(m[r], row_max[r]);
      base[r] = m_new == neg_inf() ? 0.0f : m_new * p.scale_log2;  // a row with no key yet: every p is 0, alpha too
      alpha[r] = fast_exp2(fmaf(m[r], p.scale_log2, -base[r]));
      m[r] = m_new;
    }
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[nt][e] = fast_exp2(fmaf(s[nt][e], p.scale_log2, -base[e >> 1]));
        row_sum[e >> 1] += s[nt][e];
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) l[r] = fmaf(l[r], alpha[r], row_sum[r]);
#pragma unroll
    for (int dt = 0; dt < kDTiles; ++dt) {
      o[dt][0] *= alpha[0];
      o[dt][1] *= alpha[0];
      o[dt][2] *= alpha[1];
      o[dt][3] *= alpha[1];
    }
    na_mma_xv<Cfg, kNTiles>(s, values, lane, o);
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(kFullMask, l[r], 1);
    l[r] += __shfl_xor_sync(kFullMask, l[r], 2);
  }
  // l >= 1 for every row: its max contributes 1.
  const float inverse[2] = {1.0f / l[0], 1.0f / l[1]};
  na_store_tile<Cfg>(p.out_write, blk, blk.t0 + 16 * warp, t_end, lane, o, inverse, queries + 16 * warp * kPitch);  // its own rows
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (rows_t[r] < t_end && c == 0) p.logsumexp[na_stat_index<Cfg>(blk, rows_t[r])] = fmaf(m[r], p.scale_log2, log2f(l[r])) * kLn2;
  }
}

}  // namespace attnjit
