// Neighborhood attention backward, in two kernels that recompute each window's probabilities from the
// forward's log-sum-exp (P_ij = exp(scale q_i.k_j - lse_i)); no score, probability or L x L tensor is stored,
// and no atomics: every gradient row is owned by one lane group, so the results are the same bits each run.
//
//   na_backward_query (first): delta_i = grad_out_i . out_i (into the workspace), and
//     grad_q_i = scale * sum_j P_ij (grad_out_i . v_j - delta_i) k_j over i's window;
//     blocks, staging and lane groups as the forward's (keys and values staged).
//   na_backward_key (second): for each key s, over the queries whose window holds it (na_query_range),
//     grad_v_s = sum_i P_is grad_out_i and grad_k_s = scale * sum_i P_is (grad_out_i . v_s - delta_i) q_i;
//     a block owns kRows keys and stages the queries, grad_out, lse and delta they need.
#pragma once

#include "na_backward_mma.cuh"
#include "na_common.cuh"

namespace attnjit {

template <class Cfg>
__device__ __forceinline__ void na_backward_query_lanes(const NaParams& p) {
  using S = NaShape<Cfg>;
  constexpr int kVec = S::kVec;
  const NaBlock blk = na_block<Cfg>();
  if (blk.t0 >= blk.n) return;
  extern __shared__ float4 smem4[];
  float* keys = reinterpret_cast<float*>(smem4);  // [kChunk][kPitch]
  float* values = keys + Cfg::kChunk * S::kPitch;  // [kChunk][kPitch]

  const LaneGroup<Cfg::kLanes> group;
  const int group_id = threadIdx.x / Cfg::kLanes, lane = group.lane;
  const int t_end = na_min(blk.n, blk.t0 + Cfg::kRows);
  const int first = na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, blk.t0).first;
  const int last = na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, t_end - 1).last;

  float q[S::kPerGroup][kVec], dout[S::kPerGroup][kVec], dq[S::kPerGroup][kVec];
  float lse2[S::kPerGroup], delta[S::kPerGroup];
#pragma unroll
  for (int r = 0; r < S::kPerGroup; ++r) {
    const int t = blk.t0 + group_id + r * S::kGroups;
#pragma unroll
    for (int e = 0; e < kVec; ++e) dq[r][e] = 0.0f;
    lse2[r] = delta[r] = 0.0f;
    if (t >= t_end) {
#pragma unroll
      for (int e = 0; e < kVec; ++e) q[r][e] = dout[r][e] = 0.0f;
      continue;
    }
    const long long row = na_row<Cfg>(blk, t);
    float o[kVec];
    na_load<Cfg, kVec>(p.query, row, lane, q[r]);
    na_load<Cfg, kVec>(p.grad_out, row, lane, dout[r]);
    na_load<Cfg, kVec>(p.out, row, lane, o);
    delta[r] = group.sum(na_dot<kVec>(dout[r], o));
    const int stat = na_stat_index<Cfg>(blk, t);
    lse2[r] = p.logsumexp[stat] * kLog2e;
    if (group.lane == 0) p.delta[stat] = delta[r];
  }

  for (int c0 = first; c0 <= last; c0 += Cfg::kChunk) {
    const int rows = na_min(Cfg::kChunk, last + 1 - c0);
    __syncthreads();
    na_stage<Cfg>(blk, p.key, p.value, c0, rows, keys, values);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < S::kPerGroup; ++r) {
      const int t = blk.t0 + group_id + r * S::kGroups;
      if (t >= t_end) continue;
      const NaRange w = na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, t);
      const int j_end = na_min(w.last, c0 + rows - 1);
      for (int j = mta_max(w.first, c0); j <= j_end; ++j) {
        float k[kVec], v[kVec];
        na_read<Cfg::kLanes, kVec>(keys + (j - c0) * S::kPitch, lane, k);
        na_read<Cfg::kLanes, kVec>(values + (j - c0) * S::kPitch, lane, v);
        const float s = group.sum(na_dot<kVec>(q[r], k));
        const float dp = group.sum(na_dot<kVec>(dout[r], v));
        const float ds = fast_exp2(fmaf(s, p.scale_log2, -lse2[r])) * (dp - delta[r]);
#pragma unroll
        for (int e = 0; e < kVec; ++e) dq[r][e] = fmaf(ds, k[e], dq[r][e]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < S::kPerGroup; ++r) {
    const int t = blk.t0 + group_id + r * S::kGroups;
    if (t < t_end) na_store<Cfg, kVec>(p.grad_query, na_row<Cfg>(blk, t), lane, dq[r], p.scale);
  }
}

