// Neighborhood attention backward in one kernel on tensor cores (f16/bf16, D a multiple of 16 up to 128), for
// windows narrow enough that the backward is bound by memory: every input row is read from DRAM once and
// every gradient written once, where the two-kernel backward (na_backward_mma.cuh, na_backward.cuh) reads
// the queries, keys and values in each kernel and passes delta through global memory.
//
// A block works through a strip of kNaFusedStrip tiles of one dilation group, staging tile i + 1 with cp.async
// while it computes tile i (two buffers). A tile is rows [t0, end), as queries and as keys. It stages:
//   the queries [q0, q0 + nq) that see its keys: Q, grad_out, out, log-sum-exp; then delta = grad_out . out
//   from shared memory, 4 rows per warp at a time (the block's own rows' delta also goes to the workspace,
//   which the two-kernel backward fills the same way);
//   the keys [k0, k0 + nk) that its queries see: K, V.
// Both ranges hold the tile's own rows; the halo rows are re-read by the neighbouring tiles, from L2.
// Then warp w, for the 16 rows t0 + 16w .., computes as queries (S = Q K^T, dP = dO V^T over its keys, 16 at
// a time) grad_q = scale * dS K, and as keys (S^T = K Q^T, dP^T = V dO^T over its queries) grad_v = P^T dO
// and grad_k = scale * dS^T Q. P is recomputed from the log-sum-exp; dS = P (dP - delta). Every gradient row
// has one owner and no atomics: the same bits on every run. Fragment layouts: templates/mma.cuh.
#pragma once

#include "na_mma.cuh"

namespace attnjit {

// Stages group rows [first, first + rows) of a tensor in T at na_mma_pitch with cp.async, rows up to kChunk
// zero. The caller commits the group and waits for it (then __syncthreads) before reading.
template <class Cfg>
__device__ __forceinline__ void na_stage_async(const NaBlock& blk, const void* from, int first, int rows,
                                               unsigned short* to) {
  using T = typename Cfg::T;
  constexpr int kPitch = na_mma_pitch(Cfg::kD), kPacks = Cfg::kD / 8;
  for (int i = threadIdx.x; i < Cfg::kChunk * kPacks; i += Cfg::kThreads) {
    const int r = i / kPacks, col = (i % kPacks) * 8;
    const bool valid = r < rows;
    const long long at = valid ? na_row<Cfg>(blk, first + r) + col : 0;
    cp_async_16(to + r * kPitch + col, static_cast<const T*>(from) + at, valid);
  }
}

// One of the two staging buffers (na_backward_fused_smem_bytes / 2 bytes each).
struct NaFusedBuffers {
  unsigned short *queries, *douts, *outs, *keys, *values;  // [kChunk][na_mma_pitch] each, T's bits
  float *lse2, *deltas;                                     // [kChunk] each; log-sum-exp in base 2
};

template <class Cfg>
__device__ __forceinline__ NaFusedBuffers na_fused_buffers(int which) {
  constexpr int kPitch = na_mma_pitch(Cfg::kD);
  extern __shared__ float4 smem4[];
  unsigned char* base = reinterpret_cast<unsigned char*>(smem4) + which * (na_backward_fused_smem_bytes(Cfg::kChunk, Cfg::kD) / 2);
  NaFusedBuffers b;
  b.queries = reinterpret_cast<unsigned short*>(base);
  b.douts = b.queries + Cfg::kChunk * kPitch;
  b.outs = b.douts + Cfg::kChunk * kPitch;
  b.keys = b.outs + Cfg::kChunk * kPitch;
  b.values = b.keys + Cfg::kChunk * kPitch;
  b.lse2 = reinterpret_cast<float*>(b.values + Cfg::kChunk * kPitch);
  b.deltas = b.lse2 + Cfg::kChunk;
  return b;
}

// The rows a tile of the strip owns and the ranges it stages.
struct NaFusedTile {
  int t0, end, q0, nq, k0, nk;
};

template <class Cfg>
__device__ __forceinline__ NaFusedTile na_fused_tile(const NaBlock& blk, int t0) {
  NaFusedTile t;
  t.t0 = t0;
  t.end = na_min(blk.n, t0 + Cfg::kRows);
  t.q0 = na_query_range(Cfg::kWindow, Cfg::kKernel, blk.n, t0).first;
  t.nq = na_query_range(Cfg::kWindow, Cfg::kKernel, blk.n, t.end - 1).last + 1 - t.q0;
  t.k0 = na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, t0).first;
  t.nk = na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, t.end - 1).last + 1 - t.k0;
  return t;
}

