// mta, step 1 and 2 of SPEC.md section 1: the causal row normalization, and the statistics that let
// every later kernel recompute a normalized score from the raw one in one instruction or two:
//   softmax    P[i,j] = exp(Z[i,j] - lse[i])      stat = lse[i]  (log-sum-exp over j <= i)
//   sparsemax  P[i,j] = max(Z[i,j] - tau[i], 0)   stat = tau[i]
// Future entries (j > i) are never read; their probability is 0. Everything is fp32 whatever T is.
#pragma once

#include "common.cuh"
#include "mta_params.h"

namespace attnjit {

template <NormKind kNorm>
__device__ __forceinline__ float normalize(float z, float stat) {
  if constexpr (kNorm == NormKind::softmax) {
    return expf(z - stat);
  } else {
    return fmaxf(z - stat, 0.0f);
  }
}

struct MaxSum {  // an online-softmax partial: running max and sum of exp(z - max)
  float max, sum;
};

__device__ __forceinline__ MaxSum combine(MaxSum a, MaxSum b) {
  if (a.max == neg_inf()) return b;  // an empty partial must not produce exp(-inf - -inf) = NaN
  if (b.max == neg_inf()) return a;
  const float m = fmaxf(a.max, b.max);
  return {m, a.sum * expf(a.max - m) + b.sum * expf(b.max - m)};
}

template <class Cfg>
__device__ float softmax_row_stat(const typename Cfg::T* row, int i) {
  __shared__ float scratch_max[33], scratch_sum[33];
  MaxSum part{neg_inf(), 0.0f};
  for (int j = threadIdx.x; j <= i; j += Cfg::kThreads) {
    const float z = to_float(row[j]);
    const float m = fmaxf(part.max, z);
    part.sum = part.sum * expf(part.max - m) + expf(z - m);  // exp(-inf) = 0 on the first element
    part.max = m;
  }
  // The max-sum pair is combined field by field through two scalar reductions: first the max...
  const float row_max = block_reduce<Cfg::kThreads>(part.max, Max{}, scratch_max);
  // ...then every partial sum rescaled to it, summed in a fixed order.
  const float scaled = part.max == neg_inf() ? 0.0f : part.sum * expf(part.max - row_max);
  const float row_sum = block_reduce<Cfg::kThreads>(scaled, Sum{}, scratch_sum);
  return row_max + logf(row_sum);
}

// Michelot's fixed point: from tau = max - 1 (below the threshold), tau <- (sum of the support - 1) /
// |support| grows monotonically and the support shrinks until it stops changing, at the exact tau.
// Each round is one pass over the row; random rows settle in a handful of rounds. Sums in fp64 so
// that tau keeps fp32 accuracy on rows of any length.
template <class Cfg>
__device__ float sparsemax_row_stat(const typename Cfg::T* row, int i) {
  __shared__ float scratch_max[33];
  __shared__ double scratch_sum[33];
  __shared__ int scratch_count[33];
  float local_max = neg_inf();
  for (int j = threadIdx.x; j <= i; j += Cfg::kThreads) local_max = fmaxf(local_max, to_float(row[j]));
  float tau = block_reduce<Cfg::kThreads>(local_max, Max{}, scratch_max) - 1.0f;
  int support = i + 2;  // more than any row can hold
  for (;;) {
    double sum = 0.0;
    int count = 0;
    for (int j = threadIdx.x; j <= i; j += Cfg::kThreads) {
      const float z = to_float(row[j]);
      if (z > tau) {
        sum += z;
        ++count;
      }
    }
    sum = block_reduce<Cfg::kThreads>(sum, Sum{}, scratch_sum);
    count = block_reduce<Cfg::kThreads>(count, Sum{}, scratch_count);
    if (count >= support) break;  // support unchanged (or rounding would grow it): tau is final
    support = count;
    tau = static_cast<float>((sum - 1.0) / count);
  }
  return tau;
}

// One block per row: grid.x = B * C_in * L.
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) mta_row_stats(const __grid_constant__ MtaParams p) {
  using T = typename Cfg::T;
  const long long row_index = blockIdx.x;  // (b * C_in + c) * L + i
  const int i = static_cast<int>(row_index % Cfg::kL);
  const T* row = static_cast<const T*>(p.scores) + row_index * Cfg::kL;
  float stat;
  if constexpr (Cfg::kNorm == NormKind::softmax) {
    stat = softmax_row_stat<Cfg>(row, i);
  } else {
    stat = sparsemax_row_stat<Cfg>(row, i);
  }
  if (threadIdx.x == 0) p.row_stats[row_index] = stat;
}

// Loads the normalized scores P of channel plane (b, ic) over rows [i0, i0 + kPatchH) and columns
// [j0, j0 + kPatchW) into patch (row-major, kPatchW wide). Outside [0, L) and in the future, P = 0;
// future scores are never read.
template <class Cfg, int kPatchH, int kPatchW>
__device__ void load_normalized_patch(const MtaParams& p, long long plane, int i0, int j0, float* patch) {
  using T = typename Cfg::T;
  const T* scores = static_cast<const T*>(p.scores) + plane * Cfg::kL * Cfg::kL;
  const float* stats = p.row_stats + plane * Cfg::kL;
  for (int idx = threadIdx.x; idx < kPatchH * kPatchW; idx += Cfg::kThreads) {
    const int i = i0 + idx / kPatchW, j = j0 + idx % kPatchW;
    float value = 0.0f;
    if (j >= 0 && j <= i && i < Cfg::kL) {
      value = normalize<Cfg::kNorm>(to_float(scores[static_cast<long long>(i) * Cfg::kL + j]), stats[i]);
    }
    patch[idx] = value;
  }
}

}  // namespace attnjit
