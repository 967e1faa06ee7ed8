// Just enough of CUDA to run a kernel template's code on the host: one std::thread per CUDA thread of a
// block, blocks one after another; __syncthreads is a barrier of the block, __shfl_xor_sync exchanges values
// among the lanes its mask names (a barrier per (warp, mask)), shared memory is one static buffer. Slow and
// only for small problems: it checks a kernel's indexing, chunking and lane-group logic on machines without
// a GPU (CI). It says nothing about speed, and nothing about the PTX the real compiler emits.
// Include this, define ATTNJIT_HOST_EMULATION, then the templates.
#pragma once

#include <algorithm>
#include <atomic>
#include <barrier>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#define ATTNJIT_HOST_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __grid_constant__
#define __shared__
#define __launch_bounds__(...)
#define __align__(n)

struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
struct alignas(8) float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
struct Dim3 {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local Dim3 threadIdx, blockIdx;

namespace attnjit_host {

inline float half_to_float(unsigned short bits) {
  _Float16 h;
  std::memcpy(&h, &bits, 2);
  return static_cast<float>(h);
}
inline unsigned short float_to_half(float v) {
  const _Float16 h = static_cast<_Float16>(v);  // round to nearest even
  unsigned short bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}
inline unsigned short float_to_bf16(float v) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(v);
  if (std::isnan(v)) return 0x7fc0;
  return static_cast<unsigned short>((u + 0x7fff + ((u >> 16) & 1)) >> 16);  // round to nearest even
}
inline float exp2(float x) { return std::exp2(x); }
inline float bf16_to_float(unsigned short bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

// The block being emulated: its barrier and the shuffle barriers of its lane groups.
struct Block {
  explicit Block(int threads) : sync(threads), slots(threads), warps((threads + 31) / 32) {}
  std::barrier<> sync;
  std::vector<std::uint64_t> slots;  // one value per thread for shuffles, any type up to 8 bytes
  struct WarpSlots {  // what the lanes of a warp hand each other in mma and ldmatrix
    unsigned a[32][4], b[32][2];
    const unsigned short* rows[32];
  };
  std::vector<WarpSlots> warps;
  std::mutex mutex;
  std::map<std::pair<int, unsigned>, std::unique_ptr<std::barrier<>>> groups;  // (warp, mask)
  std::barrier<>& group(int warp, unsigned mask) {
    std::lock_guard lock(mutex);
    auto& b = groups[{warp, mask}];
    if (!b) b = std::make_unique<std::barrier<>>(std::popcount(mask));
    return *b;
  }
};
inline Block* current_block = nullptr;

// The test's dynamic shared memory: filled with 0xFF bytes (NaN in every float type) before each block, so a
// kernel that reads what it did not stage, or past what it staged, carries NaN into its outputs.
struct SharedMemory {
  void* base = nullptr;
  std::size_t bytes = 0;
};
inline SharedMemory shared_memory;

// Runs kernel(params) over a grid of blocks of `threads` threads, one block at a time: the threads are made
// once per launch and go through the blocks together, meeting at a barrier after each (the next block then
// reuses the shared memory, as a real SM may).
template <class Kernel, class Params>
void launch(Kernel kernel, const Params& params, Dim3 grid, int threads) {
  Block block(threads);
  current_block = &block;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      threadIdx.x = static_cast<unsigned>(t);
      for (unsigned z = 0; z < std::max(1u, grid.z); ++z) {
        for (unsigned y = 0; y < std::max(1u, grid.y); ++y) {
          for (unsigned x = 0; x < grid.x; ++x) {
            if (t == 0 && shared_memory.base != nullptr) std::memset(shared_memory.base, 0xFF, shared_memory.bytes);
            block.sync.arrive_and_wait();
            blockIdx = {x, y, z};
            kernel(params);
            block.sync.arrive_and_wait();
          }
        }
      }
    });
  }
  for (auto& thread : pool) thread.join();
  current_block = nullptr;
}
template <class Kernel, class Params>
void launch(Kernel kernel, const Params& params, unsigned grid_x, int threads) {
  launch(kernel, params, Dim3{grid_x, 1, 1}, threads);
}

}  // namespace attnjit_host

