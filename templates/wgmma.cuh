// Warpgroup-level tensor-core pieces for sm_90a (wgmma.mma_async), for kernels whose blocks are warpgroups
// (4 consecutive warps, 128 threads): one instruction computes a 64 x 64 x 16 product, A from registers
// (each warp its 16 rows, the layout of mma.sync's A fragments, mma.cuh; Wgmma64) or from shared memory
// staged as a K-major B^T is (Wgmma64SS), B from shared memory through a matrix descriptor, D in registers (each warp its 16 rows, every n8 tile laid out as mma.sync's C fragments:
// d[j] = (g, 8j + 2c), (g, 8j + 2c + 1), (g + 8, 8j + 2c), (g + 8, 8j + 2c + 1)).
//
// B tiles are staged in the 128-byte swizzle: rows of 128 bytes (64 16-bit values) in atoms of 8 rows
// (1024 bytes, 1024-byte aligned), the 16-byte chunk c of row r at chunk c ^ (r % 8) (swizzle128_offset).
// The same staging serves both operand orders (PTX ISA, "Shared Memory Matrix Layout" of wgmma):
//   K-major (B^T's rows staged, e.g. keys x head dim for S = Q K^T): row n of B^T at byte n * 128; one
//     descriptor per k-step, its start 32 bytes further each step; 8-row groups 1024 bytes apart (SBO).
//   MN-major (B's rows staged, e.g. keys x head dim for O += P V, with imm-trans-b 1): row k of B at byte
//     k * 128; one descriptor per k-step, its start 2048 bytes (16 rows) further; 8-row groups 1024 bytes
//     apart (SBO). With N = 64 the tile is one column block, so the leading offset is never used; it is set
//     to 1024 too, which reads the same under either reading of the ISA's LBO/SBO for this layout.
// The async proxy reads what wgmma reads: after cp.async lands a tile, fence_proxy_async_shared() before
// the barrier that publishes it. Under ATTNJIT_HOST_EMULATION the warps' fragments and the descriptors are
// interpreted on the host (tests/emulation/cuda_host.hpp), synchronously.
#pragma once

#include "mma.cuh"

