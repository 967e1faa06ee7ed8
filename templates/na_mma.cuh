// The warp-level pieces the neighborhood-attention tensor-core kernels share (na_forward_mma.cuh,
// na_backward_mma.cuh): A fragments of 16 rows from global memory, staging tiles in T at na_mma_pitch,
// S-like products A B^T against a staged tile, X V products with X's C fragments repacked as A fragments,
// and storing a 16 x D accumulator. A warp owns 16 rows; a lane holds rows g and g + 8 (layouts: mma.cuh).
#pragma once

#include "mma.cuh"
#include "na_common.cuh"

namespace attnjit {

// Where a warp of a tensor-core kernel stands: the block's rows end at `end`; the block stages the other
// side's rows [first, last]; this warp's 16 rows see [warp_first, warp_last] of them (empty when it has no
// row); this lane holds rows[0] = g and rows[1] = g + 8. kKeys: the block's rows are queries and it stages
// keys (na_key_range); else keys staging queries (na_query_range).
struct NaWarpBand {
  int end, first, last, warp_first, warp_last;
  int rows[2];
  // Whether no row of the warp sees staged rows [c0, c0 + count): warp-uniform, the tile is skipped.
  __device__ __forceinline__ bool misses(int c0, int count) const { return c0 > warp_last || c0 + count - 1 < warp_first; }
};

template <class Cfg, bool kKeys>
__device__ __forceinline__ NaWarpBand na_warp_band(const NaBlock& blk, int warp, int g) {
  auto range = [&](int t) {
    return kKeys ? na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, t) : na_query_range(Cfg::kWindow, Cfg::kKernel, blk.n, t);
  };
  NaWarpBand b;
  b.end = na_min(blk.n, blk.t0 + Cfg::kRows);
  b.first = range(blk.t0).first;
  b.last = range(b.end - 1).last;
  const int w0 = blk.t0 + 16 * warp, w1 = na_min(w0 + 15, b.end - 1);
  b.warp_first = w0 < b.end ? range(w0).first : 0;
  b.warp_last = w0 < b.end ? range(w1).last : -1;
  b.rows[0] = w0 + g;
  b.rows[1] = w0 + g + 8;
  return b;
}

// A fragments of 16 rows x D of a (B, H, L, D) tensor, rows t0 + (g, g + 8); rows at or past t_end are zero.
template <class Cfg>
__device__ __forceinline__ void na_load_a(const void* base, const NaBlock& blk, const int (&rows)[2], int t_end, int c,
                                          unsigned (&a)[Cfg::kD / 16][4]) {
  using T = typename Cfg::T;
#pragma unroll
  for (int ks = 0; ks < Cfg::kD / 16; ++ks) {
#pragma unroll
    for (int reg = 0; reg < 4; ++reg) {
      const int t = rows[reg & 1], d = ks * 16 + 2 * c + (reg & 2 ? 8 : 0);
      a[ks][reg] = t < t_end ? *reinterpret_cast<const unsigned*>(static_cast<const T*>(base) + na_row<Cfg>(blk, t) + d) : 0u;
    }
  }
}

// Stages group rows [first, first + rows) of two tensors as T at na_mma_pitch, rows up to kChunk zero.
template <class Cfg>
__device__ __forceinline__ void na_stage_t(const NaBlock& blk, const void* a, const void* b, int first, int rows,
                                           unsigned short* sa, unsigned short* sb) {
  using T = typename Cfg::T;
  constexpr int kPitch = na_mma_pitch(Cfg::kD), kPacks = Cfg::kD / 8;
  for (int i = threadIdx.x; i < Cfg::kChunk * kPacks; i += Cfg::kThreads) {
    const int r = i / kPacks, col = (i % kPacks) * 8;
    uint4 x = {0u, 0u, 0u, 0u}, y = {0u, 0u, 0u, 0u};
    if (r < rows) {
      const long long at = na_row<Cfg>(blk, first + r) + col;
      x = *reinterpret_cast<const uint4*>(static_cast<const T*>(a) + at);
      y = *reinterpret_cast<const uint4*>(static_cast<const T*>(b) + at);
    }
    *reinterpret_cast<uint4*>(sa + r * kPitch + col) = x;
    *reinterpret_cast<uint4*>(sb + r * kPitch + col) = y;
  }
}