template <class Cfg>
__device__ __forceinline__ void na_fused_stage(const NaParams& p, const NaBlock& blk, const NaFusedTile& t,
                                               const NaFusedBuffers& b) {
  na_stage_async<Cfg>(blk, p.query, t.q0, t.nq, b.queries);
  na_stage_async<Cfg>(blk, p.grad_out, t.q0, t.nq, b.douts);
  na_stage_async<Cfg>(blk, p.out, t.q0, t.nq, b.outs);
  na_stage_async<Cfg>(blk, p.key, t.k0, t.nk, b.keys);
  na_stage_async<Cfg>(blk, p.value, t.k0, t.nk, b.values);
  cp_async_commit();
}

// The tile's delta, then grad_q, grad_k, grad_v of its rows, from `b` (staged and waited for). The caller
// synchronizes the block before `b` is staged again.
template <class Cfg>
__device__ __forceinline__ void na_fused_compute(const NaParams& p, const NaBlock& blk, const NaFusedTile& t,
                                                 const NaFusedBuffers& b) {
  using T = typename Cfg::T;
  constexpr int kPitch = na_mma_pitch(Cfg::kD), kDTiles = Cfg::kD / 8, kWarps = Cfg::kThreads / 32;
  const int end = t.end, q0 = t.q0, nq = t.nq, k0 = t.k0;
  unsigned short *queries = b.queries, *douts = b.douts, *outs = b.outs, *keys = b.keys, *values = b.values;
  float *lse2 = b.lse2, *deltas = b.deltas;
  auto keys_of = [&](int q) { return na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, q); };
  auto queries_of = [&](int s) { return na_query_range(Cfg::kWindow, Cfg::kKernel, blk.n, s); };
  const int t_begin = t.t0;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  // Delta and log-sum-exp of each staged query (zero past nq): 8 lanes per row, kD / 8 elements each.
  constexpr int kPer = Cfg::kD / 8;
  for (int r0 = 4 * warp; r0 < Cfg::kChunk; r0 += 4 * kWarps) {
    const int r = r0 + lane / 8, part = lane % 8;
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
      lse2[r] = r < nq ? p.logsumexp[na_stat_index<Cfg>(blk, q0 + r)] * kLog2e : 0.0f;
      const int t = q0 + r;  // the tile's own rows also go to the workspace, as the query-gradient kernel's do
      if (t >= t_begin && t < end) p.delta[na_stat_index<Cfg>(blk, t)] = partial;
    }
  }
  __syncthreads();

  const int w0 = t_begin + 16 * warp;
  if (w0 >= end) return;  // warp-uniform; the caller's barrier follows
  const int w_last = na_min(w0 + 15, end - 1);
  const int rows[2] = {w0 + g, w0 + g + 8};  // this lane's two rows, as queries and then as keys

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
      na_mma_abt_shared<Cfg>(q_rows, keys + j0 * kPitch, g, c, s);
      na_mma_abt_shared<Cfg>(dout_rows, values + j0 * kPitch, g, c, dp);
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
    na_store_c<Cfg>(p.grad_query, blk, rows, end, c, dq, {p.scale, p.scale});
  }

  {  // as keys: grad_k and grad_v over the warp's queries [queries_of(w0).first, queries_of(w_last).last]
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
      na_mma_abt_shared<Cfg>(k_rows, queries + i0 * kPitch, g, c, s);
      na_mma_abt_shared<Cfg>(v_rows, douts + i0 * kPitch, g, c, dp);
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = rows[e >> 1], qi = i0 + nt * 8 + 2 * c + (e & 1);
          bool seen = key < end && qi < nq;
          if (seen) {
            const NaRange w = keys_of(q0 + qi);
            seen = key >= w.first && key <= w.last;
          }
          const float pr = seen ? fast_exp2(fmaf(s[nt][e], p.scale_log2, -lse2[qi])) : 0.0f;
          s[nt][e] = pr;                             // P^T
          dp[nt][e] = pr * (dp[nt][e] - deltas[qi]);  // dS^T
        }
      }
      na_mma_xv<Cfg>(s, douts + i0 * kPitch, lane, dv);
      na_mma_xv<Cfg>(dp, queries + i0 * kPitch, lane, dk);
    }
    na_store_c<Cfg>(p.grad_key, blk, rows, end, c, dk, {p.scale, p.scale});
    na_store_c<Cfg>(p.grad_value, blk, rows, end, c, dv, {1.0f, 1.0f});
  }
}

