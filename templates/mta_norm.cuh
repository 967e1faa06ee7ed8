// mta, steps 1 and 2 of SPEC.md section 1: the causal row normalization, and the statistics that let
// every later kernel recompute a normalized score from the raw one in two instructions:
//   softmax    P[i,j] = exp2(Z[i,j] * log2(e) - stat[i])   stat = log2 of sum_{j<=i} exp2(Z*log2(e))
//   sparsemax  P[i,j] = max(Z[i,j] - stat[i], 0)            stat = tau[i]
// Future entries (j > i) never reach a result: loads are masked by index before any arithmetic.
// Everything is fp32 whatever T is.
#pragma once

#include "common.cuh"
#include "mta_params.h"

namespace attnjit {

template <NormKind kNorm>
__device__ __forceinline__ float normalize(float z, float stat) {
  if constexpr (kNorm == NormKind::softmax) {
    return fast_exp2(fmaf(z, kLog2e, -stat));  // one FFMA and one MUFU.EX2
  } else {
    return fmaxf(z - stat, 0.0f);
  }
}

// A warp walks row[0..i] in packs of kVec elements (16-byte loads when the rows are 16-byte
// aligned, which the generator knows from L), lane-strided; f(z, valid) sees each pack's elements,
// valid false for those past i. Those are never used in arithmetic (callers select on `valid`), so
// NaN or inf in the future never enters a result.
// Elements per load: 16 bytes when every row starts 16-byte aligned.
template <class Cfg>
inline constexpr int kCausalPack = (Cfg::kL * sizeof(typename Cfg::T)) % 16 == 0 ? 16 / sizeof(typename Cfg::T) : 1;

template <class Cfg, class F>
__device__ __forceinline__ void for_each_causal_pack(const typename Cfg::T* row, int i, F&& f) {
  using T = typename Cfg::T;
  constexpr int kVec = kCausalPack<Cfg>;
  const int lane = threadIdx.x & 31;
  for (int j0 = lane * kVec; j0 <= i; j0 += 32 * kVec) {
    float z[kVec];
    load_pack<T, kVec>(row + j0, z);
    bool valid[kVec];
#pragma unroll
    for (int e = 0; e < kVec; ++e) valid[e] = j0 + e <= i;
    f(z, valid);
  }
}

template <class Cfg, class F>
__device__ __forceinline__ void for_each_causal(const typename Cfg::T* row, int i, F&& f) {
  constexpr int kVec = kCausalPack<Cfg>;
  for_each_causal_pack<Cfg>(row, i, [&](const float (&z)[kVec], const bool (&valid)[kVec]) {
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      if (valid[e]) f(z[e]);
    }
  });
}

// Online softmax in base 2 over one warp's row: a running max m and sum s of exp2(z*log2e - m),
// rescaled once per pack (not per element).
template <class Cfg>
__device__ float softmax_row_stat(const typename Cfg::T* row, int i) {
  float m = neg_inf(), s = 0.0f;
  constexpr int kN = kCausalPack<Cfg>;
  for_each_causal_pack<Cfg>(row, i, [&](const float (&z)[kN], const bool (&valid)[kN]) {
    float x[kN];
    float pack_max = neg_inf();
#pragma unroll
    for (int e = 0; e < kN; ++e) {
      x[e] = valid[e] ? z[e] * kLog2e : neg_inf();
      pack_max = fmaxf(pack_max, x[e]);
    }
    const float nm = fmaxf(m, pack_max);  // finite: the pack holds element j0 <= i
    s *= fast_exp2(m - nm);               // 0 while m is still -inf
#pragma unroll
    for (int e = 0; e < kN; ++e) s += fast_exp2(x[e] - nm);  // exp2(-inf) = 0 for the masked ones
    m = nm;
  });
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {  // butterfly: every lane ends with the row's (m, s)
    const float om = __shfl_xor_sync(kFullMask, m, offset), os = __shfl_xor_sync(kFullMask, s, offset);
    const float nm = fmaxf(m, om);
    if (nm != neg_inf()) s = s * fast_exp2(m - nm) + os * fast_exp2(om - nm);
    m = nm;
  }
  return m + log2f(s);
}

// Michelot's fixed point: from tau = max - 1 (below the threshold), tau <- (sum of the support - 1) /
// |support| grows monotonically and the support shrinks until it stops changing, at the exact tau.
// Each round is one pass over the row (from L1/L2 after the first); random rows settle in a handful of
// rounds. Sums in fp64 so that tau keeps fp32 accuracy on rows of any length.
template <class Cfg>
__device__ float sparsemax_row_stat(const typename Cfg::T* row, int i) {
  float local_max = neg_inf();
  for_each_causal<Cfg>(row, i, [&](float z) { local_max = fmaxf(local_max, z); });
  float tau = warp_reduce(local_max, Max{}) - 1.0f;
  int support = i + 2;  // more than any row can hold
  for (;;) {
    double sum = 0.0;
    int count = 0;
    for_each_causal<Cfg>(row, i, [&](float z) {
      if (z > tau) {
        sum += z;
        ++count;
      }
    });
    sum = warp_reduce(sum, Sum{});
    count = warp_reduce(count, Sum{});
    if (count >= support) break;  // support unchanged (or rounding would grow it): tau is final
    support = count;
    tau = static_cast<float>((sum - 1.0) / count);
  }
  return tau;
}

