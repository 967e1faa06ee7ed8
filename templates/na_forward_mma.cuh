// Neighborhood attention forward on tensor cores (f16/bf16, D a multiple of 16 up to 128), for wide windows
// where the CUDA-core kernel is bound by arithmetic: FlashAttention's loop restricted to the band.
//
// A block owns kRows = 16 * warps consecutive queries of one dilation group; warp w the 16 rows
// t0 + 16w .. t0 + 16w + 15. The block's keys [first(t0), last(t_end - 1)] are staged kChunk at a time
// (keys and values in T, rows at na_mma_pitch). Per tile, a warp whose rows see none of its keys skips it;
// otherwise S = Q K^T (16 x kChunk, mma.sync m16n8k16: Q's A fragments held in registers for the whole
// block, K's B fragments as 32-bit shared loads of adjacent head elements), scaled to base 2, every
// element outside its row's window set to -inf, the online softmax (row max over the quad of lanes that
// holds a row), then O += P V with P's C fragments repacked as A fragments in T and V's B fragments by
// ldmatrix.trans. Work beyond the window is the band's ragged edges in whole 16 x 8 tiles only.
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
  const NaBlock blk = na_block<Cfg>();
  if (blk.t0 >= blk.n) return;
  extern __shared__ float4 smem4[];
  unsigned short* keys = reinterpret_cast<unsigned short*>(smem4);  // [kChunk][kPitch], T's bits
  unsigned short* values = keys + Cfg::kChunk * kPitch;            // [kChunk][kPitch]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  const NaWarpBand band = na_warp_band<Cfg, true>(blk, warp, g);
  const int t_end = band.end, first = band.first, last = band.last;
  const int(&rows_t)[2] = band.rows;  // this lane's two rows (g and g + 8 of the warp's 16) and their windows
  NaRange window[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    window[r] = rows_t[r] < t_end ? na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, rows_t[r]) : NaRange{1, 0};
  }

  unsigned qa[kKSteps][4];  // Q's A fragments: (row g or g + 8) x (head elements 2c.., 2c + 8..)
  na_load_a<Cfg>(p.query, blk, rows_t, t_end, c, qa);
  float o[kDTiles][4];
#pragma unroll
  for (int dt = 0; dt < kDTiles; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};

  for (int c0 = first; c0 <= last; c0 += Cfg::kChunk) {
    const int rows = na_min(Cfg::kChunk, last + 1 - c0);
    __syncthreads();  // the previous tile is no longer read
    na_stage_t<Cfg>(blk, p.key, p.value, c0, rows, keys, values);  // rows past the range zero: P = 0 there
    __syncthreads();
    if (band.misses(c0, rows)) continue;  // warp-uniform: no row sees this tile

    float s[kNTiles][4];  // S: (row g / g + 8) x (key nt * 8 + 2c, + 1)
    na_mma_abt<Cfg>(qa, keys, g, c, s);
    float row_max[2] = {neg_inf(), neg_inf()};
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1, j = c0 + nt * 8 + 2 * c + (e & 1);
        const bool seen = j >= window[r].first && j <= window[r].last;  // window.last <= last: tail rows fail
        s[nt][e] = seen ? s[nt][e] * p.scale_log2 : neg_inf();
        row_max[r] = fmaxf(row_max[r], s[nt][e]);
      }
    }
    float base[2], alpha[2], row_sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(kFullMask, row_max[r], 1));  // the quad holds the row
      row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(kFullMask, row_max[r], 2));
      const float m_new = fmaxf(m[r], row_max[r]);
      base[r] = m_new == neg_inf() ? 0.0f : m_new;  // a row with no key yet: every p is 0, alpha too
      alpha[r] = fast_exp2(m[r] - base[r]);
      m[r] = m_new;
    }
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[nt][e] = fast_exp2(s[nt][e] - base[e >> 1]);
        row_sum[e >> 1] += s[nt][e];
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) l[r] = fmaf(l[r], alpha[r], row_sum[r]);  // this lane's part of the row
#pragma unroll
    for (int dt = 0; dt < kDTiles; ++dt) {
      o[dt][0] *= alpha[0];
      o[dt][1] *= alpha[0];
      o[dt][2] *= alpha[1];
      o[dt][3] *= alpha[1];
    }
    na_mma_xv<Cfg>(s, values, lane, o);
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(kFullMask, l[r], 1);
    l[r] += __shfl_xor_sync(kFullMask, l[r], 2);
  }
  // l >= 1 for every row: its max contributes 1.
  const float inverse[2] = {1.0f / l[0], 1.0f / l[1]};
  na_store_c<Cfg>(p.out_write, blk, rows_t, t_end, c, o, inverse);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (rows_t[r] < t_end && c == 0) p.logsumexp[na_stat_index<Cfg>(blk, rows_t[r])] = (m[r] + log2f(l[r])) * kLn2;
  }
}

}  // namespace attnjit
