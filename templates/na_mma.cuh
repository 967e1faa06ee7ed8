// The warp-level pieces the neighborhood-attention tensor-core kernels share (na_forward_mma.cuh,
// na_backward_mma.cuh, na_backward_fused.cuh): A fragments of 16 rows from global memory or from shared memory
// (ldmatrix), staging tiles in T at na_mma_pitch (register loads or cp.async), S-like products A B^T against
// a staged tile (B fragments by ldmatrix, two n-tiles per load), X V products with X's C fragments repacked as
// A fragments, and storing a 16 x D accumulator. A warp owns 16 rows; a lane holds rows g and g + 8
// (layouts: mma.cuh).
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

// Stages group rows [first, first + rows) of a tensor in T at na_mma_pitch with cp.async, rows up to
// kCapacity zero. The caller commits the group and waits for it (then __syncthreads) before reading.
// Thread x copies the 16-byte packs x, x + kThreads, ...; where kThreads is a multiple of the packs per row
// its column is fixed and its rows step by a constant, so each copy is one address add (unrolled).
template <class Cfg, int kCapacity = Cfg::kChunk>
__device__ __forceinline__ void na_stage_async(const NaBlock& blk, const void* from, int first, int rows,
                                               unsigned short* to) {
  using T = typename Cfg::T;
  constexpr int kPitch = na_mma_pitch(Cfg::kD), kPacks = Cfg::kD / 8;
  const T* base = static_cast<const T*>(from);
  if constexpr (Cfg::kThreads % kPacks == 0) {
    constexpr int kStep = Cfg::kThreads / kPacks;  // rows apart
    const int r0 = threadIdx.x / kPacks, col = threadIdx.x % kPacks * 8;
    const T* src = base + na_row<Cfg>(blk, first + r0) + col;  // read only for rows before `rows`
#pragma unroll
    for (int k = 0; k < (kCapacity + kStep - 1) / kStep; ++k) {
      const int r = r0 + k * kStep;
      if (kCapacity % kStep != 0 && r >= kCapacity) break;
      const bool valid = r < rows;
      cp_async_16(to + r * kPitch + col, valid ? src + static_cast<long long>(k) * kStep * Cfg::kDil * Cfg::kD : base, valid);
    }
  } else {
    for (int i = threadIdx.x; i < kCapacity * kPacks; i += Cfg::kThreads) {
      const int r = i / kPacks, col = (i % kPacks) * 8;
      const bool valid = r < rows;
      cp_async_16(to + r * kPitch + col, base + (valid ? na_row<Cfg>(blk, first + r) + col : 0), valid);
    }
  }
}

// Writes a warp's 16 x D C-fragment accumulator (rows t0 .. t0 + 15 of the group, those before t_end), each
// row times its factor, through `tile` (16 rows at na_mma_pitch of shared memory that only this warp uses):
// the fragments go to shared memory, then each row leaves as 16-byte stores, a warp's 32 lanes covering
// whole rows (coalesced; fragment stores would write 4 bytes per lane).
template <class Cfg>
__device__ __forceinline__ void na_store_tile(void* dst, const NaBlock& blk, int t0, int t_end, int lane,
                                              const float (&acc)[Cfg::kD / 8][4], const float (&factor)[2],
                                              unsigned short* tile) {
  using T = typename Cfg::T;
  constexpr int kPitch = na_mma_pitch(Cfg::kD), kPacks = Cfg::kD / 8;
  const int g = lane / 4, c = lane % 4;
  __syncwarp();  // the warp's last reads of `tile` are done
#pragma unroll
  for (int r = 0; r < 2; ++r) {
#pragma unroll
    for (int dt = 0; dt < Cfg::kD / 8; ++dt) {
      *reinterpret_cast<unsigned*>(tile + (g + 8 * r) * kPitch + dt * 8 + 2 * c) =
          pack_floats<T>(acc[dt][2 * r] * factor[r], acc[dt][2 * r + 1] * factor[r]);
    }
  }
  __syncwarp();
#pragma unroll
  for (int i = lane; i < 16 * kPacks; i += 32) {
    const int row = i / kPacks, col = i % kPacks * 8;
    if (t0 + row < t_end) {
      *reinterpret_cast<uint4*>(static_cast<T*>(dst) + na_row<Cfg>(blk, t0 + row) + col) =
          *reinterpret_cast<const uint4*>(tile + row * kPitch + col);
    }
  }
}

// B fragments of n-tiles nt and nt + 1 (b[0..1] and b[2..3]) for k-step ks, from B^T's rows staged at kPitch
// (row = n, columns = k): one ldmatrix.x4. Lane l addresses row l % 8 of matrix l / 8: n-tile + 1 for the
// upper two matrices, k + 8 for odd ones.
template <int kPitch>
__device__ __forceinline__ void na_load_b_pair(unsigned (&b)[4], const unsigned short* staged, int nt, int ks, int lane) {
  ldmatrix_x4<false>(b, staged + (nt * 8 + lane / 16 * 8 + lane % 8) * kPitch + ks * 16 + (lane / 8) % 2 * 8);
}
// A fragment of k-step ks of the 16 rows staged at `rows` (kPitch apart): one ldmatrix.x4. Lane l addresses
// row l % 8 of matrix l / 8: rows + 8 for odd matrices, k + 8 for the upper two.
template <int kPitch>
__device__ __forceinline__ void na_load_a_shared(unsigned (&a)[4], const unsigned short* rows, int ks, int lane) {
  ldmatrix_x4<false>(a, rows + ((lane / 8) % 2 * 8 + lane % 8) * kPitch + ks * 16 + lane / 16 * 8);
}