// One warp per row, kThreads / 32 rows per block: grid.x = ceil(B * C_in * L / (kThreads / 32)).
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) mta_row_stats(const __grid_constant__ MtaParams p) {
  constexpr int kWarps = Cfg::kThreads / 32;
  const long long row_index = static_cast<long long>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (row_index >= p.rows) return;  // the whole warp leaves together
  const int i = static_cast<int>(row_index % Cfg::kL);
  const typename Cfg::T* row = static_cast<const typename Cfg::T*>(p.scores) + row_index * Cfg::kL;
  float stat;
  if constexpr (Cfg::kNorm == NormKind::softmax) {
    stat = softmax_row_stat<Cfg>(row, i);
  } else {
    stat = sparsemax_row_stat<Cfg>(row, i);
  }
  if ((threadIdx.x & 31) == 0) p.row_stats[row_index] = stat;
}

// Row pitch of a staged patch kPatchW wide (see mta_patch_pitch).
template <int kPatchW>
inline constexpr int kPatchPitch = mta_patch_pitch(kPatchW);

// Loads the normalized scores P of channel plane (b, ic) over rows [i0, i0 + kPatchH) and columns
// [j0, j0 + kPatchW) into patch (row-major, kPatchPitch wide). Outside [0, L) and in the future, P = 0;
// future scores never reach a result. When rows are 16-byte aligned (L * sizeof(T) a multiple of 16),
// each thread reads a 16-byte pack of raw scores from the pack boundary at or before j0 and stores
// its elements that fall inside the patch (the element-wise loader cost ~25 thread instructions per
// patch element on the dw K5 forward, most of that kernel's instructions); otherwise it goes flat
// over the patch, element by element.
// OutT is the patch's storage type (float, or T for the tensor-core forward), kPitch its row pitch.
template <class Cfg, int kPatchH, int kPatchW, class OutT = float, int kPitch = kPatchPitch<kPatchW>>
__device__ void load_normalized_patch(const MtaParams& p, long long plane, int i0, int j0, OutT* patch) {
  using T = typename Cfg::T;
  const T* scores = static_cast<const T*>(p.scores) + plane * Cfg::kL * Cfg::kL;
  const float* stats = p.row_stats + plane * Cfg::kL;
  if constexpr ((Cfg::kL * sizeof(T)) % 16 != 0) {
    for (int idx = threadIdx.x; idx < kPatchH * kPatchW; idx += Cfg::kThreads) {
      const int r = idx / kPatchW, c = idx % kPatchW, i = i0 + r, j = j0 + c;
      float value = 0.0f;
      if (j >= 0 && j <= i && i < Cfg::kL) {
        value = normalize<Cfg::kNorm>(to_float(scores[static_cast<long long>(i) * Cfg::kL + j]), stats[i]);
      }
      patch[r * kPitch + c] = from_float<OutT>(value);
    }
  } else {
    constexpr int kVec = 16 / sizeof(T);
    constexpr int kPacks = mta_ceil_div(kPatchW + kVec - 1, kVec);  // packs a row can touch
    const int ja = j0 >= 0 ? j0 / kVec * kVec : -((kVec - 1 - j0) / kVec) * kVec;  // floor to a pack boundary
    for (int idx = threadIdx.x; idx < kPatchH * kPacks; idx += Cfg::kThreads) {
      const int r = idx / kPacks, i = i0 + r, js = ja + (idx % kPacks) * kVec;
      float v[kVec];
      // A pack lies wholly left of column 0 or right of it (ja is a multiple of kVec), and wholly inside
      // the row when it starts inside (L is a multiple of kVec): one bounds test per pack.
      if (i >= 0 && i < Cfg::kL && js >= 0 && js <= i) {
        float z[kVec];
        load_pack<T, kVec>(scores + static_cast<long long>(i) * Cfg::kL + js, z);
        const float stat = stats[i];
#pragma unroll
        for (int e = 0; e < kVec; ++e) v[e] = js + e <= i ? normalize<Cfg::kNorm>(z[e], stat) : 0.0f;
      } else {
#pragma unroll
        for (int e = 0; e < kVec; ++e) v[e] = 0.0f;
      }
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        const int c = js + e - j0;
        if (c >= 0 && c < kPatchW) patch[r * kPitch + c] = from_float<OutT>(v[e]);
      }
    }
  }
}

}  // namespace attnjit
