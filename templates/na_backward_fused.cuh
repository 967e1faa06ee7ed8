// Neighborhood attention backward in one kernel on tensor cores (f16/bf16, D a multiple of 16 up to 128), for
// windows narrow enough that the backward is bound by memory: every input row is read from DRAM once and
// every gradient written once, where the two-kernel backward (na_backward_mma.cuh, na_backward.cuh) reads
// the queries, keys and values in each kernel and passes delta through global memory.
//
// A block owns rows [t0, end) of one dilation group, as queries and as keys. It stages, with cp.async, in two
// groups:
//   grad_out and out of the queries [q0, q0 + nq) that see its keys, then, while the second group arrives,
//   delta = grad_out . out from shared memory, 4 rows per warp at a time, beside their log-sum-exp (loaded
//   into registers before the first wait) (the block's own rows' delta also goes to the workspace, which the
//   two-kernel backward fills the same way);
//   Q of the same queries, and K, V of the keys [k0, k0 + nk) that its queries see.
// Both ranges hold the block's own rows; the halo rows are re-read by the neighbouring blocks, from L2.
// Then warp w, for the 16 rows t0 + 16w .., computes as queries (S = Q K^T, dP = dO V^T over its keys, 16 at
// a time) grad_q = scale * dS K, and as keys (S^T = K Q^T, dP^T = V dO^T over its queries) grad_v = P^T dO
// and grad_k = scale * dS^T Q. P is recomputed from the log-sum-exp; dS = P (dP - delta). Every gradient row
// has one owner and no atomics: the same bits on every run. The gradients leave through the staged `out`
// rows (dead once delta is known), 16 per warp, as 16-byte stores of whole rows. Fragment layouts: templates/mma.cuh.
#pragma once

#include "na_mma.cuh"

namespace attnjit {

template <class Cfg>
__device__ __forceinline__ void na_backward_fused_mma(const NaParams& p) {
  using T = typename Cfg::T;
  static_assert(na_backward_fused_eligible(sizeof(T), Cfg::kD), "tensor cores take f16/bf16 and D % 16 == 0, D <= 128");
  static_assert(Cfg::kRows == Cfg::kThreads / 2, "16 rows per warp");
  static_assert(Cfg::kChunk >= na_fused_staged_rows(Cfg::kWindow, Cfg::kKernel, Cfg::kRows,
                                                    na_group_length(Cfg::kL, Cfg::kDil, 0)) &&
                    Cfg::kChunk % 16 == 0,
                "tile_j holds either side's whole range");
  constexpr int kPitch = na_mma_pitch(Cfg::kD), kDTiles = Cfg::kD / 8, kWarps = Cfg::kThreads / 32;
  const NaBlock blk = na_block<Cfg>();
  if (blk.t0 >= blk.n) return;
  const int end = na_min(blk.n, blk.t0 + Cfg::kRows);
  auto keys_of = [&](int t) { return na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, t); };
  auto queries_of = [&](int s) { return na_query_range(Cfg::kWindow, Cfg::kKernel, blk.n, s); };
  const int q0 = queries_of(blk.t0).first, nq = queries_of(end - 1).last + 1 - q0;
  const int k0 = keys_of(blk.t0).first, nk = keys_of(end - 1).last + 1 - k0;