namespace attnjit_host {

inline std::barrier<>& warp_barrier() {
  return current_block->group(static_cast<int>(threadIdx.x) / 32, 0xffffffffu);
}

// mma.sync.m16n8k16, fp32 accumulate: every lane hands in its A and B fragments, then computes its own four C
// elements from the whole matrices (layouts in templates/mma.cuh).
template <class ToFloat>
void mma_m16n8k16(float (&c)[4], const unsigned (&a)[4], const unsigned (&b)[2], ToFloat to_float) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  Block::WarpSlots& w = current_block->warps[threadIdx.x / 32];
  for (int r = 0; r < 4; ++r) w.a[lane][r] = a[r];
  for (int r = 0; r < 2; ++r) w.b[lane][r] = b[r];
  warp_barrier().arrive_and_wait();
  auto half = [&](unsigned reg, int k) { return to_float(static_cast<unsigned short>(k % 2 ? reg >> 16 : reg & 0xffff)); };
  auto A = [&](int row, int k) { return half(w.a[(row % 8) * 4 + (k % 8) / 2][(row >= 8) + 2 * (k >= 8)], k); };
  auto B = [&](int k, int n) { return half(w.b[n * 4 + (k % 8) / 2][k >= 8], k); };
  const int g = lane / 4, q = lane % 4;
  for (int e = 0; e < 4; ++e) {
    const int row = g + (e >= 2 ? 8 : 0), n = 2 * q + e % 2;
    float sum = c[e];
    for (int k = 0; k < 16; ++k) sum += A(row, k) * B(k, n);
    c[e] = sum;
  }
  warp_barrier().arrive_and_wait();
}

// ldmatrix.x4: lane l gives the address of row l % 8 of matrix l / 8 (16-byte aligned); lane (g, q) gets
// r[m] = (M_m[g][2q], M_m[g][2q + 1]), or with trans (M_m[2q][g], M_m[2q + 1][g]).
inline void ldmatrix_x4(unsigned (&r)[4], const unsigned short* row, bool trans) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  if (reinterpret_cast<std::uintptr_t>(row) % 16 != 0) std::abort();
  Block::WarpSlots& w = current_block->warps[threadIdx.x / 32];
  w.rows[lane] = row;
  warp_barrier().arrive_and_wait();
  const int g = lane / 4, q = lane % 4;
  for (int m = 0; m < 4; ++m) {
    const unsigned short low = trans ? w.rows[m * 8 + 2 * q][g] : w.rows[m * 8 + g][2 * q];
    const unsigned short high = trans ? w.rows[m * 8 + 2 * q + 1][g] : w.rows[m * 8 + g][2 * q + 1];
    r[m] = static_cast<unsigned>(low) | (static_cast<unsigned>(high) << 16);
  }
  warp_barrier().arrive_and_wait();
}

// Offset of a pointer into the test's shared memory (what a shared-state-space address is on a GPU whose
// block's shared memory starts at 0); aborts for any other pointer.
inline unsigned shared_offset(const void* p) {
  const auto* base = static_cast<const unsigned char*>(shared_memory.base);
  const auto* at = static_cast<const unsigned char*>(p);
  if (base == nullptr || at < base || at >= base + shared_memory.bytes) std::abort();
  return static_cast<unsigned>(at - base);
}