namespace attnjit {

// Byte offset of 16-byte chunk `chunk` (0..7) of row `row` in a 128-byte-swizzled tile.
__device__ __forceinline__ constexpr int swizzle128_offset(int row, int chunk) { return row * 128 + ((chunk ^ (row & 7)) << 4); }

// The matrix descriptor of a 128-byte-swizzled tile starting at `tile` (shared memory), as two 32-bit words,
// so that per-instruction offsets are 32-bit adds to the low one and the high one is a constant (built as
// one 64-bit value, every offset was a 64-bit add and both halves moved to uniform registers per
// instruction). Low: start address >> 4 in bits 0-13 (shared memory is under 256 KiB, so an address inside
// it plus an offset that stays inside it never carries out of them) and the leading byte offset >> 4 in
// bits 16-29. High: the stride byte offset >> 4 in bits 0-13 and swizzle mode 1 (128 bytes) in bits 30-31.
__device__ __forceinline__ unsigned wgmma_descriptor_lo(const void* tile, unsigned lbo_bytes) {
  return ((shared_address(tile) >> 4) & 0x3FFFu) | (((lbo_bytes >> 4) & 0x3FFFu) << 16);
}
__device__ __forceinline__ constexpr unsigned wgmma_descriptor_hi(unsigned sbo_bytes) { return ((sbo_bytes >> 4) & 0x3FFFu) | (1u << 30); }
__device__ __forceinline__ constexpr unsigned long long wgmma_descriptor(unsigned lo, unsigned hi) {
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

// Orders this thread's earlier register accesses before the warpgroup's next wgmma.mma_async.
__device__ __forceinline__ void wgmma_fence() {
#ifndef ATTNJIT_HOST_EMULATION
  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#ifndef ATTNJIT_HOST_EMULATION
  asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
#endif
}
// Waits until at most kPending committed groups of wgmma are in flight.
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
#ifndef ATTNJIT_HOST_EMULATION
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(kPending) : "memory");
#else
  __syncwarp();  // .sync.aligned: the warp's lanes pass it together (what follows may count the warp done)
#endif
}
// Makes this thread's writes to shared memory (stores, landed cp.async) visible to the async proxy, which
// wgmma reads through.
__device__ __forceinline__ void fence_proxy_async_shared() {
#ifndef ATTNJIT_HOST_EMULATION
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
#endif
}
// Tells the compiler that the accumulators change here: after wgmma_wait, so that no read of them is moved
// above the wait (the asm that issued the wgmma already named them as outputs).
template <int kN>
__device__ __forceinline__ void wgmma_fence_operands(float (&d)[kN][4]) {
#ifndef ATTNJIT_HOST_EMULATION
#pragma unroll
  for (int j = 0; j < kN; ++j) {
    asm volatile("" : "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])::"memory");
  }
#endif
}

// Tells the compiler that A fragments handed to wgmma are still read here: after the wgmma_wait that covers
// them, so that their registers are not reused while the instruction may still read them.
__device__ __forceinline__ void wgmma_keep(const unsigned (&a)[4][4]) {
#ifndef ATTNJIT_HOST_EMULATION
#pragma unroll
  for (int k = 0; k < 4; ++k) asm volatile("" ::"r"(a[k][0]), "r"(a[k][1]), "r"(a[k][2]), "r"(a[k][3]) : "memory");
#endif
}

// An instruction's asm for T's element type, which is part of the instruction's literal string.
#define ATTNJIT_WGMMA_FOR_TYPE(T, INSTRUCTION) \
  if constexpr (WgmmaIsBf16<T>::value) {       \
    INSTRUCTION("bf16");                       \
  } else {                                     \
    INSTRUCTION("f16");                        \
  }

// The 32 fp32 accumulators of an m64n64 product, d[8][4], as asm in-out operands %0 .. %31.
#define ATTNJIT_WGMMA_D64                                                                                    \
  "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]),    \
      "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), \
      "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), \
      "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), \
      "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])

#define ATTNJIT_WGMMA_M64N64K16(TYPE)                                                                         \
  asm volatile(                                                                                               \
      "{ .reg .pred p; .reg .b32 hi; .reg .b64 db; setp.ne.b32 p, %37, 0; mov.b32 hi, %38; "                  \
      "mov.b64 db, {%36, hi}; wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE " "                   \
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                               \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "                     \
      "{%32, %33, %34, %35}, db, p, 1, 1, %39; }"                                                             \
      : ATTNJIT_WGMMA_D64                                                                                     \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(desc_lo), "r"(accumulate ? 1 : 0), "n"(kHi), "n"(kTransB))

#define ATTNJIT_WGMMA_M64N8K16(TYPE)                                                                          \
  asm volatile(                                                                                               \
      "{ .reg .b32 hi; .reg .b64 db; mov.b32 hi, %9; mov.b64 db, {%8, hi}; "                                 \
      "wgmma.mma_async.sync.aligned.m64n8k16.f32." TYPE "." TYPE " "                                          \
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, db, 1, 1, 1, 0; }"                                                 \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                                        \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(desc_lo), "n"(kHi))

#define ATTNJIT_WGMMA_M64N64K16_SS(TYPE)                                                                      \
  asm volatile(                                                                                               \
      "{ .reg .pred p; .reg .b32 hi; .reg .b64 da, db; setp.ne.b32 p, %34, 0; mov.b32 hi, %35; "             \
      "mov.b64 da, {%32, hi}; mov.b64 db, {%33, hi}; "                                                        \
      "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE " "                                         \
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                               \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "                     \
      "da, db, p, 1, 1, 0, 0; }"                                                                              \
      : ATTNJIT_WGMMA_D64                                                                                     \
      : "r"(a_lo), "r"(b_lo), "r"(accumulate ? 1 : 0), "n"(kHi))