  extern __shared__ float4 smem4[];
  unsigned short* queries = reinterpret_cast<unsigned short*>(smem4);  // [kChunk][kPitch] each, T's bits
  unsigned short* douts = queries + Cfg::kChunk * kPitch;
  unsigned short* keys = douts + Cfg::kChunk * kPitch;
  unsigned short* values = keys + Cfg::kChunk * kPitch;
  unsigned short* outs = values + Cfg::kChunk * kPitch;                  // out of the staged queries, for delta
  float* lse2 = reinterpret_cast<float*>(outs + Cfg::kChunk * kPitch);   // [kChunk], base 2
  float* deltas = lse2 + Cfg::kChunk;                                     // [kChunk]
  // Two groups: what delta needs first, so that delta is computed while Q, K and V still arrive.
  na_stage_async<Cfg>(blk, p.grad_out, q0, nq, douts);
  na_stage_async<Cfg>(blk, p.out, q0, nq, outs);
  cp_async_commit();
  na_stage_async<Cfg>(blk, p.query, q0, nq, queries);
  na_stage_async<Cfg>(blk, p.key, k0, nk, keys);
  na_stage_async<Cfg>(blk, p.value, k0, nk, values);
  cp_async_commit();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  // Delta and log-sum-exp of each staged query (zero past nq): 8 lanes per row, kD / 8 elements each, rows
  // r0 + lane / 8 for r0 = 4 * warp, + 4 * kWarps, ... The log-sum-exp loads are issued here, before the wait,
  // so that their latency passes under the staging's (waited for in the loop, they were an eighth of the
  // kernel's stalls).
  constexpr int kPer = Cfg::kD / 8, kRounds = (Cfg::kChunk + 4 * kWarps - 1) / (4 * kWarps);
  float row_lse[kRounds];
#pragma unroll
  for (int i = 0; i < kRounds; ++i) {
    const int r = 4 * warp + 4 * kWarps * i + lane / 8;
    row_lse[i] = r < nq ? p.logsumexp[na_stat_index<Cfg>(blk, q0 + r)] : 0.0f;
  }
  cp_async_wait_group<1>();  // grad_out and out
  __syncthreads();
#pragma unroll
  for (int i = 0; i < kRounds; ++i) {
    const int r = 4 * warp + 4 * kWarps * i + lane / 8, part = lane % 8;
    if (r >= Cfg::kChunk) break;  // warp-uniform (a row block of 4 lies in one warp)
    float partial = 0.0f;
    if (r < nq) {
      const unsigned short* o = outs + r * kPitch + part * kPer;
      const unsigned short* dout = douts + r * kPitch + part * kPer;
#pragma unroll
      for (int e = 0; e < kPer; e += 2) {
        const unsigned ow = *reinterpret_cast<const unsigned*>(o + e), dw = *reinterpret_cast<const unsigned*>(dout + e);
        partial = fmaf(to_float(T{static_cast<unsigned short>(ow & 0xffff)}), to_float(T{static_cast<unsigned short>(dw & 0xffff)}),
                       partial);
        partial = fmaf(to_float(T{static_cast<unsigned short>(ow >> 16)}), to_float(T{static_cast<unsigned short>(dw >> 16)}),
                       partial);
      }
    }
    partial += __shfl_xor_sync(kFullMask, partial, 1);  // the row's 8 lanes, in a fixed order
    partial += __shfl_xor_sync(kFullMask, partial, 2);
    partial += __shfl_xor_sync(kFullMask, partial, 4);
    if (part == 0) {
      deltas[r] = partial;
      lse2[r] = row_lse[i] * kLog2e;
      const int t = q0 + r;  // the block's own rows also go to the workspace, as the query-gradient kernel's do
      if (t >= blk.t0 && t < end) p.delta[na_stat_index<Cfg>(blk, t)] = partial;
    }
  }
  cp_async_wait_group<0>();  // Q, K, V
  __syncthreads();

  const int w0 = blk.t0 + 16 * warp;
  if (w0 >= end) return;  // warp-uniform; no barrier follows
  const int w_last = na_min(w0 + 15, end - 1);
  const int rows[2] = {w0 + g, w0 + g + 8};  // this lane's two rows, as queries and then as keys
  unsigned short* out_tile = outs + 16 * warp * kPitch;  // `out` is staged only for delta: the warp's gradients leave through it

