// mta input gradient on tensor cores, for channel mixing in f16/bf16 at stride 1 (see
// mta_backward_input_uses_mma). dP, the transposed convolution of the masked grad_out, is at stride 1 a
// correlation of grad_out with the flipped filter, so for a tile of positions and every input channel of the
// group it is the forward's implicit GEMM (mta_forward_mma.cuh) run on other operands:
//   m = the tile's positions, n = the group's input channels, k = (tap, output channel of the group);
//   A = the grad patch (grad_out of the group's output channels, 0 where masked) in planes of 8 channels,
//   B = filters[ci][(a, c, co)] = weight[co][ci][Kh - 1 - a][Kw - 1 - c].
// MtaDpCfg presents the problem to the forward's main loops that way (the row-reuse loop where its conditions
// hold, else the k-step loop). A block owns every input channel of one group over two strips of kTileI rows, s
// and strips - 1 - s (about the same number of causal tiles for every block), and sweeps each strip's causal
// tiles twice, as the CUDA-core kernel does: first the per-row reductions of the normalization's backward
// (softmax sum P dP; sparsemax the sum of dP over the support and its size), then grad_scores = dZ, with dP
// recomputed (in T it would lose its low bits before the subtraction). Every warp's m-tiles are whole rows of
// the tile, so a row's reductions are the warp's own: summed in registers over the sweep, then over the lanes
// of its positions by shuffles, in a fixed order (the same bits every run). Each accumulator's P is
// recomputed from the raw score and the row statistic; where L is a multiple of 8 the tile's raw scores are
// copied to shared memory by cp.async while its grad patch is staged. Tiles above the diagonal are written as
// zeros without reading anything.
// The CUDA-core kernel it replaces, one block per input channel, computed dP with 2 x C_out/groups x Kh x Kw
// FFMAs a position: groups=1 K7 at L = 2048, 14-15 ms of the backward's 24 on the H100; this one about 1.2 ms
// (bench/results/2026-11-24_H100_a6b9334 and _cc784c8), waiting mostly on the grad patch's 2-byte loads.
#pragma once

#include "mta_backward_weight_mma.cuh"  // stage_grad_planes
#include "mta_forward_mma.cuh"