// d (64 x 64, this warp's 16 rows) = A B (+ d when accumulate): A 64 x 16 from the warps' fragments, B
// 16 x 64 through the descriptor (desc_lo, kHi), K-major (kTransB 0) or MN-major (kTransB 1). Asynchronous: commit, wait, then
// wgmma_fence_operands before reading d.
template <class T>
struct WgmmaIsBf16 {
  static constexpr bool value = false;
};
template <>
struct WgmmaIsBf16<bf16_t> {
  static constexpr bool value = true;
};
#ifdef ATTNJIT_HOST_EMULATION
// The emulator's reading of one 16-bit element of T.
template <class T>
constexpr auto wgmma_element_to_float() {
  return WgmmaIsBf16<T>::value ? attnjit_host::bf16_to_float : attnjit_host::half_to_float;
}
#endif

template <class T, int kTransB>
struct Wgmma64 {
  // B's descriptor as its low word, the high word kHi a constant (wgmma_descriptor_lo / _hi).
  template <unsigned kHi>
  __device__ static void run(float (&d)[8][4], const unsigned (&a)[4], unsigned desc_lo, bool accumulate) {
#ifdef ATTNJIT_HOST_EMULATION
    attnjit_host::wgmma_m64nk16<64>(d, a, wgmma_descriptor(desc_lo, kHi), kTransB != 0, accumulate,
                                    wgmma_element_to_float<T>());
#else
    ATTNJIT_WGMMA_FOR_TYPE(T, ATTNJIT_WGMMA_M64N64K16);
#endif
  }
};

// d (64 x 8, this warp's 16 rows: d[0..3] as one n8 tile of Wgmma64's) += A B: A 64 x 16 from the warps'
// fragments, B 16 x 8 K-major through the descriptor (desc_lo, kHi). With B all ones, every column of d is
// the row sums of A (the softmax's sums from P's own fragments). Asynchronous, as Wgmma64.
template <class T>
struct Wgmma64N8 {
  template <unsigned kHi>
  __device__ static void run(float (&d)[4], const unsigned (&a)[4], unsigned desc_lo) {
#ifdef ATTNJIT_HOST_EMULATION
    attnjit_host::wgmma_m64nk16<8>(*reinterpret_cast<float(*)[1][4]>(&d), a, wgmma_descriptor(desc_lo, kHi), false, true,
                                   wgmma_element_to_float<T>());
#else
    ATTNJIT_WGMMA_FOR_TYPE(T, ATTNJIT_WGMMA_M64N8K16);
#endif
  }
};

// d (64 x 64, this warp's 16 rows) = A B (+ d when accumulate): A 64 x 16 and B 16 x 64 both through
// descriptors, K-major (A's 64 rows staged as B^T's are), as low words over the constant high word kHi.
// Asynchronous, as Wgmma64.
template <class T>
struct Wgmma64SS {
  template <unsigned kHi>
  __device__ static void run(float (&d)[8][4], unsigned a_lo, unsigned b_lo, bool accumulate) {
#ifdef ATTNJIT_HOST_EMULATION
    attnjit_host::wgmma_m64n64k16_ss(d, wgmma_descriptor(a_lo, kHi), wgmma_descriptor(b_lo, kHi), accumulate,
                                     wgmma_element_to_float<T>());
#else
    ATTNJIT_WGMMA_FOR_TYPE(T, ATTNJIT_WGMMA_M64N64K16_SS);
#endif
  }
};

#undef ATTNJIT_WGMMA_FOR_TYPE
#undef ATTNJIT_WGMMA_M64N64K16
#undef ATTNJIT_WGMMA_M64N8K16
#undef ATTNJIT_WGMMA_M64N64K16_SS
#undef ATTNJIT_WGMMA_D64

}  // namespace attnjit
