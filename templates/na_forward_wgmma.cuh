// Neighborhood attention forward on sm_90's warpgroup tensor cores (wgmma.mma_async; f16/bf16, D 64 or 128):
// the loop of na_forward_mma.cuh with each warpgroup's 64 queries multiplied by a whole key tile per
// instruction instead of each warp's 16 rows by 8 keys, so the issue slots go to the softmax.
//
// A block owns kRows = 64 * warpgroups (1 to 4) consecutive queries of one dilation group; warp w the 16 rows
// t0 + 16w .. t0 + 16w + 15 (the layout of wgmma's accumulators). The block's keys [first(t0),
// last(t_end - 1)] come in tiles of kChunk (64 or 128) keys, two buffers, tile i + 1 landing while the warps
// compute on tile i: by the tensor memory accelerator where na_forward_wgmma_tma holds (one thread requests
// a tile; each warp waits on the buffer's mbarrier and counts itself done after it, the last one requesting
// tile i + 2; rows past the range are the tensor's, masked), else by every thread's cp.async and a barrier
// per tile (rows past the range zero). Keys and values land in the 128-byte swizzle (wgmma.cuh), D / 64
// column blocks of kChunk rows each. The queries are staged once in the same swizzle, wgmma's A through a
// descriptor. Per tile, a warpgroup none of whose rows sees a key of it skips it; otherwise S = Q K^T
// (kChunk / 64 wgmma per k-step, K-major A and B), the mask and the online softmax exactly as
// na_forward_mma.cuh (the accumulators have mma.sync's C layout), then O += P V with P repacked as A
// fragments (one wgmma per 16 keys and 64 head elements, V as MN-major B), o rescaled only when a row's max
// grew by more than a factor 2^8 (kLazyLog2). A 128-key tile goes in two 64-key halves, each its own commit group, so one half's softmax runs
// beside the other half's S or P V; a half outside the warpgroup's keys is skipped. The output leaves
// through rows at na_mma_pitch (na_store_tile) laid over the key, value and query tiles once every warpgroup
// is done with them, so the shared memory is the tiles' (and a 1 KiB atom of ones, two barriers): 8-warp
// blocks at D = 128 fit two to an SM, 4-warp ones at D = 64 four or five (na_forward_min_blocks).
#pragma once

#include "na_mma.cuh"
#include "tma.cuh"
#include "wgmma.cuh"

