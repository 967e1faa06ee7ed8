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

// Items 0 .. kItems - 1 spread over the block's threads (item threadIdx.x + n * kThreads), a thread taking
// its items kItemBatch at a time (at most 4): first fetch(item, k) for each item of the batch (k its slot;
// the caller tests item < kItems), then use(item, k) for those below kItems. A batch's loads are then in
// flight together (one item at a time, the patch loaders were latency-bound).
template <class Cfg, int kItems>
inline constexpr int kItemBatch = mta_ceil_div(kItems, Cfg::kThreads) < 4 ? mta_ceil_div(kItems, Cfg::kThreads) : 4;

template <class Cfg, int kItems, class Fetch, class Use>
__device__ __forceinline__ void for_each_item_batched(Fetch&& fetch, Use&& use) {
  constexpr int kPerThread = mta_ceil_div(kItems, Cfg::kThreads), kBatch = kItemBatch<Cfg, kItems>;
#pragma unroll 1
  for (int k0 = 0; k0 < kPerThread; k0 += kBatch) {
#pragma unroll
    for (int k = 0; k < kBatch; ++k) fetch(threadIdx.x + (k0 + k) * Cfg::kThreads, k);
#pragma unroll
    for (int k = 0; k < kBatch; ++k) {
      const int item = threadIdx.x + (k0 + k) * Cfg::kThreads;
      if (item >= kItems) break;
      use(item, k);
    }
  }
}

// Row pitch of a staged patch kPatchW wide (see mta_patch_pitch).
template <int kPatchW>
inline constexpr int kPatchPitch = mta_patch_pitch(kPatchW);

