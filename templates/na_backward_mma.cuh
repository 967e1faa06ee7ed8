// Neighborhood attention backward on tensor cores (f16/bf16, D a multiple of 16 up to 64), for wide windows:
// FlashAttention-2's backward restricted to the band, as two kernels without atomics (every gradient row has
// one owner, so the results are the same bits on every run). Both recompute P from the forward's log-sum-exp.
// Fragment layouts: templates/mma.cuh. A warp owns 16 rows; a lane holds rows g and g + 8 of them.
//
//   na_backward_query_mma: a block owns 16 * warps queries (Q's and grad_out's A fragments in registers,
//     delta = grad_out . out per row written to the workspace) and stages kChunk keys and values at a time;
//     S = Q K^T and dP = dO V^T (B fragments: 32-bit loads of K and V rows), dS = P (dP - delta),
//     dQ += dS K (dS repacked as A fragments, K's B fragments by ldmatrix.trans).
//   na_backward_key_mma: a block owns 16 * warps keys (K's and V's A fragments in registers) and stages the
//     kChunk queries, grad_out rows, log-sum-exp and delta at a time of the queries that see them;
//     S^T = K Q^T and dP^T = V dO^T, dV += P^T dO and dK += dS^T Q (B fragments by ldmatrix.trans).
#pragma once

#include "na_mma.cuh"

namespace attnjit {

template <class Cfg>
__device__ __forceinline__ void na_backward_query_mma(const NaParams& p) {
  using T = typename Cfg::T;
  static_assert(na_backward_mma_eligible(sizeof(T), Cfg::kD), "tensor cores take f16/bf16 and D % 16 == 0, D <= 64");
  static_assert(Cfg::kRows == Cfg::kThreads / 2 && Cfg::kChunk % 16 == 0, "16 rows per warp, whole k-steps of keys");
  constexpr int kPitch = na_mma_pitch(Cfg::kD), kNTiles = Cfg::kChunk / 8, kDTiles = Cfg::kD / 8;
  const NaBlock blk = na_block<Cfg>();
  if (blk.t0 >= blk.n) return;
  extern __shared__ float4 smem4[];
  unsigned short* keys = reinterpret_cast<unsigned short*>(smem4);  // [kChunk][kPitch]
  unsigned short* values = keys + Cfg::kChunk * kPitch;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  const NaWarpBand band = na_warp_band<Cfg, true>(blk, warp, g);
  const int t_end = band.end, first = band.first, last = band.last;
  const int(&rows_t)[2] = band.rows;
  NaRange window[2];
  float lse2[2], delta[2];
  unsigned qa[Cfg::kD / 16][4], da[Cfg::kD / 16][4], oa[Cfg::kD / 16][4];
  na_load_a<Cfg>(p.query, blk, rows_t, t_end, c, qa);
  na_load_a<Cfg>(p.grad_out, blk, rows_t, t_end, c, da);
  na_load_a<Cfg>(p.out, blk, rows_t, t_end, c, oa);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    // delta = grad_out . out over the row: this lane's elements (registers r and r + 2 of each k-step), then
    // the quad that holds the row.
    float partial = 0.0f;
#pragma unroll
    for (int ks = 0; ks < Cfg::kD / 16; ++ks) {
#pragma unroll
      for (int reg = r; reg < 4; reg += 2) {
        const T d_lo{static_cast<unsigned short>(da[ks][reg] & 0xffff)}, d_hi{static_cast<unsigned short>(da[ks][reg] >> 16)};
        const T o_lo{static_cast<unsigned short>(oa[ks][reg] & 0xffff)}, o_hi{static_cast<unsigned short>(oa[ks][reg] >> 16)};
        partial = fmaf(to_float(d_lo), to_float(o_lo), partial);
        partial = fmaf(to_float(d_hi), to_float(o_hi), partial);
      }
    }
    partial += __shfl_xor_sync(kFullMask, partial, 1);
    partial += __shfl_xor_sync(kFullMask, partial, 2);
    delta[r] = partial;
    const bool valid = rows_t[r] < t_end;
    window[r] = valid ? na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, rows_t[r]) : NaRange{1, 0};
    lse2[r] = valid ? p.logsumexp[na_stat_index<Cfg>(blk, rows_t[r])] * kLog2e : 0.0f;
    if (valid && c == 0) p.delta[na_stat_index<Cfg>(blk, rows_t[r])] = partial;
  }
  float dq[kDTiles][4];
