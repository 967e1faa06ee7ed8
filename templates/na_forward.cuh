// Neighborhood attention forward (SPEC.md section 3), on CUDA cores, fp32 inside.
//
// A block owns kRows consecutive queries of one dilation group of one (batch, head). Their windows cover the
// keys [first(t0), last(t1)], which it stages kChunk rows at a time (keys and values as fp32 in shared
// memory); every staged key is in some query's window, and a key is read from global memory by about
// (kRows + kKernel - 1) / kRows blocks, the halo served by L2. Each lane group (kLanes lanes) owns kPerGroup
// queries, keeps q and the output accumulator in registers, and runs the online softmax over the keys of its
// window in each chunk: work and memory grow with L * kernel_size, and no score is ever stored.
//
// Writes out (B, H, L, D) and the row log-sum-exp (natural log) for the backward.
#pragma once

#include "na_common.cuh"
#include "na_forward_mma.cuh"
#include "na_forward_wgmma.cuh"

namespace attnjit {

template <class Cfg>
__device__ __forceinline__ void na_forward_lanes(const NaParams& p) {
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

  float q[S::kPerGroup][kVec], acc[S::kPerGroup][kVec], m[S::kPerGroup], l[S::kPerGroup];
#pragma unroll
  for (int r = 0; r < S::kPerGroup; ++r) {
    const int t = blk.t0 + group_id + r * S::kGroups;
    if (t < t_end) {
      na_load<Cfg, kVec>(p.query, na_row<Cfg>(blk, t), lane, q[r]);
    } else {
#pragma unroll
      for (int e = 0; e < kVec; ++e) q[r][e] = 0.0f;
    }
#pragma unroll
    for (int e = 0; e < kVec; ++e) acc[r][e] = 0.0f;
    m[r] = neg_inf();
    l[r] = 0.0f;
  }

  for (int c0 = first; c0 <= last; c0 += Cfg::kChunk) {
    const int rows = na_min(Cfg::kChunk, last + 1 - c0);
    __syncthreads();  // the previous chunk is no longer read
    na_stage<Cfg>(blk, p.key, p.value, c0, rows, keys, values);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < S::kPerGroup; ++r) {
      const int t = blk.t0 + group_id + r * S::kGroups;
      if (t >= t_end) continue;  // the whole lane group skips together
      const NaRange w = na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, t);
      const int j_end = na_min(w.last, c0 + rows - 1);
      for (int j = mta_max(w.first, c0); j <= j_end; ++j) {
        float k[kVec], v[kVec];
        na_read<Cfg::kLanes, kVec>(keys + (j - c0) * S::kPitch, lane, k);
        const float s = group.sum(na_dot<kVec>(q[r], k)) * p.scale_log2;
        // The running max changes a few times per window (about ln k on random scores): rescale the sum and
        // the accumulator only then, not on every key (the group's lanes hold the same s: no divergence).
        if (s > m[r]) {
          const float alpha = fast_exp2(m[r] - s);  // 0 on the first key (m = -inf)
          l[r] *= alpha;
#pragma unroll
          for (int e = 0; e < kVec; ++e) acc[r][e] *= alpha;
          m[r] = s;
        }
        const float pr = fast_exp2(s - m[r]);
        l[r] += pr;
        na_read<Cfg::kLanes, kVec>(values + (j - c0) * S::kPitch, lane, v);
#pragma unroll
        for (int e = 0; e < kVec; ++e) acc[r][e] = fmaf(pr, v[e], acc[r][e]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < S::kPerGroup; ++r) {
    const int t = blk.t0 + group_id + r * S::kGroups;
    if (t >= t_end) continue;
    na_store<Cfg, kVec>(p.out_write, na_row<Cfg>(blk, t), lane, acc[r], 1.0f / l[r]);  // l >= 1: the max's term
    if (group.lane == 0) p.logsumexp[na_stat_index<Cfg>(blk, t)] = (m[r] + log2f(l[r])) * kLn2;
  }
}

// kLanes = 0 selects the tensor-core forward (na_forward_mma.cuh), kNaWarpgroupLanes the warpgroup one
// (na_forward_wgmma.cuh, sm_90a), else lane groups on CUDA cores.
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, na_forward_min_blocks(Cfg::kLanes, Cfg::kThreads, Cfg::kChunk, Cfg::kD, Cfg::kKernel)) na_forward(const __grid_constant__ NaParams p) {
  if constexpr (Cfg::kLanes == kNaWarpgroupLanes) {
    na_forward_wgmma<Cfg>(p);
  } else if constexpr (Cfg::kLanes == 0) {
    na_forward_mma<Cfg>(p);
  } else {
    na_forward_lanes<Cfg>(p);
  }
}

}  // namespace attnjit