namespace attnjit {

// Stages group rows [first, first + rows) of a tensor with cp.async in the 128-byte swizzle: D / 64 column
// blocks of kCapacity rows (128 bytes each), rows up to kCapacity zero. Thread x copies 16-byte pack
// x % (D / 8) of rows x / (D / 8), + kStep, ...: where kStep divides kCapacity its column, and with it its
// swizzled chunk (kStep is a multiple of 8), is fixed: one address add per copy; else (12 warps) each copy
// computes its place.
template <class Cfg, int kCapacity>
__device__ __forceinline__ void na_stage_swizzled(const NaBlock& blk, const void* from, int first, int rows, unsigned char* to) {
  using T = typename Cfg::T;
  constexpr int kPacks = Cfg::kD / 8, kStep = Cfg::kThreads / kPacks;
  if constexpr (kStep % 8 != 0 || kCapacity % kStep != 0) {
    const T* base = static_cast<const T*>(from);
    for (int i = threadIdx.x; i < kCapacity * kPacks; i += Cfg::kThreads) {
      const int r = i / kPacks, col = i % kPacks;
      const bool valid = r < rows;
      cp_async_16(to + col / 8 * (kCapacity * 128) + swizzle128_offset(r, col % 8),
                  base + (valid ? na_row<Cfg>(blk, first + r) + col * 8 : 0), valid);
    }
    return;
  }
  const int r0 = threadIdx.x / kPacks, col = threadIdx.x % kPacks;
  unsigned char* at = to + col / 8 * (kCapacity * 128) + swizzle128_offset(r0, col % 8);
  const T* base = static_cast<const T*>(from);
  const T* src = base + na_row<Cfg>(blk, first + r0) + col * 8;  // read only for rows before `rows`
#pragma unroll
  for (int k = 0; k < kCapacity / kStep; ++k) {
    const bool valid = r0 + k * kStep < rows;
    cp_async_16(at + k * kStep * 128, valid ? src + static_cast<long long>(k) * kStep * Cfg::kDil * Cfg::kD : base, valid);
  }
}

template <class Cfg>
__device__ __forceinline__ void na_forward_wgmma(const NaParams& p) {
  using T = typename Cfg::T;
  static_assert(na_forward_wgmma_eligible(sizeof(T), Cfg::kD), "wgmma takes f16/bf16 and D = 64 or 128");
  static_assert(Cfg::kThreads % 128 == 0 && Cfg::kRows == Cfg::kThreads / 2, "64 queries per warpgroup");
  static_assert(Cfg::kChunk == 64 || Cfg::kChunk == 128, "key tiles of 64 or 128 keys");
  constexpr int kPitch = na_mma_pitch(Cfg::kD);
  constexpr int kKSteps = Cfg::kD / 16, kNTiles = Cfg::kChunk / 8, kDTiles = Cfg::kD / 8, kHalves = Cfg::kChunk / 64;
  constexpr int kBlockBytes = Cfg::kChunk * 128;            // one 64-column block of a staged tile
  constexpr int kTileBytes = Cfg::kD / 64 * kBlockBytes;    // one tensor's tile
  // The running max m of a row moves (and o and l are rescaled) only when a tile's max exceeds it by more
  // than kLazyLog2 in the exponent's base 2 (as FlashAttention 4 does): P is then up to 2^8, which f16, bf16
  // and the fp32 sums hold as well as any, and o / l and the log-sum-exp m + log2 l are the same. On the
  // benchmarks' random scores the max then moves on a row's first keys and rarely after, where an exact max
  // moved on nearly every tile of k=257 (16 rows a warp, each with odds 1 / (i + 1) at tile i), and every
  // move costs a multiply per element of o. Not at D = 128 with 128 registers a thread (16 warps, or 8 at two blocks an
  // SM): there the warp vote made ptxas serialize the wgmma (C7512; k=2049 1253 -> 1517 us): exact max, o
  // always rescaled.
  constexpr int kResident = Cfg::kThreads * na_forward_min_blocks(Cfg::kLanes, Cfg::kThreads, Cfg::kChunk, Cfg::kD, Cfg::kKernel);
  constexpr bool kAlways = Cfg::kD == 128 && kResident >= 512;
  constexpr float kLazyLog2 = kAlways ? 0.0f : 8.0f;
  // At five blocks an SM (96 registers a thread) the row sums l go on the tensor cores, P times a column of
  // ones beside P V (one m64n8k16 wgmma per 16 keys): no add per score, no partial sums live in registers,
  // no quad reduction (115 -> 104 registers at four blocks; at 96, 20 bytes spilled where 48 spilled
  // before, k=257 179 -> 146.5 us). l is then the sum of P as rounded to T, the P that P V adds up: out is
  // normalized by its own weights, and the log-sum-exp is that of T's P (within T's unit roundoff of the
  // exact one: tuner/mta_verify.hpp, compare_logsumexp). Elsewhere, with registers to spare, the sums stay
  // in fp32 (the same time at four blocks: 150.0 against 150.9 us).
  constexpr bool kSumByMma = kResident > 512;
  const NaBlock blk = na_block<Cfg>();
  if (blk.t0 >= blk.n) return;
  extern __shared__ float4 smem4[];
  // From the first 1024-byte boundary (the swizzle's atoms): [2][keys, values] tiles, then the queries swizzled
  // (wgmma's A), an atom of ones, the barriers. After the loop, kRows rows at kPitch from `buffers` on,
  // through which the output leaves.
  unsigned char* raw = reinterpret_cast<unsigned char*>(smem4);
  unsigned char* buffers = raw + ((1024 - shared_address(raw) % 1024) % 1024);
  unsigned char* queries = buffers + 4 * kTileBytes;  // [D / 64][kRows][128 B]
  unsigned char* ones = queries + Cfg::kRows * Cfg::kD * 2;  // 1024 bytes of T(1): the row sums' B (kSumByMma)
  static_assert(Cfg::kRows * kPitch * 2 <= 4 * kTileBytes + Cfg::kRows * Cfg::kD * 2, "the output rows fit over the tiles");

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  const NaWarpBand band = na_warp_band<Cfg, true>(blk, warp, g);
  const int t_end = band.end, first = band.first, last = band.last;
  const int(&rows_t)[2] = band.rows;
  NaRange window[2];
  // As na_forward_mma, the keys every row of the warp sees. A copy on purpose: the two forwards sharing one
  // helper for it measured this kernel 2-2.5% slower (bench/results/2026-11-24_H100_8e27f12).
  int inner_first = -(1 << 30), inner_last = 1 << 30;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const bool valid = rows_t[r] < t_end;
    window[r] = valid ? na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, rows_t[r]) : NaRange{1, 0};
    if (valid) inner_first = mta_max(inner_first, window[r].first), inner_last = na_min(inner_last, window[r].last);
  }
