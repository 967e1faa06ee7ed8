// Just enough of CUDA to run a kernel template's code on the host: one std::thread per CUDA thread of a
// block, blocks one after another; __syncthreads is a barrier of the block, __shfl_xor_sync exchanges values
// among the lanes its mask names (a barrier per (warp, mask)), shared memory is one static buffer. Slow and
// only for small problems: it checks a kernel's indexing, chunking and lane-group logic on machines without
// a GPU (CI). It says nothing about speed, and nothing about the PTX the real compiler emits.
// Include this, define ATTNJIT_HOST_EMULATION, then the templates.
#pragma once

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

struct alignas(16) float4 {
  float x, y, z, w;
};
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

// The block being emulated: its barrier and the shuffle barriers of its lane groups.
struct Block {
  explicit Block(int threads) : sync(threads), slots(threads) {}
  std::barrier<> sync;
  std::vector<float> slots;
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

// Runs kernel(params) over grid_x blocks of `threads` threads.
template <class Kernel, class Params>
void launch(Kernel kernel, const Params& params, unsigned grid_x, int threads) {
  for (unsigned b = 0; b < grid_x; ++b) {
    Block block(threads);
    current_block = &block;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        threadIdx.x = static_cast<unsigned>(t);
        blockIdx.x = b;
        kernel(params);
      });
    }
    for (auto& thread : pool) thread.join();
  }
  current_block = nullptr;
}

}  // namespace attnjit_host

inline void __syncthreads() { attnjit_host::current_block->sync.arrive_and_wait(); }

inline float __shfl_xor_sync(unsigned mask, float v, int offset) {
  attnjit_host::Block& block = *attnjit_host::current_block;
  const int t = static_cast<int>(threadIdx.x), warp = t / 32, lane = t % 32;
  std::barrier<>& group = block.group(warp, mask);
  block.slots[t] = v;
  group.arrive_and_wait();
  const float other = block.slots[warp * 32 + (lane ^ offset)];
  group.arrive_and_wait();
  return other;
}

inline float __int_as_float(int v) { return std::bit_cast<float>(v); }
inline float __uint_as_float(unsigned v) { return std::bit_cast<float>(v); }
using std::fmaf;
using std::fmaxf;
using std::log2f;