#pragma unroll
  for (int dt = 0; dt < kDTiles; ++dt) dq[dt][0] = dq[dt][1] = dq[dt][2] = dq[dt][3] = 0.0f;

  for (int c0 = first; c0 <= last; c0 += Cfg::kChunk) {
    const int rows = na_min(Cfg::kChunk, last + 1 - c0);
    __syncthreads();
    na_stage_t<Cfg>(blk, p.key, p.value, c0, rows, keys, values);
    __syncthreads();
    if (band.misses(c0, rows)) continue;  // warp-uniform: no row sees this tile
    float s[kNTiles][4], dp[kNTiles][4];
    na_mma_abt<Cfg>(qa, keys, lane, s);
    na_mma_abt<Cfg>(da, values, lane, dp);
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1, j = c0 + nt * 8 + 2 * c + (e & 1);
        const bool seen = j >= window[r].first && j <= window[r].last;
        const float pr = seen ? fast_exp2(fmaf(s[nt][e], p.scale_log2, -lse2[r])) : 0.0f;
        s[nt][e] = pr * (dp[nt][e] - delta[r]);  // dS
      }
    }
    na_mma_xv<Cfg>(s, keys, lane, dq);
  }
  na_store_c<Cfg>(p.grad_query, blk, rows_t, t_end, c, dq, {p.scale, p.scale});
}

template <class Cfg>
__device__ __forceinline__ void na_backward_key_mma(const NaParams& p) {
  using T = typename Cfg::T;
  static_assert(na_backward_mma_eligible(sizeof(T), Cfg::kD), "tensor cores take f16/bf16 and D % 16 == 0, D <= 64");
  static_assert(Cfg::kRows == Cfg::kThreads / 2 && Cfg::kChunk % 16 == 0, "16 rows per warp, whole k-steps of queries");
  constexpr int kPitch = na_mma_pitch(Cfg::kD), kNTiles = Cfg::kChunk / 8, kDTiles = Cfg::kD / 8;
  const NaBlock blk = na_block<Cfg>();  // t0: the block's first key
  if (blk.t0 >= blk.n) return;
  extern __shared__ float4 smem4[];
  unsigned short* queries = reinterpret_cast<unsigned short*>(smem4);  // [kChunk][kPitch]
  unsigned short* douts = queries + Cfg::kChunk * kPitch;              // [kChunk][kPitch]
  float* lse2 = reinterpret_cast<float*>(douts + Cfg::kChunk * kPitch);  // [kChunk]
  float* deltas = lse2 + Cfg::kChunk;                                   // [kChunk]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  const NaWarpBand band = na_warp_band<Cfg, false>(blk, warp, g);
  const int s_end = band.end, first = band.first, last = band.last;
  const int(&rows_s)[2] = band.rows;
  NaRange seen_by[2];  // the queries whose windows hold this lane's two keys (none past the group's end)
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    seen_by[r] = rows_s[r] < s_end ? na_query_range(Cfg::kWindow, Cfg::kKernel, blk.n, rows_s[r]) : NaRange{1, 0};
  }
  unsigned ka[Cfg::kD / 16][4], va[Cfg::kD / 16][4];
  na_load_a<Cfg>(p.key, blk, rows_s, s_end, c, ka);
  na_load_a<Cfg>(p.value, blk, rows_s, s_end, c, va);
  float dk[kDTiles][4], dv[kDTiles][4];
#pragma unroll
  for (int dt = 0; dt < kDTiles; ++dt) {
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[dt][e] = dv[dt][e] = 0.0f;
  }

  for (int c0 = first; c0 <= last; c0 += Cfg::kChunk) {
    const int rows = na_min(Cfg::kChunk, last + 1 - c0);
    __syncthreads();
    na_stage_t<Cfg>(blk, p.query, p.grad_out, c0, rows, queries, douts);
    for (int r = threadIdx.x; r < Cfg::kChunk; r += Cfg::kThreads) {
      const bool valid = r < rows;
      lse2[r] = valid ? p.logsumexp[na_stat_index<Cfg>(blk, c0 + r)] * kLog2e : 0.0f;
      deltas[r] = valid ? p.delta[na_stat_index<Cfg>(blk, c0 + r)] : 0.0f;
    }
    __syncthreads();
    if (band.misses(c0, rows)) continue;  // warp-uniform: no row sees this tile
    float s[kNTiles][4], dp[kNTiles][4];  // S^T, dP^T: (key g / g + 8) x (query nt * 8 + 2c, + 1)
    na_mma_abt<Cfg>(ka, queries, lane, s);
    na_mma_abt<Cfg>(va, douts, lane, dp);
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int q = nt * 8 + 2 * c + (e & 1), i = c0 + q;  // seen_by ends by `last`: zero rows fail
        const bool seen = i >= seen_by[e >> 1].first && i <= seen_by[e >> 1].last;
        const float pr = seen ? fast_exp2(fmaf(s[nt][e], p.scale_log2, -lse2[q])) : 0.0f;
        s[nt][e] = pr;                          // P^T
        dp[nt][e] = pr * (dp[nt][e] - deltas[q]);  // dS^T
      }
    }
    na_mma_xv<Cfg>(s, douts, lane, dv);
    na_mma_xv<Cfg>(dp, queries, lane, dk);
  }
  na_store_c<Cfg>(p.grad_key, blk, rows_s, s_end, c, dk, {p.scale, p.scale});
  na_store_c<Cfg>(p.grad_value, blk, rows_s, s_end, c, dv, {1.0f, 1.0f});
}

}  // namespace attnjit