// acc[nt] += A B^T for the 16 x kChunk tile: A fragments in registers (16 rows x D), B^T's rows staged
// (kChunk rows x D at kPitch): B fragments as 32-bit loads of adjacent elements of a staged row.
template <class Cfg>
__device__ __forceinline__ void na_mma_abt(const unsigned (&a)[Cfg::kD / 16][4], const unsigned short* staged, int g,
                                           int c, float (&acc)[Cfg::kChunk / 8][4]) {
  using T = typename Cfg::T;
  constexpr int kPitch = na_mma_pitch(Cfg::kD);
#pragma unroll
  for (int nt = 0; nt < Cfg::kChunk / 8; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
#pragma unroll
  for (int ks = 0; ks < Cfg::kD / 16; ++ks) {
#pragma unroll
    for (int nt = 0; nt < Cfg::kChunk / 8; ++nt) {
      const unsigned short* row = staged + (nt * 8 + g) * kPitch + ks * 16 + 2 * c;
      const unsigned b[2] = {*reinterpret_cast<const unsigned*>(row), *reinterpret_cast<const unsigned*>(row + 8)};
      Mma16816<T>::run(acc[nt], a[ks], b);
    }
  }
}

// acc = A B^T for a 16 x (8 * kNTiles) tile with both operands staged at na_mma_pitch: A's 16 rows from `a`
// (A fragments as 32-bit loads, one k-step at a time, so none stay in registers), B^T's 8 * kNTiles rows
// from `b`.
template <class Cfg, int kNTiles>
__device__ __forceinline__ void na_mma_abt_shared(const unsigned short* a, const unsigned short* b, int g, int c,
                                                  float (&acc)[kNTiles][4]) {
  using T = typename Cfg::T;
  constexpr int kPitch = na_mma_pitch(Cfg::kD);
  auto word = [](const unsigned short* at) { return *reinterpret_cast<const unsigned*>(at); };
#pragma unroll
  for (int nt = 0; nt < kNTiles; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
#pragma unroll
  for (int ks = 0; ks < Cfg::kD / 16; ++ks) {
    const unsigned short* at = a + g * kPitch + ks * 16 + 2 * c;
    const unsigned fa[4] = {word(at), word(at + 8 * kPitch), word(at + 8), word(at + 8 * kPitch + 8)};
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
      const unsigned short* row = b + (nt * 8 + g) * kPitch + ks * 16 + 2 * c;
      const unsigned fb[2] = {word(row), word(row + 8)};
      Mma16816<T>::run(acc[nt], fa, fb);
    }
  }
}

// out[dt] += X V where X is 16 x (8 * kNTiles) in C-fragment form (rounded to T as A fragments) and V is
// staged (8 * kNTiles rows x D): V's B fragments by ldmatrix.trans.
template <class Cfg, int kNTiles>
__device__ __forceinline__ void na_mma_xv(const float (&x)[kNTiles][4], const unsigned short* staged, int lane,
                                          float (&out)[Cfg::kD / 8][4]) {
  using T = typename Cfg::T;
  static_assert(kNTiles % 2 == 0, "X V takes whole k-steps of 16");
  constexpr int kPitch = na_mma_pitch(Cfg::kD);
  auto bits = [](float v) { return from_float<T>(v).bits; };
#pragma unroll
  for (int kk = 0; kk < kNTiles / 2; ++kk) {
    const unsigned a[4] = {pack_pair(bits(x[2 * kk][0]), bits(x[2 * kk][1])), pack_pair(bits(x[2 * kk][2]), bits(x[2 * kk][3])),
                           pack_pair(bits(x[2 * kk + 1][0]), bits(x[2 * kk + 1][1])),
                           pack_pair(bits(x[2 * kk + 1][2]), bits(x[2 * kk + 1][3]))};
#pragma unroll
    for (int dt = 0; dt < Cfg::kD / 8; ++dt) {
      unsigned b[2];
      ldmatrix_x2_trans(b, staged + (kk * 16 + lane % 16) * kPitch + dt * 8);
      Mma16816<T>::run(out[dt], a, b);
    }
  }
}

// Stores rows (g, g + 8) of a 16 x D C-fragment accumulator, each times its factor.
template <class Cfg>
__device__ __forceinline__ void na_store_c(void* base, const NaBlock& blk, const int (&rows)[2], int t_end, int c,
                                           const float (&acc)[Cfg::kD / 8][4], const float (&factor)[2]) {
  using T = typename Cfg::T;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (rows[r] >= t_end) continue;
    T* out = static_cast<T*>(base) + na_row<Cfg>(blk, rows[r]);
#pragma unroll
    for (int dt = 0; dt < Cfg::kD / 8; ++dt) {
      *reinterpret_cast<unsigned*>(out + dt * 8 + 2 * c) =
          pack_pair(from_float<T>(acc[dt][2 * r] * factor[r]).bits, from_float<T>(acc[dt][2 * r + 1] * factor[r]).bits);
    }
  }
}

}  // namespace attnjit
