// Warp-level tensor-core pieces shared by the kernels that use them: mma.sync.m16n8k16 with fp32
// accumulation for bf16 and f16, ldmatrix (plain and transposed) from shared memory, cp.async staging (packing two
// 16-bit values into a fragment register, pack_pair and pack_floats, is in common.cuh). Fragment layouts: PTX ISA, "Matrix Fragments for mma.m16n8k16"; with
// g = lane / 4 and c = lane % 4:
//   A (16 x 16, row-major): a0 = (g, 2c..2c+1), a1 = (g+8, 2c..), a2 = (g, 2c+8..), a3 = (g+8, 2c+8..)
//   B (16 x 8, k x n):      b0 = (k 2c..2c+1, n g), b1 = (k 2c+8..2c+9, n g)
//   C (16 x 8, fp32):       c0, c1 = (g, 2c), (g, 2c+1); c2, c3 = (g+8, 2c), (g+8, 2c+1)
// Under ATTNJIT_HOST_EMULATION the warp's lanes exchange their fragments on the host instead
// (tests/emulation/cuda_host.hpp).
#pragma once

#include "common.cuh"

namespace attnjit {

template <class T>
struct Mma16816;
template <>
struct Mma16816<bf16_t> {
  __device__ static void run(float (&c)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
#ifdef ATTNJIT_HOST_EMULATION
    attnjit_host::mma_m16n8k16(c, a, b, attnjit_host::bf16_to_float);
#else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
  }
};
template <>
struct Mma16816<f16_t> {
  __device__ static void run(float (&c)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
#ifdef ATTNJIT_HOST_EMULATION
    attnjit_host::mma_m16n8k16(c, a, b, attnjit_host::half_to_float);
#else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
  }
};

// The 32-bit shared-state-space address of a generic pointer into shared memory (emulated: its offset in
// the block's shared memory).
__device__ __forceinline__ unsigned shared_address(const void* p) {
#ifdef ATTNJIT_HOST_EMULATION
  return attnjit_host::shared_offset(p);
#else
  unsigned address;
  asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(address) : "l"(p));
  return address;
#endif
}

// cp.async of 16 bytes, global to shared, through L2 only: the copy runs while the thread goes on; the
// thread commits its copies as a group (cp_async_commit) and waits for groups (cp_async_wait_group). With
// valid false nothing is read and the 16 bytes are zero.
__device__ __forceinline__ void cp_async_16(void* shared, const void* global, bool valid) {
#ifdef ATTNJIT_HOST_EMULATION
  attnjit_host::cp_async_16(shared, global, valid);
#else
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(shared_address(shared)), "l"(global),
               "r"(valid ? 16 : 0)
               : "memory");
#endif
}
// Closes the thread's group of cp.async copies issued since the last commit.
__device__ __forceinline__ void cp_async_commit() {
#ifdef ATTNJIT_HOST_EMULATION
  attnjit_host::cp_async_commit();
#else
  asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}
// Waits until at most kPending of the thread's committed groups are still in flight.
template <int kPending>
__device__ __forceinline__ void cp_async_wait_group() {
#ifdef ATTNJIT_HOST_EMULATION
  attnjit_host::cp_async_wait_group(kPending);
#else
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
#endif
}

// ldmatrix.x4: lanes 8m .. 8m + 7 give the addresses of the 8 rows (8 consecutive 16-bit values each) of
// matrix m; lane gets r[m] = (M_m[g][2c], M_m[g][2c+1]), or with kTrans (M_m[2c][g], M_m[2c+1][g]). Rows
// staged as [n][k] give B fragments plain (two n-tiles, or two k-halves, per call), rows as [k][n] give
// them transposed; rows as [m][k] give an A fragment plain.
template <bool kTrans>
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const unsigned short* row) {
#ifdef ATTNJIT_HOST_EMULATION
  attnjit_host::ldmatrix_x4(r, row, kTrans);
#else
  if constexpr (kTrans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(shared_address(row)));
  } else {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(shared_address(row)));
  }
#endif
}

}  // namespace attnjit