namespace attnjit {

// The input gradient's dP as the forward's GEMM: grad_out's channels are the k channels, the input channels
// the n; stride 1; the grad patch of mta_grad_patch_extent is the forward's patch of mta_patch_extent.
template <class Cfg>
struct MtaDpCfg {
  using T = typename Cfg::T;
  static constexpr int kTileI = Cfg::kTileI, kTileJ = Cfg::kTileJ, kThreads = Cfg::kThreads;
  static constexpr int kKh = Cfg::kKh, kKw = Cfg::kKw, kDh = Cfg::kDh, kDw = Cfg::kDw, kSh = 1, kSw = 1;
  static constexpr int kCinG = Cfg::kCoutG;   // the GEMM's k channels
  static constexpr int kOcTile = Cfg::kCinG;  // its n
};

template <class Cfg>
ATTNJIT_HD constexpr bool mta_backward_input_uses_mma_cfg() {
  return mta_backward_input_uses_mma(sizeof(typename Cfg::T), Cfg::kCinG, Cfg::kCoutG, Cfg::kKh, Cfg::kKw, Cfg::kSh,
                                     Cfg::kSw, Cfg::kDh, Cfg::kDw, Cfg::kTileI, Cfg::kTileJ, Cfg::kThreads / 32, Cfg::kL);
}

// grid = (B * groups * mta_backward_input_mma_pairs); block = kThreads.
template <class Cfg>
__device__ __forceinline__ void mta_backward_input_mma(const MtaParams& p, float* smem) {
  using T = typename Cfg::T;
  using D = MtaDpCfg<Cfg>;
  static_assert(sizeof(T) == 2 && Cfg::kSh == 1 && Cfg::kSw == 1, "16-bit storage at stride 1");
  constexpr int kK = Cfg::kKh * Cfg::kKw;
  constexpr int kTaps = Cfg::kCoutG * kK;  // the GEMM's true K
  constexpr int kCin = Cfg::kCinG * Cfg::kGroups;
  constexpr int kGh = mta_grad_patch_extent(Cfg::kTileI, Cfg::kKh, Cfg::kDh);
  constexpr int kGw = mta_grad_patch_extent(Cfg::kTileJ, Cfg::kKw, Cfg::kDw);
  constexpr int kChunks = Cfg::kCoutG / 8;  // planes of 8 output channels
  constexpr int kKpad = mta_mma_k(Cfg::kCoutG, Cfg::kKh, Cfg::kKw);
  constexpr int kFilterPitch = mta_mma_filter_pitch(Cfg::kCoutG, Cfg::kKh, Cfg::kKw);
  constexpr int kWarps = Cfg::kThreads / 32;
  constexpr int kMTiles = Cfg::kTileI * Cfg::kTileJ / 16 / kWarps;  // per warp
  constexpr int kNTiles = Cfg::kCinG / 8;
  constexpr int kColumnGroups = Cfg::kTileJ / 16;
  constexpr int kRows = kMTiles / kColumnGroups;  // the warp's rows of the tile
  constexpr int kStrips = mta_ceil_div(Cfg::kL, Cfg::kTileI);
  constexpr int kPairs = mta_backward_input_mma_pairs(Cfg::kL, Cfg::kTileI);
  constexpr bool kSoftmax = Cfg::kNorm == NormKind::softmax;
  static_assert(kMTiles * kWarps * 16 == Cfg::kTileI * Cfg::kTileJ && kRows * kColumnGroups == kMTiles,
                "whole rows of m-tiles per warp");

  constexpr bool kPrefetch = mta_backward_input_mma_prefetches(Cfg::kL);  // the scores by cp.async, a tile at a time
  constexpr int kProbsPitch = mta_backward_input_mma_probs_pitch(Cfg::kTileJ);
  constexpr int kProbsStride = mta_backward_input_mma_probs_stride(Cfg::kTileI, Cfg::kTileJ);

  unsigned char* bytes = reinterpret_cast<unsigned char*>(smem);
  uint4* patch = reinterpret_cast<uint4*>(bytes);                                  // [kChunks][kGh * kGw] rows of 8
  T* filters = reinterpret_cast<T*>(bytes + 16 * kChunks * kGh * kGw);             // [kCinG][kFilterPitch]
  int* half_step = reinterpret_cast<int*>(filters + Cfg::kCinG * kFilterPitch);  // [kKpad / 8]
  T* raw = reinterpret_cast<T*>(half_step + (kKpad / 8 + 3) / 4 * 4);  // kPrefetch: [kCinG][kProbsStride], raw scores

  const int pair = blockIdx.x % kPairs;
  const int group = (blockIdx.x / kPairs) % Cfg::kGroups, b = blockIdx.x / kPairs / Cfg::kGroups;
  const long long plane0 = static_cast<long long>(b) * kCin + group * Cfg::kCinG;  // the group's first input channel
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;

  // Filters with k = (a * Kw + c) * C_out/groups + co: the flipped filter, as the GEMM's B [n][k].
  const T* weight = static_cast<const T*>(p.weight);
  for (int idx = threadIdx.x; idx < Cfg::kCinG * kKpad; idx += Cfg::kThreads) {
    const int n = idx / kKpad, k = idx % kKpad, tap = k / Cfg::kCoutG, co = k % Cfg::kCoutG;
    const int a = tap / Cfg::kKw, c = tap % Cfg::kKw;
    filters[n * kFilterPitch + k] =
        k < kTaps ? weight[((static_cast<long long>(group) * Cfg::kCoutG + co) * Cfg::kCinG + n) * kK +
                           (Cfg::kKh - 1 - a) * Cfg::kKw + (Cfg::kKw - 1 - c)]
                  : T{0};
  }
  fill_half_steps<D>(half_step);

  for (int half = 0; half < 2; ++half) {
    const int strip = half == 0 ? pair : kStrips - 1 - pair;
    if (half == 1 && strip == pair) break;  // an odd count's middle strip has no partner
    const int i0 = strip * Cfg::kTileI;
    const int last_row = min(i0 + Cfg::kTileI, Cfg::kL) - 1;
    const int causal_tiles = last_row / Cfg::kTileJ + 1;

    // The row statistic of each (row of the warp, input channel of the lane): c[2 nt + e] is channel
    // nt * 8 + 2t + e.
    float stat[kRows][kNTiles][2];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int i = i0 + warp * kRows + r;
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          stat[r][nt][e] = i < Cfg::kL ? p.row_stats[(plane0 + nt * 8 + 2 * t + e) * Cfg::kL + i] : 0.0f;
        }
      }
    }
    // dP of tile j0 for every input channel into acc (m-tile = row r, column group cg of the warp).
    const T* scores = static_cast<const T*>(p.scores);
    auto tile_dp = [&](int j0, float (&acc)[kMTiles][kNTiles][4]) {
      __syncthreads();  // the previous tile's patch and scores are read (and, first, the filters and offsets written)
      if constexpr (kPrefetch) {  // the tile's raw scores, in flight while the grad patch is staged
        constexpr int kPacks = Cfg::kTileJ / 8;
        for (int idx = threadIdx.x; idx < Cfg::kCinG * Cfg::kTileI * kPacks; idx += Cfg::kThreads) {
          const int n = idx / (Cfg::kTileI * kPacks), r = idx / kPacks % Cfg::kTileI, c = idx % kPacks * 8;
          const int i = i0 + r, j = j0 + c;
          const bool inside = i < Cfg::kL && j < Cfg::kL;  // whole packs: L is a multiple of 8
          cp_async_16(raw + n * kProbsStride + r * kProbsPitch + c,
                      scores + ((plane0 + n) * Cfg::kL + (inside ? i : 0)) * Cfg::kL + (inside ? j : 0), inside);
        }
        cp_async_commit();
      }
      stage_grad_planes<Cfg, Cfg::kCoutG, kGh, kGw>(p, b, group * Cfg::kCoutG, i0 + Cfg::kPadTop - (Cfg::kKh - 1) * Cfg::kDh,
                                                    j0 + Cfg::kPadLeft - (Cfg::kKw - 1) * Cfg::kDw, patch);
      if constexpr (kPrefetch) cp_async_wait_group<0>();
      __syncthreads();
#pragma unroll
      for (int m = 0; m < kMTiles; ++m) {
#pragma unroll
        for (int nt = 0; nt < kNTiles; ++nt) acc[m][nt][0] = acc[m][nt][1] = acc[m][nt][2] = acc[m][nt][3] = 0.0f;
      }
      if constexpr (mta_forward_mma_row_reuse<D>()) {
        mta_forward_mma_rows<D, kRows>(acc, patch, filters, lane, warp);
      } else {
        mta_forward_mma_ksteps<D, kMTiles>(acc, patch, filters, half_step, lane, warp);
      }
    };
    // Each accumulator's P, recomputed where valid (causal and inside) from its raw score.
    auto prob_at = [&](int r, int nt, int e, int col, long long at, bool valid) {
      if (!valid) return 0.0f;
      const T z = kPrefetch ? raw[(nt * 8 + 2 * t + e) * kProbsStride + (warp * kRows + r) * kProbsPitch + col] : scores[at];
      return normalize<Cfg::kNorm>(to_float(z), stat[r][nt][e]);
    };

    // Sweep 1 (steps 0 .. causal_tiles - 1): the row reductions, per lane in registers, then over the 8 lanes
    // of a channel pair's positions. Sweep 2: grad_scores = dZ over the causal tiles, dP recomputed. One loop
    // over both, so that the mma code is instantiated once (NVRTC's time: 0.69 -> 0.5 s at groups=1 K7).
    T* grad_scores = static_cast<T*>(p.grad_scores);
    float sum[kRows][kNTiles][2], count[kRows][kNTiles][2];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) sum[r][nt][0] = sum[r][nt][1] = count[r][nt][0] = count[r][nt][1] = 0.0f;
    }
    for (int step = 0; step < 2 * causal_tiles; ++step) {
      const bool reduce = step < causal_tiles;
      const int j0 = (reduce ? step : step - causal_tiles) * Cfg::kTileJ;
      float acc[kMTiles][kNTiles][4];
      tile_dp(j0, acc);
      if (step == causal_tiles) {  // sweep 1 is done: the rows' totals
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
#pragma unroll
          for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
            for (int e = 0; e < 2; ++e) {
#pragma unroll
              for (int x = 4; x < 32; x *= 2) {  // every lane of the pair ends with the same total
                sum[r][nt][e] += __shfl_xor_sync(0xffffffffu, sum[r][nt][e], x);
                if (!kSoftmax) count[r][nt][e] += __shfl_xor_sync(0xffffffffu, count[r][nt][e], x);
              }
              if (!kSoftmax) sum[r][nt][e] /= count[r][nt][e];  // the support's mean of dP (count >= 1)
            }
          }
        }
      }