template <class Cfg>
__device__ __forceinline__ void na_backward_fused_mma(const NaParams& p) {
  using T = typename Cfg::T;
  static_assert(na_backward_fused_eligible(sizeof(T), Cfg::kD), "tensor cores take f16/bf16 and D % 16 == 0, D <= 128");
  static_assert(Cfg::kRows == Cfg::kThreads / 2, "16 rows per warp");
  static_assert(Cfg::kChunk >= na_fused_staged_rows(Cfg::kWindow, Cfg::kKernel, Cfg::kRows,
                                                    na_group_length(Cfg::kL, Cfg::kDil, 0)) &&
                    Cfg::kChunk % 16 == 0,
                "tile_j holds either side's whole range");
  // The block's strip: kNaFusedStrip consecutive tiles of one (batch*head, dilation group).
  constexpr int kTiles = mta_ceil_div(na_group_length(Cfg::kL, Cfg::kDil, 0), Cfg::kRows);
  constexpr int kStrips = mta_ceil_div(kTiles, kNaFusedStrip);
  NaBlock blk;
  int x = blockIdx.x;
  const int strip = x % kStrips;
  x /= kStrips;
  blk.g = x % Cfg::kDil;
  blk.bh = x / Cfg::kDil;
  blk.n = na_group_length(Cfg::kL, Cfg::kDil, blk.g);
  blk.plane = static_cast<long long>(blk.bh) * Cfg::kL * Cfg::kD;
  blk.t0 = strip * kNaFusedStrip * Cfg::kRows;
  const int strip_end = na_min(blk.n, blk.t0 + kNaFusedStrip * Cfg::kRows);
  if (blk.t0 >= strip_end) return;  // a short group's strips past its end

  // Double-buffered: tile i + 1 is staged while tile i is computed.
  na_fused_stage<Cfg>(p, blk, na_fused_tile<Cfg>(blk, blk.t0), na_fused_buffers<Cfg>(0));
  int which = 0;
  for (int t0 = blk.t0; t0 < strip_end; t0 += Cfg::kRows, which ^= 1) {
    const bool next = t0 + Cfg::kRows < strip_end;
    if (next) na_fused_stage<Cfg>(p, blk, na_fused_tile<Cfg>(blk, t0 + Cfg::kRows), na_fused_buffers<Cfg>(which ^ 1));
    if (next) {
      cp_async_wait_group<1>();  // this tile's copies landed; the next tile's may still be in flight
    } else {
      cp_async_wait_group<0>();
    }
    __syncthreads();
    na_fused_compute<Cfg>(p, blk, na_fused_tile<Cfg>(blk, t0), na_fused_buffers<Cfg>(which));
    __syncthreads();  // the buffer is free for the tile after next
  }
}

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) na_backward_fused(const __grid_constant__ NaParams p) {
  na_backward_fused_mma<Cfg>(p);
}

}  // namespace attnjit