// Loads the normalized scores P of channel plane (b, ic) over rows [i0, i0 + kPatchH) and columns
// [j0, j0 + kPatchW) into patch (row-major, kPitch wide). Outside [0, L) and in the future, P = 0;
// future scores never reach a result. Three ways, the fastest the shapes allow:
//  - rows not 16-byte aligned (L * sizeof(T) not a multiple of 16): flat over the patch, element by element;
//  - 16-byte rows: each thread reads a 16-byte pack of raw scores from the pack boundary at or before j0
//    and stores its elements that fall inside the patch (the element-wise loader cost ~25 thread
//    instructions per patch element on the dw K5 forward);
//  - 16-byte rows, a float patch and a known column phase (kPhase = j0 mod the pack size, the same for
//    every tile: see kPatchPhase): as above, but each lane stores whole 16-byte groups of the patch,
//    taking the first kPhase elements of its group from the next lane's pack by shuffle. The element-wise
//    stores of the second way land 8 lanes on one bank (lanes 8 floats apart): 11.4M conflicts on the
//    dw K3 forward, its shared-memory bottleneck;
//  - 16-byte rows, a 16-bit patch of whole packs starting on a pack boundary (kPhase 0): a pack in, a pack
//    out (the depthwise forward on tensor cores, which chooses its patch so).
// OutT is the patch's storage type (float, or T for the tensor-core forward).
template <class Cfg, int kPatchH, int kPatchW, int kPhase = -1, class OutT = float, int kPitch = kPatchPitch<kPatchW>>
__device__ void load_normalized_patch(const MtaParams& p, long long plane, int i0, int j0, OutT* patch) {
  using T = typename Cfg::T;
  const T* scores = static_cast<const T*>(p.scores) + plane * Cfg::kL * Cfg::kL;
  const float* stats = p.row_stats + plane * Cfg::kL;
  constexpr int kVec = 16 / sizeof(T);
  // The pack of kVec raw scores of row i from column js, normalized; zeros outside [0, L) and the future.
  auto load_normalized_pack = [&](int i, int js, float (&v)[kVec]) {
    // A pack lies wholly left of column 0 or right of it (js is a multiple of kVec), and wholly inside
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
  };
  if constexpr ((Cfg::kL * sizeof(T)) % 16 != 0) {
    for (int idx = threadIdx.x; idx < kPatchH * kPatchW; idx += Cfg::kThreads) {
      const int r = idx / kPatchW, c = idx % kPatchW, i = i0 + r, j = j0 + c;
      float value = 0.0f;
      if (j >= 0 && j <= i && i < Cfg::kL) {
        value = normalize<Cfg::kNorm>(to_float(scores[static_cast<long long>(i) * Cfg::kL + j]), stats[i]);
      }
      patch[r * kPitch + c] = from_float<OutT>(value);
    }
  } else if constexpr (kPhase == 0 && sizeof(OutT) == 2 && kPatchW % kVec == 0 && kPitch % 8 == 0 && kVec == 8) {
    // The patch starts on a pack boundary and holds whole packs, stored in 16 bits: one 16-byte load, one
    // 16-byte store per pack. A thread issues the loads of up to 4 packs (and their rows' statistics) before
    // it uses any: one pack at a time left the depthwise tensor-core forward latency-bound, 45% of DRAM
    // bandwidth with 5 blocks per SM. (8 packs took the kernel from 84 to 132 registers, 4 to 96.)
    constexpr int kPacks = kPatchW / kVec, kItems = kPatchH * kPacks;
    Pack<T, kVec> raw[kItemBatch<Cfg, kItems>];
    float stat[kItemBatch<Cfg, kItems>];
    bool inside[kItemBatch<Cfg, kItems>];  // the pack holds scores, not padding or the future
    for_each_item_batched<Cfg, kItems>(
        [&](int idx, int k) {
          const int i = i0 + idx / kPacks, js = j0 + idx % kPacks * kVec;
          // A pack lies wholly left of column 0 or right of it, and wholly inside the row when it starts inside.
          inside[k] = idx < kItems && i >= 0 && i < Cfg::kL && js >= 0 && js <= i;
          if (inside[k]) {
            raw[k] = *reinterpret_cast<const Pack<T, kVec>*>(scores + static_cast<long long>(i) * Cfg::kL + js);
            stat[k] = stats[i];
          }
        },
        [&](int idx, int k) {
          const int r = idx / kPacks, c = idx % kPacks * kVec, i = i0 + r, js = j0 + c;
          float v[kVec];
          if (inside[k] && js + kVec - 1 <= i) {  // no future element: no per-element test
#pragma unroll
            for (int e = 0; e < kVec; ++e) v[e] = normalize<Cfg::kNorm>(to_float(raw[k].v[e]), stat[k]);
          } else {
#pragma unroll
            for (int e = 0; e < kVec; ++e) {
              v[e] = inside[k] && js + e <= i ? normalize<Cfg::kNorm>(to_float(raw[k].v[e]), stat[k]) : 0.0f;
            }
          }
          const uint4 packed = {pack_floats<OutT>(v[0], v[1]), pack_floats<OutT>(v[2], v[3]),
                                pack_floats<OutT>(v[4], v[5]), pack_floats<OutT>(v[6], v[7])};
          *reinterpret_cast<uint4*>(patch + r * kPitch + c) = packed;  // two floats per cvt
        });
  } else if constexpr (kPhase >= 0 && sizeof(OutT) == 4 && kPitch % 4 == 0) {
    // Lanes of a warp are cut into segments; a segment's lanes read consecutive packs of one row, and
    // each but the last (when kPhase > 0) stores the patch's 16-byte groups kVec columns wide: its own
    // elements from kPhase on, then the next lane's first kPhase.
    constexpr int kGroups = mta_ceil_div(kPatchW, kVec);     // store groups per patch row
    constexpr int kMaxStores = kPhase > 0 ? 31 : 32;         // store groups per segment
    constexpr int kSegStores = kGroups < kMaxStores ? kGroups : kMaxStores;
    constexpr int kSegLanes = kSegStores + (kPhase > 0 ? 1 : 0);
    constexpr int kSegsPerWarp = 32 / kSegLanes;
    constexpr int kSegsPerRow = mta_ceil_div(kGroups, kSegStores);
    constexpr int kSegs = kPatchH * kSegsPerRow;
    constexpr int kWarps = Cfg::kThreads / 32;
    const int lane = threadIdx.x & 31;
    const int q = lane % kSegLanes;  // the lane's pack within its segment
    const int ja = j0 - kPhase;      // the pack boundary at or before j0
    for (int seg0 = (threadIdx.x >> 5) * kSegsPerWarp; seg0 < kSegs; seg0 += kWarps * kSegsPerWarp) {
      const int seg = seg0 + lane / kSegLanes;
      const int r = seg / kSegsPerRow, g = (seg % kSegsPerRow) * kSegStores + q;
      const bool active = lane < kSegsPerWarp * kSegLanes && seg < kSegs;
      float v[kVec];
      load_normalized_pack(active ? i0 + r : -1, ja + g * kVec, v);
      float next[kPhase > 0 ? kPhase : 1];
#pragma unroll
      for (int e = 0; e < kPhase; ++e) next[e] = __shfl_down_sync(kFullMask, v[e], 1);
      if (!active || q >= kSegStores || g >= kGroups) continue;
      float out[kVec];
#pragma unroll
      for (int c = 0; c < kVec; ++c) out[c] = c + kPhase < kVec ? v[c + kPhase] : next[c + kPhase - kVec];
      float* dst = patch + r * kPitch + g * kVec;
#pragma unroll
      for (int h = 0; h < kVec / 4; ++h) {
        if (g * kVec + 4 * h < kPitch) {
          reinterpret_cast<float4*>(dst)[h] = make_float4(out[4 * h], out[4 * h + 1], out[4 * h + 2], out[4 * h + 3]);
        }
      }
    }
  } else {
    constexpr int kPacks = mta_ceil_div(kPatchW + kVec - 1, kVec);  // packs a row can touch
    const int ja = j0 >= 0 ? j0 / kVec * kVec : -((kVec - 1 - j0) / kVec) * kVec;  // floor to a pack boundary
    for (int idx = threadIdx.x; idx < kPatchH * kPacks; idx += Cfg::kThreads) {
      const int r = idx / kPacks, js = ja + (idx % kPacks) * kVec;
      float v[kVec];
      load_normalized_pack(i0 + r, js, v);
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        const int c = js + e - j0;
        if (c >= 0 && c < kPatchW) patch[r * kPitch + c] = from_float<OutT>(v[e]);
      }
    }
  }
}