// acc = A B^T for a 16 x (8 * kNTiles) tile, B^T's 8 * kNTiles rows staged at na_mma_pitch; a_fragment(ks,
// fa) gives A's fragment of k-step ks (held in registers, or loaded from shared memory per k-step).
template <class Cfg, int kNTiles, class AFragment>
__device__ __forceinline__ void na_mma_abt_from(AFragment a_fragment, const unsigned short* staged, int lane,
                                                float (&acc)[kNTiles][4]) {
  using T = typename Cfg::T;
  static_assert(kNTiles % 2 == 0, "n-tiles in pairs");
  constexpr int kPitch = na_mma_pitch(Cfg::kD);
#pragma unroll
  for (int nt = 0; nt < kNTiles; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
#pragma unroll
  for (int ks = 0; ks < Cfg::kD / 16; ++ks) {
    unsigned fa[4];
    a_fragment(ks, fa);
#pragma unroll
    for (int nt = 0; nt < kNTiles; nt += 2) {
      unsigned fb[4];
      na_load_b_pair<kPitch>(fb, staged, nt, ks, lane);
      Mma16816<T>::run(acc[nt], fa, {fb[0], fb[1]});
      Mma16816<T>::run(acc[nt + 1], fa, {fb[2], fb[3]});
    }
  }
}

// ... with A's fragments in registers (16 rows x D).
template <class Cfg, int kNTiles = Cfg::kChunk / 8>
__device__ __forceinline__ void na_mma_abt(const unsigned (&a)[Cfg::kD / 16][4], const unsigned short* staged, int lane,
                                           float (&acc)[kNTiles][4]) {
  auto held = [&](int ks, unsigned (&fa)[4]) {
#pragma unroll
    for (int r = 0; r < 4; ++r) fa[r] = a[ks][r];
  };
  na_mma_abt_from<Cfg, kNTiles>(held, staged, lane, acc);
}

// ... with A's 16 rows staged at na_mma_pitch too, its fragments loaded one k-step at a time (none stay in
// registers).
template <class Cfg, int kNTiles>
__device__ __forceinline__ void na_mma_abt_shared(const unsigned short* a, const unsigned short* b, int lane,
                                                  float (&acc)[kNTiles][4]) {
  auto staged_a = [&](int ks, unsigned (&fa)[4]) { na_load_a_shared<na_mma_pitch(Cfg::kD)>(fa, a, ks, lane); };
  na_mma_abt_from<Cfg, kNTiles>(staged_a, b, lane, acc);
}

// out[dt] += X V where X is 16 x (8 * kNTiles) in C-fragment form (rounded to T as A fragments) and V is
// staged (8 * kNTiles rows x D): V's B fragments by ldmatrix.x4.trans, two d-tiles per load.
template <class Cfg, int kNTiles>
__device__ __forceinline__ void na_mma_xv(const float (&x)[kNTiles][4], const unsigned short* staged, int lane,
                                          float (&out)[Cfg::kD / 8][4]) {
  using T = typename Cfg::T;
  static_assert(kNTiles % 2 == 0 && Cfg::kD % 16 == 0, "X V takes whole k-steps of 16 and d-tiles in pairs");
  constexpr int kPitch = na_mma_pitch(Cfg::kD);
  // Lane l addresses row l % 8 of matrix l / 8: keys + 8 for odd matrices, d-tile + 1 for the upper two.
  const unsigned short* at = staged + ((lane / 8) % 2 * 8 + lane % 8) * kPitch + lane / 16 * 8;
#pragma unroll
  for (int kk = 0; kk < kNTiles / 2; ++kk) {
    const unsigned a[4] = {pack_floats<T>(x[2 * kk][0], x[2 * kk][1]), pack_floats<T>(x[2 * kk][2], x[2 * kk][3]),
                           pack_floats<T>(x[2 * kk + 1][0], x[2 * kk + 1][1]), pack_floats<T>(x[2 * kk + 1][2], x[2 * kk + 1][3])};
#pragma unroll
    for (int dt = 0; dt < Cfg::kD / 8; dt += 2) {
      unsigned b[4];
      ldmatrix_x4<true>(b, at + kk * 16 * kPitch + dt * 8);
      Mma16816<T>::run(out[dt], a, {b[0], b[1]});
      Mma16816<T>::run(out[dt + 1], a, {b[2], b[3]});
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
      *reinterpret_cast<unsigned*>(out + dt * 8 + 2 * c) = pack_floats<T>(acc[dt][2 * r] * factor[r], acc[dt][2 * r + 1] * factor[r]);
    }
  }
}

}  // namespace attnjit