#pragma unroll
  for (int offset = 4; offset < 32; offset *= 2) {
    inner_first = mta_max(inner_first, __shfl_xor_sync(kFullMask, inner_first, offset));
    inner_last = na_min(inner_last, __shfl_xor_sync(kFullMask, inner_last, offset));
  }
  // The warpgroup's keys: a tile outside them is skipped by all its four warps together.
  const int wg0 = blk.t0 + 64 * (warp / 4), wg1 = na_min(wg0 + 63, t_end - 1);
  const int wg_first = wg0 < t_end ? na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, wg0).first : 1;
  const int wg_last = wg0 < t_end ? na_key_range(Cfg::kWindow, Cfg::kKernel, blk.n, wg1).last : 0;

  const int tiles = (last - first) / Cfg::kChunk + 1;
  // The tensor memory accelerator's way (na_forward_wgmma_tma): full[b] completes when buffer b's tile has
  // landed (its phases 0, 1, 0, ... are tiles b, b + 2, ...); done[b] counts the warps finished with it.
  constexpr bool kTma = na_forward_wgmma_tma(Cfg::kL, Cfg::kDil);
  constexpr int kWarps = Cfg::kThreads / 32;
  unsigned long long* full = reinterpret_cast<unsigned long long*>(ones + 1024);
  unsigned* done = reinterpret_cast<unsigned*>(full + 2);
  auto request = [&](int tile) {  // one thread: tile `tile` into buffer tile & 1
    const int b = tile & 1, row = blk.bh * (Cfg::kL / Cfg::kDil) + first + tile * Cfg::kChunk;
    unsigned char* to = buffers + b * 2 * kTileBytes;
    mbarrier_arrive_expect_tx(full + b, 2 * kTileBytes);
#pragma unroll
    for (int cb = 0; cb < Cfg::kD / 64; ++cb) {
      tma_load_3d(to + cb * kBlockBytes, p.key_map, 64 * cb, blk.g, row, full + b);
      tma_load_3d(to + kTileBytes + cb * kBlockBytes, p.value_map, 64 * cb, blk.g, row, full + b);
    }
  };
  auto stage = [&](int tile) {  // cp.async, every thread its share; rows past the range zero (P = 0 there)
    const int c0 = first + tile * Cfg::kChunk, rows = na_min(Cfg::kChunk, last + 1 - c0);
    unsigned char* to = buffers + (tile & 1) * 2 * kTileBytes;
    na_stage_swizzled<Cfg, Cfg::kChunk>(blk, p.key, c0, rows, to);
    na_stage_swizzled<Cfg, Cfg::kChunk>(blk, p.value, c0, rows, to + kTileBytes);
  };
  if constexpr (kTma) {
    // Rows past `last` are the tensor's next rows (or zero past its end): outside every window of the block,
    // so masked to P = 0, and finite, so P V adds nothing.
    if (threadIdx.x == 0) {
      mbarrier_init(full, 1);
      mbarrier_init(full + 1, 1);
      done[0] = done[1] = 0;
      fence_barrier_init();
      request(0);
      if (tiles > 1) request(1);
    }
  }
  if constexpr (kSumByMma) {
    const unsigned one = WgmmaIsBf16<T>::value ? 0x3F803F80u : 0x3C003C00u;  // T(1) twice
    for (int i = threadIdx.x; i < 256; i += Cfg::kThreads) reinterpret_cast<unsigned*>(ones)[i] = one;
  }
  na_stage_swizzled<Cfg, Cfg::kRows>(blk, p.query, blk.t0, t_end - blk.t0, queries);  // rows past t_end zero
  if constexpr (!kTma) stage(0);
  cp_async_commit();
  if constexpr (kTma) {
    cp_async_wait_group<0>();
    fence_proxy_async_shared();  // the queries, for wgmma's reads
    __syncthreads();             // and the barriers initialized
  }
  // Q's A operand through a descriptor too: its fragments held in registers across the tile loop came out
  // wrong on the H100 for some configs (D = 64 with 64-key tiles) though right in the emulator and
  // after any change to the register allocation; from shared memory nothing of Q is held.
  // Descriptors as low words (wgmma_descriptor_lo): offsets are 32-bit adds. The warpgroup's index through a
  // shuffle, so that ptxas knows it is the same across the warp and keeps the descriptors in uniform registers.
  constexpr unsigned kDescHi = wgmma_descriptor_hi(1024);
  const int warpgroup = __shfl_sync(kFullMask, warp / 4, 0);
  const unsigned q_desc = wgmma_descriptor_lo(queries + warpgroup * 64 * 128, 1024);
  const unsigned kv_desc = wgmma_descriptor_lo(buffers, 1024);  // buffer 0's keys
  const unsigned ones_desc = wgmma_descriptor_lo(ones, 1024);   // K-major, 8 rows of 64 ones: any k-step reads ones
  float o[kDTiles][4];
