// Device basics shared by every attnjit kernel. NVRTC compiles the kernels with no CUDA include
// directory, so what they need is defined here: 16-bit float storage types with their one-instruction
// conversions, typed loads and stores, and deterministic warp and block reductions.
//
// ATTNJIT_HOST_EMULATION: the CPU suite compiles some kernels for the host, one std::thread per CUDA thread
// (tests/emulation/cuda_host.hpp), to check their indexing without a GPU; the four PTX instructions below
// then have host equivalents from that header. NVRTC never sees the macro.
#pragma once

namespace attnjit {

struct alignas(2) f16_t {
  unsigned short bits;
};
struct alignas(2) bf16_t {
  unsigned short bits;
};

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(f16_t v) {
#ifdef ATTNJIT_HOST_EMULATION
  return attnjit_host::half_to_float(v.bits);
#else
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v.bits));
  return f;
#endif
}
__device__ __forceinline__ float to_float(bf16_t v) { return __uint_as_float(static_cast<unsigned>(v.bits) << 16); }
// v as a float where `keep`, else 0: the select on T's bits (T{} is +0), the conversion unconditional. Selecting
// on the converted value instead leaves f16's conversion (an asm, which NVVM does not speculate) behind a
// branch: 16 more branches than bf16 in the input gradient, whose f16 backward measured 9% slower than bf16's.
template <class T>
__device__ __forceinline__ float to_float_or_zero(bool keep, T v) {
  return to_float(keep ? v : T{});
}

template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ f16_t from_float<f16_t>(float v) {
  f16_t h;
#ifdef ATTNJIT_HOST_EMULATION
  h.bits = attnjit_host::float_to_half(v);
#else
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(v));
#endif
  return h;
}
template <>
__device__ __forceinline__ bf16_t from_float<bf16_t>(float v) {
  bf16_t h;
#ifdef ATTNJIT_HOST_EMULATION
  h.bits = attnjit_host::float_to_bf16(v);
#else
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h.bits) : "f"(v));  // sm_80 and later
#endif
  return h;
}

// Two 16-bit values as one fragment register, the lower column in the low half.
__device__ __forceinline__ unsigned pack_pair(unsigned short low, unsigned short high) {
  return static_cast<unsigned>(low) | (static_cast<unsigned>(high) << 16);
}

// Two floats rounded to T (to nearest even) as one fragment register, `low` in the low half: one cvt (its
// first source goes to the high half).
template <class T>
__device__ __forceinline__ unsigned pack_floats(float low, float high);
template <>
__device__ __forceinline__ unsigned pack_floats<bf16_t>(float low, float high) {
#ifdef ATTNJIT_HOST_EMULATION
  return pack_pair(from_float<bf16_t>(low).bits, from_float<bf16_t>(high).bits);
#else
  unsigned r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(high), "f"(low));
  return r;
#endif
}
template <>
__device__ __forceinline__ unsigned pack_floats<f16_t>(float low, float high) {
#ifdef ATTNJIT_HOST_EMULATION
  return pack_pair(from_float<f16_t>(low).bits, from_float<f16_t>(high).bits);
#else
  unsigned r;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(high), "f"(low));
  return r;
#endif
}

template <class T>
__device__ __forceinline__ float load(const void* base, long long index) {
  return to_float(static_cast<const T*>(base)[index]);
}
template <class T>
__device__ __forceinline__ void store(void* base, long long index, float v) {
  static_cast<T*>(base)[index] = from_float<T>(v);
}

constexpr unsigned kFullMask = 0xffffffffu;
constexpr float kLog2e = 1.4426950408889634f;

// 2^x in one MUFU.EX2 (relative error about 2^-22; results below 2^-126 flush to 0, which is what
// a probability that small rounds to in any case). exp2f without fast math adds range fix-ups.
__device__ __forceinline__ float fast_exp2(float x) {
#ifdef ATTNJIT_HOST_EMULATION
  return attnjit_host::exp2(x);
#else
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
#endif
}