#pragma unroll
      for (int m = 0; m < kMTiles; ++m) {
        const int r = m / kColumnGroups, i = i0 + warp * kRows + r;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int c = (m % kColumnGroups) * 16 + g + 8 * h, j = j0 + c;
          if (i >= Cfg::kL || j >= Cfg::kL) continue;
          const bool valid = j <= i;
#pragma unroll
          for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              const long long at = ((plane0 + nt * 8 + 2 * t + e) * Cfg::kL + i) * Cfg::kL + j;
              const float prob = prob_at(r, nt, e, c, at, valid);
              const float dp = acc[m][nt][2 * h + e];
              if (reduce) {
                if (kSoftmax) {
                  sum[r][nt][e] += valid ? prob * dp : 0.0f;  // dP of a future position may be anything: select
                } else if (valid && prob > 0.0f) {
                  sum[r][nt][e] += dp;
                  count[r][nt][e] += 1.0f;
                }
              } else {
                float dz;
                if (kSoftmax) {
                  dz = valid ? prob * (dp - sum[r][nt][e]) : 0.0f;
                } else {
                  dz = valid && prob > 0.0f ? dp - sum[r][nt][e] : 0.0f;
                }
                grad_scores[at] = from_float<T>(dz);
              }
            }
          }
        }
      }
    }
    // Above the diagonal: zeros, nothing read; 16-byte stores where rows are 16-byte aligned.
    constexpr int kVec = Cfg::kL % 8 == 0 ? 8 : 1;
    const int first_col = causal_tiles * Cfg::kTileJ;
    const int row_items = mta_ceil_div(Cfg::kL - first_col > 0 ? Cfg::kL - first_col : 0, kVec);
    for (int idx = threadIdx.x; idx < Cfg::kCinG * Cfg::kTileI * row_items; idx += Cfg::kThreads) {
      const int n = idx / (Cfg::kTileI * row_items), r = idx / row_items % Cfg::kTileI;
      const int j = first_col + idx % row_items * kVec, i = i0 + r;
      if (i >= Cfg::kL) continue;
      T* row = grad_scores + ((plane0 + n) * Cfg::kL + i) * Cfg::kL;
      if constexpr (kVec == 8) {
        *reinterpret_cast<uint4*>(row + j) = uint4{0u, 0u, 0u, 0u};
      } else {
        row[j] = from_float<T>(0.0f);
      }
    }
  }
}

}  // namespace attnjit
