// What the neighborhood-attention kernels share: the block's place in the (batch*head, dilation group, tile)
// grid, staging rows into shared memory as fp32, and lane groups (kLanes lanes hold one row of D elements,
// kVec each, and reduce a dot product among themselves).
//
// Cfg: using T; kWindow (NaWindowKind); kL, kD, kKernel, kDil; kRows (queries, or keys, a block owns);
// kChunk (rows staged in shared memory at a time); kThreads; kLanes.
#pragma once

#include "common.cuh"
#include "na_params.h"

namespace attnjit {

template <class Cfg>
struct NaShape {
  static constexpr int kVec = na_vec(Cfg::kD, Cfg::kLanes);
  static constexpr int kWidth = Cfg::kLanes * kVec;  // >= kD; the excess is zero
  static constexpr int kPitch = na_pitch(Cfg::kD, Cfg::kLanes);
  static constexpr int kGroups = Cfg::kThreads / Cfg::kLanes;  // lane groups per block
  static constexpr int kPerGroup = Cfg::kRows / kGroups;       // rows each lane group owns
  static_assert(Cfg::kLanes >= 1 && Cfg::kLanes <= 32 && (Cfg::kLanes & (Cfg::kLanes - 1)) == 0,
                "kLanes must be a power of two up to 32");
  static_assert(Cfg::kThreads % 32 == 0 && Cfg::kRows % kGroups == 0,
                "kRows must be a multiple of the block's lane groups (kThreads / kLanes)");
};

// The block's (batch*head, group, first row); n is the group's length. Blocks past a short group's end exit.
struct NaBlock {
  long long plane;  // element offset of the (batch, head) plane
  int bh, g, n, t0;
};

template <class Cfg>
__device__ __forceinline__ NaBlock na_block() {
  constexpr int kTiles = mta_ceil_div(na_group_length(Cfg::kL, Cfg::kDil, 0), Cfg::kRows);
  int x = blockIdx.x;
  const int tile = x % kTiles;
  x /= kTiles;
  NaBlock b;
  b.g = x % Cfg::kDil;
  b.bh = x / Cfg::kDil;
  b.n = na_group_length(Cfg::kL, Cfg::kDil, b.g);
  b.t0 = tile * Cfg::kRows;
  b.plane = static_cast<long long>(b.bh) * Cfg::kL * Cfg::kD;
  return b;
}

template <class Cfg>
__device__ __forceinline__ long long na_row(const NaBlock& b, int t) {  // element offset of group row t
  return b.plane + static_cast<long long>(b.g + t * Cfg::kDil) * Cfg::kD;
}
template <class Cfg>
__device__ __forceinline__ int na_stat_index(const NaBlock& b, int t) {  // index into (B, H, L) statistics
  return b.bh * Cfg::kL + b.g + t * Cfg::kDil;
}

// Stages group rows [first, first + count) of a and b into shared memory as fp32 rows of kPitch floats, the
// columns past D zero. Rows are read as 16-byte packs when D makes every row 16-byte aligned.
template <class Cfg>
__device__ void na_stage(const NaBlock& blk, const void* a, const void* b, int first, int count, float* sa,
                         float* sb) {
  using T = typename Cfg::T;
  using S = NaShape<Cfg>;
  constexpr int kPack = (Cfg::kD * sizeof(T)) % 16 == 0 ? 16 / static_cast<int>(sizeof(T)) : 1;
  constexpr int kPacks = Cfg::kD / kPack;
  for (int i = threadIdx.x; i < count * kPacks; i += Cfg::kThreads) {
    const int r = i / kPacks, c = (i % kPacks) * kPack;
    const long long at = na_row<Cfg>(blk, first + r) + c;
    float x[kPack], y[kPack];
    load_pack<T, kPack>(static_cast<const T*>(a) + at, x);
    load_pack<T, kPack>(static_cast<const T*>(b) + at, y);
#pragma unroll
    for (int e = 0; e < kPack; ++e) {
      sa[r * S::kPitch + c + e] = x[e];
      sb[r * S::kPitch + c + e] = y[e];
    }
  }
  if constexpr (S::kWidth > Cfg::kD) {
    constexpr int kTail = S::kWidth - Cfg::kD;
    for (int i = threadIdx.x; i < count * kTail; i += Cfg::kThreads) {
      const int r = i / kTail, c = Cfg::kD + i % kTail;
      sa[r * S::kPitch + c] = 0.0f;
      sb[r * S::kPitch + c] = 0.0f;
    }
  }
}

// A lane's kVec elements of a row are kVec / 4 groups of 4, interleaved with the other lanes of its group:
// group q of lane l holds elements (q * kLanes + l) * 4 .. + 3. So at each step q the lanes of a row read
// consecutive 16-byte slots of shared memory (a quarter warp, 128 contiguous bytes: conflict-free), and
// na_pitch keeps rows read by one quarter warp on distinct banks when kLanes < 8.
template <int kLanes>
__device__ __forceinline__ int na_element(int lane, int q) { return (q * kLanes + lane) * 4; }

// A lane's elements of a staged row, as 16-byte loads.
template <int kLanes, int kVec>
__device__ __forceinline__ void na_read(const float* row, int lane, float (&x)[kVec]) {
#pragma unroll
  for (int q = 0; q < kVec / 4; ++q) {
    const float4 v = *reinterpret_cast<const float4*>(row + na_element<kLanes>(lane, q));
    x[4 * q] = v.x;
    x[4 * q + 1] = v.y;
    x[4 * q + 2] = v.z;
    x[4 * q + 3] = v.w;
  }
}

// A lane's elements of a row in global memory; zero past D. Groups of 4 are one load when D is a multiple
// of 4 (the row and the group then start 4-element aligned).
template <class Cfg, int kVec>
__device__ __forceinline__ void na_load(const void* base, long long row, int lane, float (&x)[kVec]) {
  using T = typename Cfg::T;
  const T* p = static_cast<const T*>(base) + row;
#pragma unroll
  for (int q = 0; q < kVec / 4; ++q) {
    const int d = na_element<Cfg::kLanes>(lane, q);
    float y[4];
    if constexpr (Cfg::kD % 4 == 0) {
      if (d < Cfg::kD) {
        load_pack<T, 4>(p + d, y);
      } else {
        y[0] = y[1] = y[2] = y[3] = 0.0f;
      }
    } else {
#pragma unroll
      for (int e = 0; e < 4; ++e) y[e] = d + e < Cfg::kD ? to_float(p[d + e]) : 0.0f;
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) x[4 * q + e] = y[e];
  }
}

// Stores a lane's elements times factor (those before D).
template <class Cfg, int kVec>
__device__ __forceinline__ void na_store(void* base, long long row, int lane, const float (&x)[kVec], float factor) {
  using T = typename Cfg::T;
  T* p = static_cast<T*>(base) + row;
#pragma unroll
  for (int q = 0; q < kVec / 4; ++q) {
    const int d = na_element<Cfg::kLanes>(lane, q);
    const float y[4] = {x[4 * q] * factor, x[4 * q + 1] * factor, x[4 * q + 2] * factor, x[4 * q + 3] * factor};
    if constexpr (Cfg::kD % 4 == 0) {
      if (d < Cfg::kD) store_pack_global<T, 4>(p + d, y);
    } else {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        if (d + e < Cfg::kD) p[d + e] = from_float<T>(y[e]);
      }
    }
  }
}

// kLanes consecutive lanes hold one row; they sum a value among themselves (butterfly, fixed order: the same
// bits on every run). Only the group's lanes take part, so groups may run different trip counts.
template <int kLanes>
struct LaneGroup {
  unsigned mask;
  int lane;  // 0 .. kLanes - 1
  __device__ __forceinline__ LaneGroup() {
    const int warp_lane = threadIdx.x & 31;
    lane = warp_lane & (kLanes - 1);
    mask = kLanes == 32 ? kFullMask : ((1u << kLanes) - 1) << (warp_lane & ~(kLanes - 1));
  }
  __device__ __forceinline__ float sum(float v) const {
#pragma unroll
    for (int offset = kLanes / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(mask, v, offset);
    return v;
  }
};

template <int kVec>
__device__ __forceinline__ float na_dot(const float (&a)[kVec], const float (&b)[kVec]) {
  float s = 0.0f;
#pragma unroll
  for (int e = 0; e < kVec; ++e) s = fmaf(a[e], b[e], s);
  return s;
}

constexpr float kLn2 = 0.6931471805599453f;

}  // namespace attnjit