// wgmma.mma_async.m64nNk16 (N = 64 or 8) with A from registers and B through a matrix descriptor in the 128-byte swizzle
// (templates/wgmma.cuh), run when issued: each warp of the warpgroup computes its own 16 rows, so the lanes
// of a warp hand in their A fragments as for mma.sync. B's element (k, n) is at the logical byte offset
//   K-major:  start + (n / 8) * SBO + (n % 8) * 128 + 2k
//   MN-major: start + (n / 64) * LBO + (k / 8) * SBO + (k % 8) * 128 + 2 (n % 64)
// of shared memory, swizzled as the hardware does (bits 4-6 of the address XOR bits 7-9), so a kernel that
// stages a tile in another layout than its descriptor describes reads the wrong values.
// Element (k, n) of B, or (m, k) of A as (k, n = m) K-major, through a descriptor.
struct SwizzledOperand {
  unsigned start, lbo, sbo;
  bool mn_major;
  explicit SwizzledOperand(unsigned long long desc, bool mn_major_) : mn_major(mn_major_) {
    if ((desc >> 62) != 1 || ((desc >> 46) & 0xFFFF) != 0 || ((desc >> 14) & 3) != 0 || ((desc >> 30) & 3) != 0) {
      std::abort();  // only the 128-byte swizzle, base offset 0
    }
    start = static_cast<unsigned>(desc & 0x3FFF) << 4;
    lbo = static_cast<unsigned>((desc >> 16) & 0x3FFF) << 4;
    sbo = static_cast<unsigned>((desc >> 32) & 0x3FFF) << 4;
  }
  unsigned short bits(int k, int n) const {
    const unsigned logical = mn_major ? start + (n / 64) * lbo + (k / 8) * sbo + (k % 8) * 128 + 2 * (n % 64)
                                      : start + (n / 8) * sbo + (n % 8) * 128 + 2 * k;
    const unsigned physical = logical ^ (((logical >> 7) & 7) << 4);
    if (physical + 2 > shared_memory.bytes) std::abort();
    unsigned short b;
    std::memcpy(&b, static_cast<const unsigned char*>(shared_memory.base) + physical, 2);
    return b;
  }
};

template <int kN = 64, class ToFloat>
void wgmma_m64nk16(float (&d)[kN / 8][4], const unsigned (&a)[4], unsigned long long desc, bool trans_b, bool accumulate,
                   ToFloat to_float) {
  const SwizzledOperand b(desc, trans_b);
  const int lane = static_cast<int>(threadIdx.x) % 32;
  Block::WarpSlots& w = current_block->warps[threadIdx.x / 32];
  for (int r = 0; r < 4; ++r) w.a[lane][r] = a[r];
  warp_barrier().arrive_and_wait();
  auto half = [&](unsigned reg, int k) { return to_float(static_cast<unsigned short>(k % 2 ? reg >> 16 : reg & 0xffff)); };
  auto A = [&](int row, int k) { return half(w.a[(row % 8) * 4 + (k % 8) / 2][(row >= 8) + 2 * (k >= 8)], k); };
  auto B = [&](int k, int n) { return to_float(b.bits(k, n)); };
  const int g = lane / 4, q = lane % 4;
  for (int j = 0; j < kN / 8; ++j) {
    for (int e = 0; e < 4; ++e) {
      const int row = g + (e >= 2 ? 8 : 0), n = 8 * j + 2 * q + e % 2;
      float sum = accumulate ? d[j][e] : 0.0f;
      for (int k = 0; k < 16; ++k) sum += A(row, k) * B(k, n);
      d[j][e] = sum;
    }
  }
  warp_barrier().arrive_and_wait();
}

// ... with A through a descriptor too (K-major: row m of A is staged as row n of a K-major B^T); the warp
// computes its 16 rows, 16 (warp % 4) .. of the warpgroup's 64.
template <class ToFloat>
void wgmma_m64n64k16_ss(float (&d)[8][4], unsigned long long a_desc, unsigned long long b_desc, bool accumulate,
                        ToFloat to_float) {
  const SwizzledOperand a(a_desc, false), b(b_desc, false);
  const int lane = static_cast<int>(threadIdx.x) % 32, row0 = 16 * (static_cast<int>(threadIdx.x) / 32 % 4);
  const int g = lane / 4, q = lane % 4;
  for (int j = 0; j < 8; ++j) {
    for (int e = 0; e < 4; ++e) {
      const int row = row0 + g + (e >= 2 ? 8 : 0), n = 8 * j + 2 * q + e % 2;
      float sum = accumulate ? d[j][e] : 0.0f;
      for (int k = 0; k < 16; ++k) sum += to_float(a.bits(k, row)) * to_float(b.bits(k, n));
      d[j][e] = sum;
    }
  }
}