// Stages the log-sum-exp (in base 2) and delta of group rows [first, first + count).
template <class Cfg>
__device__ void na_stage_stats(const NaBlock& blk, const NaParams& p, int first, int count, float* lse2,
                               float* delta) {
  for (int r = threadIdx.x; r < count; r += Cfg::kThreads) {
    const int stat = na_stat_index<Cfg>(blk, first + r);
    lse2[r] = p.logsumexp[stat] * kLog2e;
    delta[r] = p.delta[stat];
  }
}

template <class Cfg>
__device__ __forceinline__ void na_backward_key_lanes(const NaParams& p) {
  using S = NaShape<Cfg>;
  constexpr int kVec = S::kVec;
  const NaBlock blk = na_block<Cfg>();  // t0: the block's first key
  if (blk.t0 >= blk.n) return;
  extern __shared__ float4 smem4[];
  float* queries = reinterpret_cast<float*>(smem4);    // [kChunk][kPitch]
  float* douts = queries + Cfg::kChunk * S::kPitch;    // [kChunk][kPitch]
  float* lse2 = douts + Cfg::kChunk * S::kPitch;       // [kChunk]
  float* deltas = lse2 + Cfg::kChunk;                  // [kChunk]

  const LaneGroup<Cfg::kLanes> group;
  const int group_id = threadIdx.x / Cfg::kLanes, lane = group.lane;
  const int s_end = na_min(blk.n, blk.t0 + Cfg::kRows);
  const int first = na_query_range(Cfg::kWindow, Cfg::kKernel, blk.n, blk.t0).first;
  const int last = na_query_range(Cfg::kWindow, Cfg::kKernel, blk.n, s_end - 1).last;

  float k[S::kPerGroup][kVec], v[S::kPerGroup][kVec], dk[S::kPerGroup][kVec], dv[S::kPerGroup][kVec];
#pragma unroll
  for (int r = 0; r < S::kPerGroup; ++r) {
    const int s = blk.t0 + group_id + r * S::kGroups;
#pragma unroll
    for (int e = 0; e < kVec; ++e) dk[r][e] = dv[r][e] = 0.0f;
    if (s < s_end) {
      na_load<Cfg, kVec>(p.key, na_row<Cfg>(blk, s), lane, k[r]);
      na_load<Cfg, kVec>(p.value, na_row<Cfg>(blk, s), lane, v[r]);
    } else {
#pragma unroll
      for (int e = 0; e < kVec; ++e) k[r][e] = v[r][e] = 0.0f;
    }
  }

  for (int c0 = first; c0 <= last; c0 += Cfg::kChunk) {
    const int rows = na_min(Cfg::kChunk, last + 1 - c0);
    __syncthreads();
    na_stage<Cfg>(blk, p.query, p.grad_out, c0, rows, queries, douts);
    na_stage_stats<Cfg>(blk, p, c0, rows, lse2, deltas);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < S::kPerGroup; ++r) {
      const int s = blk.t0 + group_id + r * S::kGroups;
      if (s >= s_end) continue;
      const NaRange w = na_query_range(Cfg::kWindow, Cfg::kKernel, blk.n, s);
      const int i_end = na_min(w.last, c0 + rows - 1);
      for (int i = mta_max(w.first, c0); i <= i_end; ++i) {
        float q[kVec], dout[kVec];
        na_read<Cfg::kLanes, kVec>(queries + (i - c0) * S::kPitch, lane, q);
        na_read<Cfg::kLanes, kVec>(douts + (i - c0) * S::kPitch, lane, dout);
        const float score = group.sum(na_dot<kVec>(q, k[r]));
        const float dp = group.sum(na_dot<kVec>(dout, v[r]));
        const float pr = fast_exp2(fmaf(score, p.scale_log2, -lse2[i - c0]));
        const float ds = pr * (dp - deltas[i - c0]);
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          dv[r][e] = fmaf(pr, dout[e], dv[r][e]);
          dk[r][e] = fmaf(ds, q[e], dk[r][e]);
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < S::kPerGroup; ++r) {
    const int s = blk.t0 + group_id + r * S::kGroups;
    if (s >= s_end) continue;
    na_store<Cfg, kVec>(p.grad_key, na_row<Cfg>(blk, s), lane, dk[r], p.scale);
    na_store<Cfg, kVec>(p.grad_value, na_row<Cfg>(blk, s), lane, dv[r], 1.0f);
  }
}

// kLanes = 0 selects the tensor-core kernels (na_backward_mma.cuh), else lane groups on CUDA cores.
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) na_backward_query(const __grid_constant__ NaParams p) {
  if constexpr (Cfg::kLanes == 0) {
    na_backward_query_mma<Cfg>(p);
  } else {
    na_backward_query_lanes<Cfg>(p);
  }
}

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) na_backward_key(const __grid_constant__ NaParams p) {
  if constexpr (Cfg::kLanes == 0) {
    na_backward_key_mma<Cfg>(p);
  } else {
    na_backward_key_lanes<Cfg>(p);
  }
}

}  // namespace attnjit
