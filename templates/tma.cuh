// sm_90's tensor memory accelerator and transaction barriers, for kernels whose tiles one thread requests:
// cp.async.bulk.tensor copies a box of a tensor map (CUtensorMap, encoded on the host, passed in the kernel's
// __grid_constant__ parameters) into shared memory, laid out as the map's swizzle says (the 128-byte swizzle
// of wgmma.cuh), rows past the tensor's end zero, and counts its bytes on an mbarrier. The barrier's phase
// completes once the thread that armed it (mbarrier_arrive_expect_tx) has arrived and all the bytes it
// announced have landed; waiters poll it with the phase's parity. Under ATTNJIT_HOST_EMULATION the copies
// and barriers are interpreted on the host (tests/emulation/cuda_host.hpp): a copy lands at once.
#pragma once

#include "mma.cuh"  // shared_address

namespace attnjit {

// Initializes a barrier in shared memory for `count` arrivals a phase. Then fence_barrier_init before any
// other thread or the copy engine uses it.
__device__ __forceinline__ void mbarrier_init(unsigned long long* bar, unsigned count) {
#ifdef ATTNJIT_HOST_EMULATION
  attnjit_host::mbarrier_init(bar, count);
#else
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(shared_address(bar)), "r"(count) : "memory");
#endif
}
__device__ __forceinline__ void fence_barrier_init() {
#ifndef ATTNJIT_HOST_EMULATION
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
}
// Arrives on `bar` and announces `bytes` more to land in its current phase.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(unsigned long long* bar, unsigned bytes) {
#ifdef ATTNJIT_HOST_EMULATION
  attnjit_host::mbarrier_arrive_expect_tx(bar, bytes);
#else
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes) : "memory");
#endif
}
// Waits until the phase of parity `parity` (0 for the first, then 1, 0, ...) of `bar` has completed.
__device__ __forceinline__ void mbarrier_wait(unsigned long long* bar, unsigned parity) {
#ifdef ATTNJIT_HOST_EMULATION
  attnjit_host::mbarrier_wait(bar, parity);
#else
  asm volatile(
      "{ .reg .pred done;\n"
      "WAIT_%=: mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=; }" ::"r"(shared_address(bar)),
      "r"(parity)
      : "memory");
#endif
}
// Copies the box at coordinates (x, y, z) (innermost first, in elements) of the 3-D tensor map `map` to
// `to` (shared memory, 1024-byte aligned for the 128-byte swizzle), its bytes counted on `bar`.
__device__ __forceinline__ void tma_load_3d(void* to, const void* map, int x, int y, int z, unsigned long long* bar) {
#ifdef ATTNJIT_HOST_EMULATION
  attnjit_host::tma_load_3d(to, map, x, y, z, bar);
#else
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];" ::"r"(
          shared_address(to)),
      "l"(map), "r"(x), "r"(y), "r"(z), "r"(shared_address(bar))
      : "memory");
#endif
}
// Adds 1 to a shared counter with acquire-release ordering at the block's scope and returns what it held:
// a warp that has waited for its last wgmma and then counts itself done with a tile publishes that its
// reads of the tile are over to whoever reads the count after it.
__device__ __forceinline__ unsigned shared_count_up(unsigned* counter) {
#ifdef ATTNJIT_HOST_EMULATION
  return attnjit_host::shared_count_up(counter);
#else
  unsigned before;
  asm volatile("atom.acq_rel.cta.shared::cta.add.u32 %0, [%1], 1;" : "=r"(before) : "r"(shared_address(counter)) : "memory");
  return before;
#endif
}

}  // namespace attnjit