  {  // as queries: grad_q over the warp's keys [keys_of(w0).first, keys_of(w_last).last], 16 at a time
    NaRange window[2];
    float row_lse2[2], row_delta[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const bool valid = rows[r] < end;
      window[r] = valid ? keys_of(rows[r]) : NaRange{1, 0};
      row_lse2[r] = valid ? lse2[rows[r] - q0] : 0.0f;
      row_delta[r] = valid ? deltas[rows[r] - q0] : 0.0f;
    }
    const unsigned short* q_rows = queries + (w0 - q0) * kPitch;
    const unsigned short* dout_rows = douts + (w0 - q0) * kPitch;
    float dq[kDTiles][4];
#pragma unroll
    for (int dt = 0; dt < kDTiles; ++dt) dq[dt][0] = dq[dt][1] = dq[dt][2] = dq[dt][3] = 0.0f;
    const int last = keys_of(w_last).last - k0;
    for (int j0 = (keys_of(w0).first - k0) / 16 * 16; j0 <= last; j0 += 16) {
      float s[2][4], dp[2][4];  // S and dP: (row g / g + 8) x (key k0 + j0 + nt * 8 + 2c, + 1)
      na_mma_abt_shared<Cfg>(q_rows, keys + j0 * kPitch, lane, s);
      na_mma_abt_shared<Cfg>(dout_rows, values + j0 * kPitch, lane, dp);
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = e >> 1, j = k0 + j0 + nt * 8 + 2 * c + (e & 1);
          const bool seen = j >= window[r].first && j <= window[r].last;
          const float pr = seen ? fast_exp2(fmaf(s[nt][e], p.scale_log2, -row_lse2[r])) : 0.0f;
          s[nt][e] = pr * (dp[nt][e] - row_delta[r]);  // dS
        }
      }
      na_mma_xv<Cfg>(s, keys + j0 * kPitch, lane, dq);
    }
    na_store_tile<Cfg>(p.grad_query, blk, w0, end, lane, dq, {p.scale, p.scale}, out_tile);
  }

  {  // as keys: grad_k and grad_v over the warp's queries [queries_of(w0).first, queries_of(w_last).last]
    NaRange seen_by[2];  // the queries whose windows hold this lane's two keys (none past the block's end)
#pragma unroll
    for (int r = 0; r < 2; ++r) seen_by[r] = rows[r] < end ? queries_of(rows[r]) : NaRange{1, 0};
    const unsigned short* k_rows = keys + (w0 - k0) * kPitch;
    const unsigned short* v_rows = values + (w0 - k0) * kPitch;
    float dk[kDTiles][4], dv[kDTiles][4];
#pragma unroll
    for (int dt = 0; dt < kDTiles; ++dt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) dk[dt][e] = dv[dt][e] = 0.0f;
    }
    const int last = queries_of(w_last).last - q0;
    for (int i0 = (queries_of(w0).first - q0) / 16 * 16; i0 <= last; i0 += 16) {
      float s[2][4], dp[2][4];  // S^T and dP^T: (key g / g + 8) x (query q0 + i0 + nt * 8 + 2c, + 1)
      na_mma_abt_shared<Cfg>(k_rows, queries + i0 * kPitch, lane, s);
      na_mma_abt_shared<Cfg>(v_rows, douts + i0 * kPitch, lane, dp);
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int qi = i0 + nt * 8 + 2 * c + (e & 1);  // seen_by ends by q0 + nq - 1: zero rows fail
          const bool seen = q0 + qi >= seen_by[e >> 1].first && q0 + qi <= seen_by[e >> 1].last;
          const float pr = seen ? fast_exp2(fmaf(s[nt][e], p.scale_log2, -lse2[qi])) : 0.0f;
          s[nt][e] = pr;                             // P^T
          dp[nt][e] = pr * (dp[nt][e] - deltas[qi]);  // dS^T
        }
      }
      na_mma_xv<Cfg>(s, douts + i0 * kPitch, lane, dv);
      na_mma_xv<Cfg>(dp, queries + i0 * kPitch, lane, dk);
    }
    na_store_tile<Cfg>(p.grad_key, blk, w0, end, lane, dk, {p.scale, p.scale}, out_tile);
    na_store_tile<Cfg>(p.grad_value, blk, w0, end, lane, dv, {1.0f, 1.0f}, out_tile);
  }
}

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) na_backward_fused(const __grid_constant__ NaParams p) {
  na_backward_fused_mma<Cfg>(p);
}

}  // namespace attnjit