// j0 mod the loader's pack size for every tile of a kernel whose tiles start kTileJ outputs apart
// (j0 = oj0 * stride - pad_left), or -1 when tiles differ (the loader's second way then).
__host__ __device__ constexpr int mta_patch_phase(int tile_j, int stride, int pad_left, int vec) {
  return (tile_j * stride) % vec == 0 ? (vec - pad_left % vec) % vec : -1;
}
template <class Cfg, int kTileJ>
inline constexpr int kPatchPhase = mta_patch_phase(kTileJ, Cfg::kSw, Cfg::kPadLeft, 16 / sizeof(typename Cfg::T));

// The normalized scores of kChannels input channels (planes plane0 ..) over a kPatchH x kPatchW patch whose
// first position is (i0, j0), staged in T in planes of 8 channels: planes[c][position] is one 16-byte row of
// channels 8c .. 8c + 7 at that position (zero outside [0, L) and in the future), the layout whose rows
// ldmatrix reads as tensor-core fragments (mta_forward_mma, mta_backward_weight_mma). Consecutive threads
// take consecutive positions (pairs of them where L is even: one 4-byte load a channel for two positions,
// half the loads; groups=1 K7 forward 588 -> 557 us, bench/results/2026-11-24_H100_2b81bd8), so each
// channel's loads are coalesced along the row and the rows are stored contiguously.
template <class Cfg, int kChannels, int kPatchH, int kPatchW>
__device__ __forceinline__ void stage_normalized_planes(const MtaParams& p, long long plane0, int i0, int j0,
                                                        uint4* planes) {
  using T = typename Cfg::T;
  static_assert(sizeof(T) == 2 && kChannels % 8 == 0, "16-bit scores, whole planes of 8 channels");
  constexpr int kPlane = kPatchH * kPatchW;
  const T* scores = static_cast<const T*>(p.scores);
  if constexpr (Cfg::kL % 2 == 0) {
    // An item is two positions from an even column (the patch's first column may be odd: the pair before it
    // stores only its second row), 8 4-byte loads, two rows stored.
    constexpr int kPairs = kPatchW / 2 + 1;
    const int j_even = j0 & ~1;
    for (int idx = threadIdx.x; idx < kChannels / 8 * kPatchH * kPairs; idx += Cfg::kThreads) {
      const int chunk = idx / (kPatchH * kPairs), r = idx / kPairs % kPatchH, pair = idx % kPairs;
      const int i = i0 + r, j = j_even + 2 * pair;
      const bool inside = i >= 0 && i < Cfg::kL && j >= 0 && j <= i, second = j + 1 <= i;
      float lo[8], hi[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const long long plane = plane0 + chunk * 8 + e;
        const unsigned w = inside ? *reinterpret_cast<const unsigned*>(scores + (plane * Cfg::kL + i) * Cfg::kL + j) : 0u;
        const float stat = inside ? p.row_stats[plane * Cfg::kL + i] : 0.0f;
        T a, c;
        a.bits = static_cast<unsigned short>(w & 0xffffu);
        c.bits = static_cast<unsigned short>(w >> 16);
        lo[e] = inside ? normalize<Cfg::kNorm>(to_float(a), stat) : 0.0f;
        hi[e] = inside && second ? normalize<Cfg::kNorm>(to_float(c), stat) : 0.0f;
      }
      const int col = j - j0;
      uint4* row = planes + (chunk * kPatchH + r) * kPatchW;
      if (col >= 0 && col < kPatchW) {
        row[col] = uint4{pack_floats<T>(lo[0], lo[1]), pack_floats<T>(lo[2], lo[3]), pack_floats<T>(lo[4], lo[5]),
                         pack_floats<T>(lo[6], lo[7])};
      }
      if (col + 1 >= 0 && col + 1 < kPatchW) {
        row[col + 1] = uint4{pack_floats<T>(hi[0], hi[1]), pack_floats<T>(hi[2], hi[3]), pack_floats<T>(hi[4], hi[5]),
                             pack_floats<T>(hi[6], hi[7])};
      }
    }
  } else {
    for (int idx = threadIdx.x; idx < kChannels / 8 * kPlane; idx += Cfg::kThreads) {
      const int chunk = idx / kPlane, pos = idx % kPlane;
      const int i = i0 + pos / kPatchW, j = j0 + pos % kPatchW;
      float v[8];
      if (i >= 0 && i < Cfg::kL && j >= 0 && j <= i) {
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const long long plane = plane0 + chunk * 8 + e;
          const float z = to_float(scores[(plane * Cfg::kL + i) * Cfg::kL + j]);
          v[e] = normalize<Cfg::kNorm>(z, p.row_stats[plane * Cfg::kL + i]);
        }
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] = 0.0f;
      }
      const uint4 packed = {pack_floats<T>(v[0], v[1]), pack_floats<T>(v[2], v[3]), pack_floats<T>(v[4], v[5]),
                            pack_floats<T>(v[6], v[7])};
      planes[idx] = packed;
    }
  }
}

}  // namespace attnjit