// Loads of kN consecutive T as one access (kN * sizeof(T) is 16, 8, 4 or 2 bytes); the caller
// guarantees the alignment, which the generator can prove from L (see Cfg's kL).
template <class T, int kN>
struct alignas(kN * sizeof(T)) Pack {
  T v[kN];
};

template <class T, int kN>
__device__ __forceinline__ void load_pack(const T* p, float (&out)[kN]) {
  const Pack<T, kN> pack = *reinterpret_cast<const Pack<T, kN>*>(p);
#pragma unroll
  for (int e = 0; e < kN; ++e) out[e] = to_float(pack.v[e]);
}

// Writes a pack of kN values to the kernel's output in global memory (never read back by the kernel).
// 16-bit packs are assembled as 32-bit words and stored by one st.global of 4, 8 or 16 bytes: as a Pack of
// 16-bit structs, or as a uint2 built from the words, NVRTC and nvcc split the store into 2- or 4-byte
// stores inside the kernels (the input gradient's grad_scores went out 2 bytes per instruction, 4x the L2
// store sectors, bench/results/2026-11-23_H100_fff5507). No "memory" clobber: nothing in the kernel reads
// the output, so loads may still be scheduled across the store.
template <class T, int kN>
__device__ __forceinline__ void store_pack_global(T* p, const float (&in)[kN]) {
  if constexpr (sizeof(T) == 2 && (kN == 2 || kN == 4 || kN == 8)) {
    unsigned w[kN / 2];
#pragma unroll
    for (int e = 0; e < kN / 2; ++e) w[e] = pack_floats<T>(in[2 * e], in[2 * e + 1]);
#ifdef ATTNJIT_HOST_EMULATION
    for (int e = 0; e < kN / 2; ++e) reinterpret_cast<unsigned*>(p)[e] = w[e];
#else
    if constexpr (kN == 2) {
      asm volatile("st.global.b32 [%0], %1;" ::"l"(p), "r"(w[0]));
    } else if constexpr (kN == 4) {
      asm volatile("st.global.v2.b32 [%0], {%1, %2};" ::"l"(p), "r"(w[0]), "r"(w[1]));
    } else {
      asm volatile("st.global.v4.b32 [%0], {%1, %2, %3, %4};" ::"l"(p), "r"(w[0]), "r"(w[1]), "r"(w[2]), "r"(w[3]));
    }
#endif
  } else {
    Pack<T, kN> pack;
#pragma unroll
    for (int e = 0; e < kN; ++e) pack.v[e] = from_float<T>(in[e]);
    *reinterpret_cast<Pack<T, kN>*>(p) = pack;
  }
}
// Writes kRun consecutive values of one output row in global memory (a run), as one vector store when the
// row length lets every run start aligned (kOutW a multiple of kRun), else element by element up to the
// row's end.
template <class T, int kRun, int kOutW>
__device__ __forceinline__ void store_run(T* out, int oj, const float (&v)[kRun]) {
  if constexpr (kOutW % kRun == 0 && (kRun * sizeof(T)) % 4 == 0 && kRun * sizeof(T) <= 16) {
    store_pack_global<T, kRun>(out, v);
  } else {
#pragma unroll
    for (int r = 0; r < kRun; ++r) {
      if (oj + r < kOutW) out[r] = from_float<T>(v[r]);
    }
  }
}

// x = src[0 .. kSpan): as 16-byte loads when kVector (src 16-byte aligned; up to 3 floats past the span
// are read, which the patch pitch keeps inside the row), else element by element.
template <int kSpan, bool kVector>
__device__ __forceinline__ void load_span(const float* src, float (&x)[kSpan]) {
  if constexpr (kVector) {
#pragma unroll
    for (int q = 0; q < (kSpan + 3) / 4; ++q) {
      const float4 v = reinterpret_cast<const float4*>(src)[q];
      const float lanes[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        if (4 * q + e < kSpan) x[4 * q + e] = lanes[e];
      }
    }
  } else {
#pragma unroll
    for (int t = 0; t < kSpan; ++t) x[t] = src[t];
  }
}