// cp.async: a thread's copies wait in its groups and land only when cp_async_wait_group lets them, so a kernel
// that reads shared memory before waiting reads the poison. (A copy landing early, as hardware may, is not
// emulated.)
struct PendingCopy {
  void* shared;
  const void* global;  // null: 16 zero bytes
};
inline thread_local std::vector<PendingCopy> open_group;
inline thread_local std::vector<std::vector<PendingCopy>> committed_groups;

inline void cp_async_16(void* shared, const void* global, bool valid) {
  if (reinterpret_cast<std::uintptr_t>(shared) % 16 != 0 || (valid && reinterpret_cast<std::uintptr_t>(global) % 16 != 0)) {
    std::abort();  // cp.async of 16 bytes needs both addresses 16-byte aligned
  }
  open_group.push_back({shared, valid ? global : nullptr});
}
inline void cp_async_commit() {
  committed_groups.push_back(std::move(open_group));
  open_group.clear();
}
inline void cp_async_wait_group(int pending) {
  while (static_cast<int>(committed_groups.size()) > pending) {
    for (const PendingCopy& c : committed_groups.front()) {
      if (c.global != nullptr) {
        std::memcpy(c.shared, c.global, 16);
      } else {
        std::memset(c.shared, 0, 16);
      }
    }
    committed_groups.erase(committed_groups.begin());
  }
}

// The tensor memory accelerator (templates/tma.cuh) on 3-D maps of 2-byte elements with the 128-byte swizzle:
// encode_tensor_map_3d writes the host's own description into the map's 128 bytes (what the kernel passes
// back to tma_load_3d), in place of the driver's cuTensorMapEncodeTiled.
struct TensorMap3d {
  const unsigned char* base;
  unsigned long long dims[3], strides[2];  // elements; bytes of dims 1 and 2
  unsigned box[3];
};
static_assert(sizeof(TensorMap3d) <= 128);
inline void encode_tensor_map_3d(void* map, const void* base, const unsigned long long (&dims)[3],
                                 const unsigned long long (&strides)[2], const unsigned (&box)[3]) {
  if (box[0] * 2 != 128) std::abort();  // the 128-byte swizzle: rows of 128 bytes
  const TensorMap3d m{static_cast<const unsigned char*>(base), {dims[0], dims[1], dims[2]}, {strides[0], strides[1]},
                      {box[0], box[1], box[2]}};
  std::memcpy(map, &m, sizeof m);
}

// Transaction barriers: each barrier's phase count, arrivals still expected and bytes still to land, kept by
// address under one lock (blocks run one at a time, and each initializes its own).
struct Mbarrier {
  unsigned count = 0, pending = 0;
  long long tx = 0;
  unsigned phase = 0;
};
inline std::mutex mbarrier_lock;
inline std::map<const void*, Mbarrier> mbarriers;
inline void mbarrier_step(Mbarrier& b) {
  if (b.pending == 0 && b.tx == 0) ++b.phase, b.pending = b.count;
}
inline void mbarrier_init(void* bar, unsigned count) {
  if (reinterpret_cast<std::uintptr_t>(bar) % 8 != 0) std::abort();
  std::lock_guard<std::mutex> lock(mbarrier_lock);
  mbarriers[bar] = Mbarrier{count, count, 0, 0};
}
inline void mbarrier_arrive_expect_tx(void* bar, unsigned bytes) {
  std::lock_guard<std::mutex> lock(mbarrier_lock);
  Mbarrier& b = mbarriers.at(bar);
  if (b.pending == 0) std::abort();  // more arrivals than the phase expects
  b.tx += bytes;
  --b.pending;
  mbarrier_step(b);
}
inline void mbarrier_wait(void* bar, unsigned parity) {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mbarrier_lock);
      if ((mbarriers.at(bar).phase & 1u) != parity) return;  // the phase of that parity has completed
    }
    std::this_thread::yield();
  }
}
inline void tma_load_3d(void* to, const void* map, int x, int y, int z, void* bar) {
  TensorMap3d m;
  std::memcpy(&m, map, sizeof m);
  if (reinterpret_cast<std::uintptr_t>(to) % 1024 != 0) std::abort();  // the swizzle's atoms are 1024-byte aligned
  unsigned char* dst = static_cast<unsigned char*>(to);
  int row = 0;
  for (unsigned k = 0; k < m.box[2]; ++k) {
    for (unsigned j = 0; j < m.box[1]; ++j, ++row) {
      const long long yy = y + static_cast<long long>(j), zz = z + static_cast<long long>(k);
      for (unsigned e = 0; e < m.box[0]; ++e) {
        const long long xx = x + static_cast<long long>(e);
        const bool inside = xx >= 0 && yy >= 0 && zz >= 0 && static_cast<unsigned long long>(xx) < m.dims[0] &&
                            static_cast<unsigned long long>(yy) < m.dims[1] && static_cast<unsigned long long>(zz) < m.dims[2];
        unsigned char* at = dst + row * 128 + (((e * 2 / 16) ^ (row & 7)) << 4) + e * 2 % 16;
        if (inside) {
          std::memcpy(at, m.base + xx * 2 + yy * m.strides[0] + zz * m.strides[1], 2);
        } else {
          std::memset(at, 0, 2);  // out of the tensor: zero
        }
      }
    }
  }
  std::lock_guard<std::mutex> lock(mbarrier_lock);
  Mbarrier& b = mbarriers.at(bar);
  b.tx -= static_cast<long long>(m.box[0]) * m.box[1] * m.box[2] * 2;
  mbarrier_step(b);
}
inline unsigned shared_count_up(unsigned* counter) {
  return std::atomic_ref<unsigned>(*counter).fetch_add(1u, std::memory_order_acq_rel);
}

}  // namespace attnjit_host