#pragma unroll
  for (int dt = 0; dt < kDTiles; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};  // as na_forward_mma, but m may lag the max
  float lsum[1][4] = {{0.0f, 0.0f, 0.0f, 0.0f}};  // kSumByMma: l of rows g (lsum[0][0]) and g + 8 (lsum[0][2])
  auto fence_accumulators = [&] {  // after a wait for P V: o (and the sums) as the wgmma left them
    wgmma_fence_operands(o);
    if constexpr (kSumByMma) wgmma_fence_operands(lsum);
  };

  for (int tile = 0; tile < tiles; ++tile) {
    if constexpr (kTma) {
      mbarrier_wait(full + (tile & 1), (tile >> 1) & 1);
    } else {
      cp_async_wait_group<0>();
      fence_proxy_async_shared();  // the landed tile, for wgmma's reads
      __syncthreads();
      if (tile + 1 < tiles) stage(tile + 1);
      cp_async_commit();
    }
    const int c0 = first + tile * Cfg::kChunk;
    if (c0 <= wg_last && c0 + Cfg::kChunk - 1 >= wg_first) {  // warpgroup-uniform: else its keys are elsewhere
      // S of each 64-key half of the tile is its own commit group: the softmax of the first half runs while the
      // tensor cores compute the second, and that of the second while P V of the first runs.
      float s[kNTiles][4];  // S: (row g / g + 8) x (key nt * 8 + 2c, + 1)
      // The tile's keys and values (buffer tile & 1) from buffer 0's descriptor computed before the loop: the
      // offsets stay in uniform registers (k=2049 1019 -> 996 us).
      const unsigned k_desc = kv_desc + (tile & 1) * (2 * kTileBytes / 16), v_desc = k_desc + kTileBytes / 16;
      // S of half h (keys 64 h .. + 63 of the tile: 8 atoms, 8192 bytes, further), one commit group.
      auto scores = [&](const int h) {
#pragma unroll
        for (int ks = 0; ks < kKSteps; ++ks) {  // head elements 16 ks ..: column block ks / 4, 32 bytes per step in it
          Wgmma64SS<T>::template run<kDescHi>(*reinterpret_cast<float(*)[8][4]>(&s[8 * h]),
                                                 q_desc + (ks / 4 * Cfg::kRows * 128 + ks % 4 * 32) / 16,
                                                 k_desc + (ks / 4 * kBlockBytes + h * 8192 + ks % 4 * 32) / 16, ks > 0);
        }
        wgmma_commit();
      };
      float alpha[kHalves][2];      // o's factor for each half (the running max moved)
      bool moved[kHalves];          // whether some row of the warp moved its max in the half (o rescaled)
      unsigned pa[kHalves][4][4];   // P's A fragments of each half, keys 16 kk .. + 15 of it
      // The online softmax of half h (as na_forward_mma): the mask on the band's edges, the row max over the
      // quad, m and l, P in place of S, packed as A fragments.
      auto softmax = [&](const int h) {  // called with constants: inlined, s stays in registers
        float(&sh)[8][4] = *reinterpret_cast<float(*)[8][4]>(&s[8 * h]);
        const int k0 = c0 + 64 * h;
        // The band's edges: key k0 + nt * 8 + 2c + (e & 1) is seen by row r iff its offset nt * 8 + (e & 1), a
        // constant, lies in row r's window less k0 + 2c; each side is masked only where some row of the warp
        // needs it (warp-uniform), a compare against the row's bound and a select per score.
        auto mask_side = [&](const bool upper) {  // called with constants: inlined
#pragma unroll
          for (int r = 0; r < 2; ++r) {
            const int bound = (upper ? window[r].last : window[r].first) - k0 - 2 * c;
#pragma unroll
            for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
              for (int e = 2 * r; e < 2 * r + 2; ++e) {
                const int offset = nt * 8 + (e & 1);
                sh[nt][e] = (upper ? offset <= bound : offset >= bound) ? sh[nt][e] : neg_inf();
              }
            }
          }
        };
        if (k0 < inner_first) mask_side(false);
        if (k0 + 63 > inner_last) mask_side(true);
        // Row maxima and sums in 4 independent chains a row (score pairs of even and odd n8 tiles), joined at
        // the end: a chain of 16 dependent instructions a row left the warps waiting on each result.
        float part[2][4];
#pragma unroll
        for (int e = 0; e < 4; ++e) part[0][e] = sh[0][e], part[1][e] = sh[1][e];
#pragma unroll
        for (int nt = 2; nt < 8; ++nt) {
#pragma unroll
          for (int e = 0; e < 4; ++e) part[nt & 1][e] = fmaxf(part[nt & 1][e], sh[nt][e]);
        }
        float row_max[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          row_max[r] = fmaxf(fmaxf(part[0][2 * r], part[0][2 * r + 1]), fmaxf(part[1][2 * r], part[1][2 * r + 1]));
        }
        float base[2];
        bool grew = false;
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(kFullMask, row_max[r], 1));
          row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(kFullMask, row_max[r], 2));
          grew |= row_max[r] * p.scale_log2 > fmaf(m[r], p.scale_log2, kLazyLog2);  // m = -inf: any seen key
        }
        moved[h] = kAlways || __any_sync(kFullMask, grew);  // warp-uniform
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const float m_new = moved[h] ? fmaxf(m[r], row_max[r]) : m[r];
          base[r] = m_new == neg_inf() ? 0.0f : m_new * p.scale_log2;
          alpha[h][r] = fast_exp2(fmaf(m[r], p.scale_log2, -base[r]));  // 1 where m stays
          m[r] = m_new;
        }
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            sh[nt][e] = fast_exp2(fmaf(sh[nt][e], p.scale_log2, -base[e >> 1]));
            if constexpr (!kSumByMma) part[nt & 1][e] = nt < 2 ? sh[nt][e] : part[nt & 1][e] + sh[nt][e];
          }
        }
        if constexpr (!kSumByMma) {
          float row_sum[2];
#pragma unroll
          for (int r = 0; r < 2; ++r) row_sum[r] = (part[0][2 * r] + part[0][2 * r + 1]) + (part[1][2 * r] + part[1][2 * r + 1]);
#pragma unroll
          for (int r = 0; r < 2; ++r) l[r] = fmaf(l[r], alpha[h][r], row_sum[r]);
        }
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
          pa[h][kk][0] = pack_floats<T>(sh[2 * kk][0], sh[2 * kk][1]);
          pa[h][kk][1] = pack_floats<T>(sh[2 * kk][2], sh[2 * kk][3]);
          pa[h][kk][2] = pack_floats<T>(sh[2 * kk + 1][0], sh[2 * kk + 1][1]);
          pa[h][kk][3] = pack_floats<T>(sh[2 * kk + 1][2], sh[2 * kk + 1][3]);
        }
      };
      // o *= alpha of half h (no P V in flight), then O += P V over its 64 keys (V's rows 16 kk .. + 15 of the
      // half: 2048 bytes, >> 4 = 128, per k-step), one commit group.
      auto pv = [&](const int h) {
        if (moved[h]) {
#pragma unroll
          for (int dt = 0; dt < kDTiles; ++dt) {
            o[dt][0] *= alpha[h][0];
            o[dt][1] *= alpha[h][0];
            o[dt][2] *= alpha[h][1];
            o[dt][3] *= alpha[h][1];
          }
          if constexpr (kSumByMma) lsum[0][0] *= alpha[h][0], lsum[0][2] *= alpha[h][1];
        }
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
          for (int hd = 0; hd < Cfg::kD / 64; ++hd) {
            Wgmma64<T, 1>::template run<kDescHi>(*reinterpret_cast<float(*)[8][4]>(&o[8 * hd]), pa[h][kk],
                                                    v_desc + (hd * kBlockBytes + (4 * h + kk) * 2048) / 16, true);
          }
          if constexpr (kSumByMma) Wgmma64N8<T>::template run<kDescHi>(lsum[0], pa[h][kk], ones_desc);
        }
        wgmma_commit();
      };
      // One half alone: S, its softmax, P V (a 128-key tile of which the warpgroup sees only one half).
      auto single = [&](const int h) {
        scores(h);
        wgmma_wait<0>();
        wgmma_fence_operands(*reinterpret_cast<float(*)[8][4]>(&s[8 * h]));
        softmax(h);
        pv(h);
        wgmma_wait<0>();
        fence_accumulators();
        wgmma_keep(pa[h]);
      };
      wgmma_fence();
      if constexpr (kHalves == 1) {
        single(0);
      } else if (c0 + 63 < wg_first) {  // warpgroup-uniform: the first half is before the warpgroup's keys
        single(1);
      } else if (c0 + 64 > wg_last) {  // past them (at k=257, 64 queries: 320 keys, in 3 tiles, not 6 halves)
        single(0);
      } else {
        scores(0);
        scores(1);
        wgmma_wait<1>();  // the first half's S (the second's may still run)
        wgmma_fence_operands(*reinterpret_cast<float(*)[8][4]>(&s[0]));
        softmax(0);
        pv(0);
        wgmma_wait<1>();  // the second half's S (the first half's P V may still run)
        wgmma_fence_operands(*reinterpret_cast<float(*)[8][4]>(&s[8]));
        softmax(1);
        wgmma_wait<0>();  // the first half's P V, before o is rescaled
        fence_accumulators();
        wgmma_keep(pa[0]);
        pv(1);
        wgmma_wait<0>();
        fence_accumulators();
        wgmma_keep(pa[1]);
      }
    }
    if constexpr (kTma) {
      // Every lane has waited for the warp's wgmma (wgmma_wait is .sync.aligned): the warp is done with the
      // buffer. The last warp to say so requests the tile two ahead into it.
      if (lane == 0 && shared_count_up(done + (tile & 1)) == (tile / 2 + 1) * kWarps - 1 && tile + 2 < tiles) request(tile + 2);
    }
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if constexpr (kSumByMma) {
      l[r] = lsum[0][2 * r];  // the whole row's (the wgmma summed over the quad's keys too)
    } else {
      l[r] += __shfl_xor_sync(kFullMask, l[r], 1);
      l[r] += __shfl_xor_sync(kFullMask, l[r], 2);
    }
  }
  const float inverse[2] = {1.0f / l[0], 1.0f / l[1]};  // l >= 1 for every row: its max contributes 1
  __syncthreads();  // every warpgroup's last wgmma has read its tiles (each waited for its own): they are free
  unsigned short* out_rows = reinterpret_cast<unsigned short*>(buffers);  // [kRows][kPitch]
  na_store_tile<Cfg>(p.out_write, blk, blk.t0 + 16 * warp, t_end, lane, o, inverse, out_rows + 16 * warp * kPitch);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (rows_t[r] < t_end && c == 0) p.logsumexp[na_stat_index<Cfg>(blk, rows_t[r])] = fmaf(m[r], p.scale_log2, log2f(l[r])) * kLn2;
  }
}

}  // namespace attnjit