__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }

// Butterfly reductions: every lane ends with the same value, combined in a fixed order, so results
// are bitwise reproducible from run to run.
template <class V, class Op>
__device__ __forceinline__ V warp_reduce(V v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// Block reduction; every thread gets the result. scratch holds at least 33 V. Warps' partials are
// combined by one thread in warp order (deterministic).
template <int kThreads, class V, class Op>
__device__ V block_reduce(V v, Op op, V* scratch) {
  constexpr int kWarps = (kThreads + 31) / 32;
  v = warp_reduce(v, op);
  if (kWarps == 1) return v;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    V total = scratch[0];
    for (int w = 1; w < kWarps; ++w) total = op(total, scratch[w]);
    scratch[kWarps] = total;
  }
  __syncthreads();
  return scratch[kWarps];
}

struct Sum {
  template <class V>
  __device__ V operator()(V a, V b) const { return a + b; }
};
struct Max {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// One step of block_sums' reduce-scatter, then the next: lanes kHalf * 32 / kP apart swap halves of
// a[0, 2 kHalf); each keeps its half (the lower lane the lower), summed, in a[0, kHalf).
template <int kHalf, int kP>
__device__ __forceinline__ void warp_reduce_scatter(float (&a)[kP], int lane) {
  if constexpr (kHalf >= kP / 32) {
    constexpr int kOffset = kHalf * 32 / kP;
    const bool upper = lane & kOffset;
#pragma unroll
    for (int q = 0; q < kHalf; ++q) {
      const float keep = upper ? a[q + kHalf] : a[q], give = upper ? a[q] : a[q + kHalf];
      a[q] = keep + __shfl_xor_sync(kFullMask, give, kOffset);
    }
    warp_reduce_scatter<kHalf / 2>(a, lane);
  }
}

// Sums v[k] (k < kN) over the block's threads in a fixed order, in each warp and then the warps in
// order, and calls f(k, total) for each k from one thread. scratch holds kThreads / 32 * kN floats; the
// caller has synchronized before it is overwritten. Few values take a butterfly each (5 shuffles a value);
// many take a reduce-scatter: at each of the 5 steps a lane keeps half of what it holds and adds its
// partner's copy of that half, so lane l ends with the warp's sums of values [l * kP/32, (l + 1) * kP/32)
// after about kP shuffles in all, not 5 kN (fewer instructions to run, and to compile: the fused weight
// gradient sums 66 values).
template <int kThreads, int kN, class F>
__device__ void block_sums(const float (&v)[kN], float* scratch, F&& f) {
  constexpr int kWarps = kThreads / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if constexpr (kN < 8) {
#pragma unroll
    for (int k = 0; k < kN; ++k) {
      const float s = warp_reduce(v[k], Sum{});
      if (lane == 0) scratch[warp * kN + k] = s;
    }
  } else {
    constexpr int kP = (kN + 31) / 32 * 32;
    float a[kP];
#pragma unroll
    for (int k = 0; k < kP; ++k) a[k] = k < kN ? v[k] : 0.0f;
    warp_reduce_scatter<kP / 2>(a, lane);
#pragma unroll
    for (int q = 0; q < kP / 32; ++q) {
      const int k = lane * (kP / 32) + q;
      if (k < kN) scratch[warp * kN + k] = a[q];
    }
  }
  __syncthreads();
  for (int k = threadIdx.x; k < kN; k += kThreads) {
    float total = 0.0f;
    for (int w = 0; w < kWarps; ++w) total += scratch[w * kN + k];
    f(k, total);
  }
}

}  // namespace attnjit