inline void __syncthreads() { attnjit_host::current_block->sync.arrive_and_wait(); }
// The whole warp (the kernels only pass the full mask).
inline void __syncwarp(unsigned = 0xffffffffu) { attnjit_host::warp_barrier().arrive_and_wait(); }

// A shuffle: every lane of `mask` stores its value, then reads lane `source(lane)`'s (its own when none).
template <class V, class Source>
V shuffle(unsigned mask, V v, Source source) {
  static_assert(sizeof(V) <= 8);
  attnjit_host::Block& block = *attnjit_host::current_block;
  const int t = static_cast<int>(threadIdx.x), warp = t / 32, lane = t % 32;
  if (((mask >> lane) & 1u) == 0) std::abort();  // a lane outside its own mask: undefined in CUDA
  std::barrier<>& group = block.group(warp, mask);
  std::memcpy(&block.slots[t], &v, sizeof(V));
  group.arrive_and_wait();
  const int from = source(lane);
  V other = v;
  if (from >= 0 && from < 32) {
    if (((mask >> from) & 1u) == 0) std::abort();  // reading a lane outside the mask: undefined in CUDA
    std::memcpy(&other, &block.slots[warp * 32 + from], sizeof(V));
  }
  group.arrive_and_wait();
  return other;
}

template <class V>
V __shfl_xor_sync(unsigned mask, V v, int offset) {
  return shuffle(mask, v, [offset](int lane) { return lane ^ offset; });
}
template <class V>
V __shfl_sync(unsigned mask, V v, int source) {
  return shuffle(mask, v, [source](int) { return source; });
}
template <class V>
V __shfl_down_sync(unsigned mask, V v, int delta) {
  return shuffle(mask, v, [delta](int lane) { return lane + delta; });
}

// A vote: whether any lane of the mask passes a true predicate (by shuffles, as the lanes exchange them).
inline int __any_sync(unsigned mask, int predicate) {
  int any = predicate != 0;
  for (int offset = 1; offset < 32; offset *= 2) any |= __shfl_xor_sync(mask, any, offset);
  return any;
}

inline float __int_as_float(int v) { return std::bit_cast<float>(v); }
inline float __uint_as_float(unsigned v) { return std::bit_cast<float>(v); }
inline int min(int a, int b) { return a < b ? a : b; }  // CUDA's integer min and max
inline int max(int a, int b) { return a > b ? a : b; }
using std::fmaf;
using std::fmaxf;
using std::log2f;
