// mta backward (SPEC.md section 1), fused: no L x L temporary besides grad_scores itself.
//   mta_backward_input   for channel mixing in f16/bf16 at stride 1 on tensor cores
//                        (mta_backward_input_mma.cuh: every input channel of a group at once, dP as the
//                        forward's implicit GEMM on the grad patch); otherwise as follows.
//                        dP (the transposed convolution of the masked grad_out) is recomputed where
//                        needed, tile by tile from a grad_out patch in shared memory; one block owns a
//                        strip of kTileI rows of one input channel and sweeps it twice: first the
//                        per-row reduction the normalization's backward needs (softmax: sum P*dP;
//                        sparsemax: sum of dP and size of the support), then grad_scores = dZ, with
//                        the future written as 0. dP runs on tensor cores for depthwise f16/bf16 at
//                        stride 1 (the band product of mta_band.cuh on a 16-bit grad patch, through
//                        shared memory), else on CUDA cores (transposed_conv_run).
//   mta_backward_weight  on tensor cores for channel mixing in f16/bf16 (mta_backward_weight_mma.cuh: per
//                        block an implicit GEMM over an equal run of causal tiles), else per (batch,
//                        strip of output rows, output channel, input channel of its group): the
//                        contribution to grad_weight (and grad_bias), reduced inside the block in a
//                        fixed order and written to a workspace slot, no atomics.
//   mta_reduce_weight    sums the workspace slots in a fixed order: the same bits on every run.
#pragma once

#include "mta_backward_input_mma.cuh"
#include "mta_backward_weight_mma.cuh"
#include "mta_band.cuh"
#include "mta_norm.cuh"

namespace attnjit {

// Fills patch[o][a][c] (o < kCoutG, a < kGh, c < kGw; rows kPatchPitch<kGw> apart) with the masked grad_out of the group's output
// channels scattered onto the padded input grid: entry (a, c) holds grad_out at output position
// ((a0 + a) / kSh, (c0 + c) / kSw) where both divide evenly, the position exists and is causal; 0
// elsewhere. The transposed convolution then reads it like the forward reads its patch: a stride-1
// correlation with the flipped filter.
// Stride 1 with 16-byte grad_out rows: the padded grid is the output grid, so each thread reads whole
// 16-byte packs of grad_out (from the pack boundary at or before c0), the loads of up to four packs
// issued before any is used, and stores the elements that fall inside the patch. (Element by element,
// one 2-byte load in flight per thread, the input-gradient kernel waited on global loads a third of the
// time.)
template <class Cfg>
inline constexpr bool kGradPatchPacked = mta_grad_patch_packed(sizeof(typename Cfg::T), Cfg::kSh, Cfg::kSw, Cfg::kOutW);

// The grad patch loaders split in two, so that a tile's grad_out is in flight while the previous tile
// computes (the kernel's tile loop was load, barrier, compute, barrier, latency-bound): fetch_grad_packs
// loads the thread's packs of the patch into a GradPacks (registers), store_grad_packs writes them where
// load_grad_patch (kGradPatchPacked) would. Only where every thread's packs fit in kMtaMaxStagedPacks (and
// see mta_grad_patch_staged); otherwise the kernel loads as before.
template <class T, int kN>
struct GradPacks {
  Pack<T, 16 / sizeof(T)> raw[kN > 0 ? kN : 1];
  bool inside[kN > 0 ? kN : 1];  // the pack holds grad_out, not padding or the future
};

// The packed loader's items: kItems packs of kVec elements, item idx is row idx / kPacks (o * kGh + a),
// pack idx % kPacks of it, from the pack boundary at or before c0.
template <class Cfg, int kGh, int kGw>
struct GradPatchItems {
  static constexpr int kVec = 16 / sizeof(typename Cfg::T);
  static constexpr int kPacks = mta_grad_patch_row_packs(sizeof(typename Cfg::T), kGw);  // packs a patch row can touch
  static constexpr int kItems = Cfg::kCoutG * kGh * kPacks;
  static constexpr int kPerThread = mta_ceil_div(kItems, Cfg::kThreads);
  static constexpr bool kStaged = mta_grad_patch_staged(sizeof(typename Cfg::T), Cfg::kCoutG, Cfg::kKh, Cfg::kKw, Cfg::kSh,
                                                        Cfg::kSw, Cfg::kDh, Cfg::kDw, Cfg::kOutW, Cfg::kTileI,
                                                        Cfg::kTileJ, Cfg::kThreads);
  __device__ static int first_column(int c0) {  // floor to a pack boundary
    return c0 >= 0 ? c0 / kVec * kVec : -((kVec - 1 - c0) / kVec) * kVec;
  }
};

template <class Cfg, int kGh, int kGw>
__device__ void load_grad_patch(const MtaParams& p, int b, int group, int a0, int c0, float* patch) {
  using T = typename Cfg::T;
  constexpr int kCout = Cfg::kCoutG * Cfg::kGroups;
  const T* grad_out = static_cast<const T*>(p.grad_out) +
                      (static_cast<long long>(b) * kCout + group * Cfg::kCoutG) * Cfg::kOutH * Cfg::kOutW;
  if constexpr (kGradPatchPacked<Cfg>) {
    using Items = GradPatchItems<Cfg, kGh, kGw>;
    constexpr int kVec = Items::kVec, kPacks = Items::kPacks, kItems = Items::kItems;
    const int ca = Items::first_column(c0);
    Pack<T, kVec> raw[kItemBatch<Cfg, kItems>];
    bool inside[kItemBatch<Cfg, kItems>];  // the pack holds grad_out, not padding or the future
    for_each_item_batched<Cfg, kItems>(
        [&](int idx, int k) {
          const int row = idx / kPacks;  // row = o * kGh + a
          const int oi = a0 + row % kGh, oj = ca + idx % kPacks * kVec;
          // A pack lies wholly left of column 0 or right of it, and wholly inside the row when it starts inside.
          inside[k] = idx < kItems && oi >= 0 && oi < Cfg::kOutH && oj >= 0 && oj < Cfg::kOutW && oj <= oi;
          if (inside[k]) {
            raw[k] = *reinterpret_cast<const Pack<T, kVec>*>(
                grad_out + (static_cast<long long>(row / kGh) * Cfg::kOutH + oi) * Cfg::kOutW + oj);
          }
        },
        [&](int idx, int k) {
          const int row = idx / kPacks, oi = a0 + row % kGh, oj = ca + idx % kPacks * kVec;
#pragma unroll
          for (int e = 0; e < kVec; ++e) {
            const int c = oj + e - c0;
            if (c >= 0 && c < kGw) {
              patch[row * kPatchPitch<kGw> + c] = to_float_or_zero(inside[k] && oj + e <= oi, raw[k].v[e]);
            }
          }
        });
  } else {
    for (int idx = threadIdx.x; idx < Cfg::kCoutG * kGh * kGw; idx += Cfg::kThreads) {
      const int row = idx / kGw, c = idx % kGw;  // row = o * kGh + a
      const int o = row / kGh, ni = a0 + row % kGh, nj = c0 + c;
      float value = 0.0f;
      if (ni >= 0 && nj >= 0 && ni % Cfg::kSh == 0 && nj % Cfg::kSw == 0) {
        const int oi = ni / Cfg::kSh, oj = nj / Cfg::kSw;
        if (oi < Cfg::kOutH && oj < Cfg::kOutW && oj <= oi) {  // grad_out's future is never read
          value = to_float(grad_out[(static_cast<long long>(o) * Cfg::kOutH + oi) * Cfg::kOutW + oj]);
        }
      }
      patch[row * kPatchPitch<kGw> + c] = value;
    }
  }
}

template <class Cfg, int kGh, int kGw>
__device__ __forceinline__ void fetch_grad_packs(const MtaParams& p, int b, int group, int a0, int c0,
                                                 GradPacks<typename Cfg::T, GradPatchItems<Cfg, kGh, kGw>::kPerThread>& s) {
  using T = typename Cfg::T;
  using Items = GradPatchItems<Cfg, kGh, kGw>;
  constexpr int kCout = Cfg::kCoutG * Cfg::kGroups;
  const T* grad_out = static_cast<const T*>(p.grad_out) +
                      (static_cast<long long>(b) * kCout + group * Cfg::kCoutG) * Cfg::kOutH * Cfg::kOutW;
  const int ca = Items::first_column(c0);
#pragma unroll
  for (int k = 0; k < Items::kPerThread; ++k) {
    const int idx = threadIdx.x + k * Cfg::kThreads, row = idx / Items::kPacks;
    const int oi = a0 + row % kGh, oj = ca + idx % Items::kPacks * Items::kVec;
    s.inside[k] = idx < Items::kItems && oi >= 0 && oi < Cfg::kOutH && oj >= 0 && oj < Cfg::kOutW && oj <= oi;
    if (s.inside[k]) {
      s.raw[k] = *reinterpret_cast<const Pack<T, Items::kVec>*>(
          grad_out + (static_cast<long long>(row / kGh) * Cfg::kOutH + oi) * Cfg::kOutW + oj);
    }
  }
}

template <class Cfg, int kGh, int kGw>
__device__ __forceinline__ void store_grad_packs(const GradPacks<typename Cfg::T, GradPatchItems<Cfg, kGh, kGw>::kPerThread>& s,
                                                 int a0, int c0, float* patch) {
  using Items = GradPatchItems<Cfg, kGh, kGw>;
  const int ca = Items::first_column(c0);
#pragma unroll
  for (int k = 0; k < Items::kPerThread; ++k) {
    const int idx = threadIdx.x + k * Cfg::kThreads, row = idx / Items::kPacks;
    if (idx >= Items::kItems) break;
    const int oi = a0 + row % kGh, oj = ca + idx % Items::kPacks * Items::kVec;
#pragma unroll
    for (int e = 0; e < Items::kVec; ++e) {
      const int c = oj + e - c0;
      if (c >= 0 && c < kGw) patch[row * kPatchPitch<kGw> + c] = to_float_or_zero(s.inside[k] && oj + e <= oi, s.raw[k].v[e]);
    }
  }
}

// dP of the kRun positions (r, q0 .. q0 + kRun - 1) of a tile, from its grad patch and the group's
// filters for this input channel (w: [kCoutG][kKh][kKw]). Per filter row the kSpan patch values the
// run touches are loaded once into registers and each serves up to kRun taps. With kWeight, the same
// patch values also accumulate the weight gradient's taps, wacc[o][kh][kw] += sum_e P[e] * patch value:
// every (normalized score, grad_out) pair a tap of the weight gradient multiplies meets here once.
template <class Cfg, int kGh, int kGp, int kRun, bool kWeight, int kWAcc>
__device__ __forceinline__ void transposed_conv_run(const float* w, const float* patch, int r, int q0,
                                                    const float (&prob)[kRun], float (&dp)[kRun],
                                                    float (&wacc)[kWAcc]) {
  constexpr int kSpan = kRun + (Cfg::kKw - 1) * Cfg::kDw;
  constexpr int kUnrollO = kWeight ? Cfg::kCoutG : 1;  // register-indexed accumulators need it unrolled
#pragma unroll
  for (int e = 0; e < kRun; ++e) dp[e] = 0.0f;
#pragma unroll kUnrollO
  for (int o = 0; o < Cfg::kCoutG; ++o) {
#pragma unroll
    for (int kh = 0; kh < Cfg::kKh; ++kh) {
      const float* row = patch + (o * kGh + r + (Cfg::kKh - 1 - kh) * Cfg::kDh) * kGp + q0;
      float x[kSpan];
      load_span<kSpan, kRun == 4>(row, x);  // q0 is a multiple of kRun
#pragma unroll
      for (int kw = 0; kw < Cfg::kKw; ++kw) {
        const int tap = (o * Cfg::kKh + kh) * Cfg::kKw + kw;
        const float wv = w[tap];
#pragma unroll
        for (int e = 0; e < kRun; ++e) {
          const float g = x[e + (Cfg::kKw - 1 - kw) * Cfg::kDw];
          dp[e] = fmaf(wv, g, dp[e]);
          if constexpr (kWeight) wacc[tap] = fmaf(prob[e], g, wacc[tap]);
        }
      }
    }
  }
}

// The normalized scores of positions (i, j .. j + kRun - 1), 0 in the future. One vector load when L
// keeps every run aligned; the future elements it brings are selected away, never used in arithmetic.
template <class Cfg, int kRun>
__device__ __forceinline__ void load_probs_run(const typename Cfg::T* row, int i, int j, float stat, float (&prob)[kRun]) {
  using T = typename Cfg::T;
  float z[kRun];
  if constexpr (Cfg::kL % kRun == 0 && kRun * sizeof(T) <= 16) {
    load_pack<T, kRun>(row + j, z);
  } else {
#pragma unroll
    for (int e = 0; e < kRun; ++e) z[e] = j + e <= i ? to_float(row[j + e]) : 0.0f;
  }
#pragma unroll
  for (int e = 0; e < kRun; ++e) prob[e] = j + e <= i ? normalize<Cfg::kNorm>(z[e], stat) : 0.0f;
}

// The fused weight gradient's end in the input-gradient kernel: the block's sums of wacc, and with a
// bias the sums of grad_out over the output rows this strip owns (rows [strip * R, strip * R + R) with
// R = ceil(out_h / strips), read once by the group's first input channel), written to the block's slot
// (b, strip) of the partials. scratch is the patch's shared memory, free once the sweep is done.
template <class Cfg, int kWAcc>
__device__ void write_weight_partials(const MtaParams& p, int b, int group, int icg, int strip,
                                      const float (&wacc)[kWAcc], float* scratch) {
  using T = typename Cfg::T;
  constexpr int kCout = Cfg::kCoutG * Cfg::kGroups;
  constexpr int kStrips = mta_ceil_div(Cfg::kL, Cfg::kTileI);
  constexpr int kRowsOwned = mta_ceil_div(Cfg::kOutH, kStrips);
  const long long slot = static_cast<long long>(b) * kStrips + strip;
  __syncthreads();  // the last tile's patch is no longer read
  block_sums<Cfg::kThreads>(wacc, scratch, [&](int t, float total) {
    constexpr int kK = Cfg::kKh * Cfg::kKw;
    const int o = t / kK;
    p.partial_weight[((slot * kCout + group * Cfg::kCoutG + o) * Cfg::kCinG + icg) * kK + t % kK] = total;
  });
  if (!Cfg::kHasBias || icg != 0) return;
  float bias[Cfg::kCoutG];
  const T* grad_out = static_cast<const T*>(p.grad_out) +
                      (static_cast<long long>(b) * kCout + group * Cfg::kCoutG) * Cfg::kOutH * Cfg::kOutW;
  const int first = strip * kRowsOwned, end = min(first + kRowsOwned, Cfg::kOutH);
#pragma unroll
  for (int o = 0; o < Cfg::kCoutG; ++o) {
    bias[o] = 0.0f;
    for (int oi = first; oi < end; ++oi) {
      const int causal = min(oi + 1, Cfg::kOutW);  // grad_out's future is never read
      for (int oj = threadIdx.x; oj < causal; oj += Cfg::kThreads) {
        bias[o] += to_float(grad_out[(static_cast<long long>(o) * Cfg::kOutH + oi) * Cfg::kOutW + oj]);
      }
    }
  }
  __syncthreads();  // scratch is still read by the weight sums
  block_sums<Cfg::kThreads>(bias, scratch, [&](int o, float total) {
    p.partial_bias[slot * kCout + group * Cfg::kCoutG + o] = total;
  });
}

// The input gradient's band path (mta_backward_input_uses_band): its constants, from the Cfg.
template <class Cfg>
struct MtaBackwardBand {
  static constexpr bool kOn = mta_backward_input_uses_band(sizeof(typename Cfg::T), Cfg::kCoutG, Cfg::kKh, Cfg::kKw,
                                                           Cfg::kSh, Cfg::kSw, Cfg::kDh, Cfg::kDw, Cfg::kPadLeft,
                                                           Cfg::kOutW, Cfg::kTileI, Cfg::kTileJ, Cfg::kThreads / 32);
  static constexpr int kLead = mta_backward_band_lead(Cfg::kKw, Cfg::kDw, Cfg::kPadLeft);
  static constexpr int kOffset = mta_band_offset(kLead);
  static constexpr int kKSteps = mta_band_ksteps(Cfg::kKw, 1, Cfg::kDw, kLead);
  static constexpr int kNTiles = mta_backward_band_ntiles(Cfg::kTileI, Cfg::kTileJ, Cfg::kThreads / 32);
  static constexpr int kGh = mta_grad_patch_extent(Cfg::kTileI, Cfg::kKh, Cfg::kDh);
  static constexpr int kPatchW =
      mta_backward_band_patch_w(Cfg::kKw, Cfg::kDw, Cfg::kPadLeft, Cfg::kTileI, Cfg::kTileJ, Cfg::kThreads / 32);
  static constexpr int kPitch = mta_band_pitch(kPatchW);
  // Columns holding grad_out some tap reads, in whole packs; the rest only meets zeros of the band.
  static constexpr int kLoadW = (kOffset + mta_grad_patch_extent(Cfg::kTileJ, Cfg::kKw, Cfg::kDw) + 7) / 8 * 8;
  static constexpr int kBandLo = mta_band_lo(1, kLead), kBandW = mta_band_table_w(Cfg::kKw, 1, Cfg::kDw, kLead);
  static constexpr int kDpPitch = mta_backward_band_dp_pitch(Cfg::kTileJ);
  // Offsets in shared memory (mta_backward_band_smem_bytes' parts): the band table after the patch's
  // region, dP after the table.
  static constexpr int kRegionBytes = mta_backward_band_region_bytes(Cfg::kKh, Cfg::kKw, Cfg::kDh, Cfg::kDw, Cfg::kPadLeft,
                                                                     Cfg::kTileI, Cfg::kTileJ, Cfg::kThreads / 32);
  static constexpr int kTableBytes = mta_band_table_bytes(Cfg::kKh, Cfg::kKw, 1, Cfg::kDw, kLead);
};

// The band path's grad patch: grad_out of the block's one output channel over rows [a0, a0 + kGh) and
// columns [cs, cs + kPatchW), cs a multiple of 8, as 16-bit packs: each pack holding grad_out is copied
// whole (its future elements zeroed), packs past kLoadW or outside grad_out or wholly in the future are
// zeros. Four packs' loads in flight per thread.
template <class Cfg>
__device__ void load_grad_patch16(const MtaParams& p, int b, int oc, int a0, int cs, typename Cfg::T* patch) {
  using T = typename Cfg::T;
  using Band = MtaBackwardBand<Cfg>;
  constexpr int kPacks = Band::kPatchW / 8, kItems = Band::kGh * kPacks;
  constexpr int kCout = Cfg::kCoutG * Cfg::kGroups;
  const T* grad_out = static_cast<const T*>(p.grad_out) + (static_cast<long long>(b) * kCout + oc) * Cfg::kOutH * Cfg::kOutW;
  Pack<T, 8> raw[kItemBatch<Cfg, kItems>];
  bool inside[kItemBatch<Cfg, kItems>];  // the pack holds grad_out, not padding or the future
  for_each_item_batched<Cfg, kItems>(
      [&](int idx, int k) {
        const int c = idx % kPacks * 8, oi = a0 + idx / kPacks, oj = cs + c;
        inside[k] = idx < kItems && c < Band::kLoadW && oi >= 0 && oi < Cfg::kOutH && oj >= 0 && oj < Cfg::kOutW && oj <= oi;
        if (inside[k]) raw[k] = *reinterpret_cast<const Pack<T, 8>*>(grad_out + static_cast<long long>(oi) * Cfg::kOutW + oj);
      },
      [&](int idx, int k) {
        const int r = idx / kPacks, c = idx % kPacks * 8, future = a0 + r - (cs + c);  // elements e > future are
        const unsigned short* bits = reinterpret_cast<const unsigned short*>(raw[k].v);  // in the future
        unsigned word[4];
#pragma unroll
        for (int h = 0; h < 4; ++h) {
          word[h] = pack_pair(inside[k] && 2 * h <= future ? bits[2 * h] : 0,
                              inside[k] && 2 * h + 1 <= future ? bits[2 * h + 1] : 0);
        }
        *reinterpret_cast<uint4*>(patch + r * Band::kPitch + c) = make_uint4(word[0], word[1], word[2], word[3]);
      });
}

// The band path's dP of the tile at column j0, into dp (rows kDpPitch apart): each warp takes warp tiles
// of 16 rows x 8 * kNTiles columns; warp tiles wholly in the future are skipped (their dP is never read).
// The band fragments come from the table in shared memory per use (in registers they would be live
// through the runs, beside the weight gradient's accumulators).
template <class Cfg>
__device__ __forceinline__ void band_dp_tile(const typename Cfg::T* patch, const unsigned* pairs, int i0, int j0, float* dp) {
  using Band = MtaBackwardBand<Cfg>;
  constexpr int kWarpCols = 8 * Band::kNTiles;
  constexpr int kWarpTiles = (Cfg::kTileI / 16) * (Cfg::kTileJ / kWarpCols);
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  for (int wt = threadIdx.x >> 5; wt < kWarpTiles; wt += Cfg::kThreads / 32) {
    const int wi = (wt / (Cfg::kTileJ / kWarpCols)) * 16, wj = (wt % (Cfg::kTileJ / kWarpCols)) * kWarpCols;
    if (j0 + wj > i0 + wi + 15) continue;
    float acc[Band::kNTiles][4] = {};
    band_warp_tile<typename Cfg::T, Cfg::kKh, Cfg::kDh, 1, Band::kNTiles, Band::kKSteps, Band::kPitch>(
        acc, band_rows<1, 1, Band::kPitch>(patch, wi, wj, lane),
        [&](int a, int s) { return band_fragment<1, Band::kOffset, Band::kBandLo, Band::kBandW>(pairs, a, s, g, t); });
#pragma unroll
    for (int n = 0; n < Band::kNTiles; ++n) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        *reinterpret_cast<float2*>(dp + (wi + g + 8 * h) * Band::kDpPitch + wj + 8 * n + 2 * t) =
            make_float2(acc[n][2 * h], acc[n][2 * h + 1]);
      }
    }
  }
}

// The band path's fused weight gradient for the run (r, q0 .. q0 + kRun - 1): wacc[kh][kw] += sum_e P[e] *
// the grad patch value its tap meets, as transposed_conv_run's kWeight part, read from the 16-bit patch
// (8-byte loads from the 4-element boundary at or before the run's first column; q0 is a multiple of 4).
template <class Cfg, int kRun, int kWAcc>
__device__ __forceinline__ void band_weight_run(const typename Cfg::T* patch, int r, int q0, const float (&prob)[kRun],
                                                float (&wacc)[kWAcc]) {
  using T = typename Cfg::T;
  using Band = MtaBackwardBand<Cfg>;
  constexpr int kSpan = kRun + (Cfg::kKw - 1) * Cfg::kDw;
  constexpr int kSkip = Band::kOffset % 4, kWords = (kSkip + kSpan + 3) / 4;
  static_assert(kRun == 4, "runs start on 4-element boundaries");
#pragma unroll
  for (int kh = 0; kh < Cfg::kKh; ++kh) {
    const T* row = patch + (r + (Cfg::kKh - 1 - kh) * Cfg::kDh) * Band::kPitch + q0 + Band::kOffset - kSkip;
    float x[4 * kWords];
#pragma unroll
    for (int q = 0; q < kWords; ++q) {
      const Pack<T, 4> pack = *reinterpret_cast<const Pack<T, 4>*>(row + 4 * q);
#pragma unroll
      for (int e = 0; e < 4; ++e) x[4 * q + e] = to_float(pack.v[e]);
    }
#pragma unroll
    for (int kw = 0; kw < Cfg::kKw; ++kw) {
#pragma unroll
      for (int e = 0; e < kRun; ++e) {
        wacc[kh * Cfg::kKw + kw] = fmaf(prob[e], x[kSkip + e + (Cfg::kKw - 1 - kw) * Cfg::kDw], wacc[kh * Cfg::kKw + kw]);
      }
    }
  }
}

// dP of the run (r, q0 .. q0 + kRun - 1) and, with kWithWeight, its taps of the fused weight gradient: on
// the band path dP is read from the tile's (dp_tile) and the weight taps from the 16-bit grad patch at
// patch; on CUDA cores both come from the float grad patch and the filters w.
template <class Cfg, bool kWithWeight, int kGh, int kGp, int kRun, int kWAcc>
__device__ __forceinline__ void run_dp(const float* w, const float* patch, const float* dp_tile, int r, int q0,
                                       const float (&prob)[kRun], float (&dp)[kRun], float (&wacc)[kWAcc]) {
  using Band = MtaBackwardBand<Cfg>;
  if constexpr (Band::kOn) {
    const float4 v = *reinterpret_cast<const float4*>(dp_tile + r * Band::kDpPitch + q0);
    dp[0] = v.x, dp[1] = v.y, dp[2] = v.z, dp[3] = v.w;
    if constexpr (kWithWeight) band_weight_run<Cfg, kRun>(reinterpret_cast<const typename Cfg::T*>(patch), r, q0, prob, wacc);
  } else {
    transposed_conv_run<Cfg, kGh, kGp, kRun, kWithWeight>(w, patch, r, q0, prob, dp, wacc);
  }
}

// grid = (B * C_in * strips); block = kThreads; strips = ceil(L / kTileI). One block owns a strip of
// kTileI rows of one input channel and sweeps its causal tiles of kTileJ columns twice, each time with
// the tile's grad patch in shared memory and dP recomputed (in registers on CUDA cores, or by the warps'
// band products into shared memory): first for the per-row reductions of the normalization's backward,
// then for grad_scores. Tiles above the diagonal are written as zeros without reading anything. Each thread owns the same runs of kRun positions in
// every tile, so its row partials accumulate in registers and are combined in a fixed order.
template <class Cfg>
__device__ __forceinline__ void mta_backward_input_fma(const MtaParams& p, float* smem) {
  using T = typename Cfg::T;
  constexpr int kK = Cfg::kKh * Cfg::kKw;
  constexpr int kCin = Cfg::kCinG * Cfg::kGroups;
  constexpr int kGh = mta_grad_patch_extent(Cfg::kTileI, Cfg::kKh, Cfg::kDh);
  constexpr int kGw = mta_grad_patch_extent(Cfg::kTileJ, Cfg::kKw, Cfg::kDw);
  constexpr int kGp = kPatchPitch<kGw>;  // its row pitch
  constexpr int kRun = mta_backward_input_run(Cfg::kTileJ);
  constexpr int kRunsPerRow = Cfg::kTileJ / kRun;
  constexpr int kTileRuns = Cfg::kTileI * kRunsPerRow;
  constexpr int kRuns = mta_ceil_div(kTileRuns, Cfg::kThreads);  // runs per thread
  constexpr int kStrips = mta_ceil_div(Cfg::kL, Cfg::kTileI);
  constexpr int kTilesJ = mta_ceil_div(Cfg::kL, Cfg::kTileJ);
  constexpr bool kSoftmax = Cfg::kNorm == NormKind::softmax;
  constexpr bool kWeight = mta_fuses_weight_grad(Cfg::kCoutG, Cfg::kKh, Cfg::kKw);
  constexpr int kWAcc = kWeight ? Cfg::kCoutG * kK : 1;
  static_assert(Cfg::kTileJ % kRun == 0, "tile_j must be a multiple of the run length");
  // The patch's region also holds the block's weight-gradient sums after the sweep.
  constexpr int kPatchFloats = mta_backward_input_patch_floats(Cfg::kCoutG, Cfg::kKh, Cfg::kKw, Cfg::kDh, Cfg::kDw,
                                                               Cfg::kTileI, Cfg::kTileJ, Cfg::kThreads / 32);

  using Band = MtaBackwardBand<Cfg>;
  constexpr bool kBand = Band::kOn;

  // CUDA cores: the float grad patch and the filters. Band: the 16-bit grad patch, the band table, dP.
  float* patch = smem;                              // [kCoutG][kGh][kGp], 16-byte aligned rows
  float* w = patch + kPatchFloats;                  // [kCoutG][kKh][kKw] for this input channel
  T* patch16 = reinterpret_cast<T*>(smem);          // band: [kGh][Band::kPitch]
  unsigned* pairs = reinterpret_cast<unsigned*>(smem + Band::kRegionBytes / 4);  // band: [kKh][Band::kBandW]
  float* dp_tile = smem + (Band::kRegionBytes + Band::kTableBytes) / 4;          // band: [kTileI][Band::kDpPitch]
  // [kTileRuns] per-run partials of the row reductions, after either path's buffers
  float* partial = kBand ? dp_tile + Cfg::kTileI * Band::kDpPitch : w + Cfg::kCoutG * kK;
  float* row_sum = partial + kTileRuns;             // [kTileI]
  float* row_count = row_sum + Cfg::kTileI;         // [kTileI] (sparsemax: support size)

  const int strip = blockIdx.x % kStrips;
  const long long plane = blockIdx.x / kStrips;  // b * C_in + ic
  const int b = static_cast<int>(plane / kCin), ic = static_cast<int>(plane % kCin);
  const int group = ic / Cfg::kCinG, icg = ic % Cfg::kCinG;
  const int i0 = strip * Cfg::kTileI;
  const T* scores = static_cast<const T*>(p.scores) + plane * Cfg::kL * Cfg::kL;
  T* grad_scores = static_cast<T*>(p.grad_scores) + plane * Cfg::kL * Cfg::kL;
  const int a0 = i0 + Cfg::kPadTop - (Cfg::kKh - 1) * Cfg::kDh;  // padded-grid row of the patch's first row

  if constexpr (kBand) {  // the flipped filter's band: row a, tap c is weight[Kh - 1 - a][Kw - 1 - c]
    const unsigned short* filter = static_cast<const unsigned short*>(p.weight) + (static_cast<long long>(group) * Cfg::kCinG + icg) * kK;
    build_band_table<Cfg::kThreads, Cfg::kKh, Band::kBandW, Band::kBandLo>(pairs, [&](int a, int d) -> unsigned short {
      return d >= 0 && d % Cfg::kDw == 0 && d / Cfg::kDw < Cfg::kKw
                 ? filter[(Cfg::kKh - 1 - a) * Cfg::kKw + Cfg::kKw - 1 - d / Cfg::kDw]
                 : 0;
    });
  } else {
    for (int idx = threadIdx.x; idx < Cfg::kCoutG * kK; idx += Cfg::kThreads) {
      const int o = idx / kK;
      w[idx] = load<T>(p.weight, (static_cast<long long>(group * Cfg::kCoutG + o) * Cfg::kCinG + icg) * kK + idx % kK);
    }
  }
  // The tile's dP source: the grad patch, and on the band path dP itself (both sweeps). Staged (CUDA
  // cores, see GradPacks): prepare_tile stores the packs fetched beforehand, and fetch_tile issues the
  // next tile's loads, which are in flight while this tile's runs compute. (The band path staged so
  // measured 1.7% slower at K7 and 0.7% faster at 6 x 11: not done.)
  constexpr bool kStaged = !kBand && GradPatchItems<Cfg, kGh, kGw>::kStaged;
  GradPacks<T, kStaged ? GradPatchItems<Cfg, kGh, kGw>::kPerThread : 0> staged;
  const int column_lead = Cfg::kPadLeft - (Cfg::kKw - 1) * Cfg::kDw;  // patch column 0 at j0 + column_lead
  auto fetch_tile = [&](int j0) {
    if constexpr (kStaged) fetch_grad_packs<Cfg, kGh, kGw>(p, b, group, a0, j0 + column_lead, staged);
  };
  auto prepare_tile = [&](int j0) {
    __syncthreads();  // the previous tile's patch and dP are no longer read (and the filters are written)
    if constexpr (kBand) {
      load_grad_patch16<Cfg>(p, b, group, a0, j0 - Band::kLead - Band::kOffset, patch16);
      __syncthreads();
      band_dp_tile<Cfg>(patch16, pairs, i0, j0, dp_tile);
    } else if constexpr (kStaged) {
      store_grad_packs<Cfg, kGh, kGw>(staged, a0, j0 + column_lead, patch);
    } else {
      load_grad_patch<Cfg, kGh, kGw>(p, b, group, a0, j0 + column_lead, patch);
    }
    __syncthreads();
  };
  float stat[kRuns];
#pragma unroll
  for (int k = 0; k < kRuns; ++k) {
    const int run = threadIdx.x + k * Cfg::kThreads, i = i0 + run / kRunsPerRow;
    stat[k] = run < kTileRuns && i < Cfg::kL ? p.row_stats[plane * Cfg::kL + i] : 0.0f;
  }

  // Sweep 1: the per-run partials of the row reductions (softmax: sum P*dP; sparsemax: sum of dP and
  // size of the support) over the causal tiles.
  const int last_row = min(i0 + Cfg::kTileI, Cfg::kL) - 1;
  const int causal_tiles = last_row / Cfg::kTileJ + 1;
  float sum[kRuns], count[kRuns];
#pragma unroll
  for (int k = 0; k < kRuns; ++k) sum[k] = count[k] = 0.0f;
  float wacc[kWAcc];  // with kWeight: this thread's share of grad_weight[group's o][icg][kh][kw]
#pragma unroll
  for (int t = 0; t < kWAcc; ++t) wacc[t] = 0.0f;
  fetch_tile(0);
  for (int tj = 0; tj < causal_tiles; ++tj) {
    const int j0 = tj * Cfg::kTileJ;
    prepare_tile(j0);
    fetch_tile(tj + 1 < causal_tiles ? j0 + Cfg::kTileJ : 0);  // after the last tile, sweep 2's first
#pragma unroll
    for (int k = 0; k < kRuns; ++k) {
      const int run = threadIdx.x + k * Cfg::kThreads;
      if (kTileRuns % Cfg::kThreads != 0 && run >= kTileRuns) break;
      const int r = run / kRunsPerRow, q0 = (run % kRunsPerRow) * kRun, i = i0 + r, j = j0 + q0;
      if (i >= Cfg::kL || j > i) continue;
      float prob[kRun], dp[kRun];
      load_probs_run<Cfg, kRun>(scores + static_cast<long long>(i) * Cfg::kL, i, j, stat[k], prob);
      run_dp<Cfg, kWeight, kGh, kGp, kRun>(w, smem, dp_tile, r, q0, prob, dp, wacc);
#pragma unroll
      for (int e = 0; e < kRun; ++e) {
        const bool valid = j + e <= i;  // dP of a future position may be anything: select, never multiply
        if (kSoftmax) {
          sum[k] += valid ? prob[e] * dp[e] : 0.0f;
        } else if (valid && prob[e] > 0.0f) {
          sum[k] += dp[e];
          count[k] += 1.0f;
        }
      }
    }
  }
  // Row totals, in a fixed order: run partials to shared memory, one thread per row.
  for (int pass = 0; pass < (kSoftmax ? 1 : 2); ++pass) {
#pragma unroll
    for (int k = 0; k < kRuns; ++k) {
      const int run = threadIdx.x + k * Cfg::kThreads;
      if (run < kTileRuns) partial[run] = pass == 0 ? sum[k] : count[k];
    }
    __syncthreads();
    if (threadIdx.x < Cfg::kTileI) {
      float total = 0.0f;
      for (int c = 0; c < kRunsPerRow; ++c) total += partial[threadIdx.x * kRunsPerRow + c];
      (pass == 0 ? row_sum : row_count)[threadIdx.x] = total;
    }
    __syncthreads();
  }
  if constexpr (kWeight) write_weight_partials<Cfg, kWAcc>(p, b, group, icg, strip, wacc, patch);

  // Sweep 2: grad_scores = dZ over the causal tiles; dP recomputed rather than stored in T, which would
  // round it to 8 bits of mantissa in bf16 before the subtraction.
  for (int tj = 0; tj < causal_tiles; ++tj) {
    const int j0 = tj * Cfg::kTileJ;
    prepare_tile(j0);
    if (tj + 1 < causal_tiles) fetch_tile(j0 + Cfg::kTileJ);
#pragma unroll
    for (int k = 0; k < kRuns; ++k) {
      const int run = threadIdx.x + k * Cfg::kThreads;
      if (kTileRuns % Cfg::kThreads != 0 && run >= kTileRuns) break;
      const int r = run / kRunsPerRow, q0 = (run % kRunsPerRow) * kRun, i = i0 + r, j = j0 + q0;
      if (i >= Cfg::kL || j >= Cfg::kL) continue;
      float dz[kRun];
#pragma unroll
      for (int e = 0; e < kRun; ++e) dz[e] = 0.0f;
      if (j <= i) {
        float prob[kRun], dp[kRun], unused[1];
        load_probs_run<Cfg, kRun>(scores + static_cast<long long>(i) * Cfg::kL, i, j, stat[k], prob);
        run_dp<Cfg, false, kGh, kGp, kRun>(w, smem, dp_tile, r, q0, prob, dp, unused);
#pragma unroll
        for (int e = 0; e < kRun; ++e) {
          const bool valid = j + e <= i;
          if (kSoftmax) {
            dz[e] = valid ? prob[e] * (dp[e] - row_sum[r]) : 0.0f;
          } else {
            dz[e] = valid && prob[e] > 0.0f ? dp[e] - row_sum[r] / row_count[r] : 0.0f;
          }
        }
      }
      store_run<T, kRun, Cfg::kL>(grad_scores + static_cast<long long>(i) * Cfg::kL + j, j, dz);
    }
  }
  // Above the diagonal: zeros, nothing read.
  for (int tj = causal_tiles; tj < kTilesJ; ++tj) {
#pragma unroll
    for (int k = 0; k < kRuns; ++k) {
      const int run = threadIdx.x + k * Cfg::kThreads;
      if (kTileRuns % Cfg::kThreads != 0 && run >= kTileRuns) break;
      const int i = i0 + run / kRunsPerRow, j = tj * Cfg::kTileJ + (run % kRunsPerRow) * kRun;
      if (i >= Cfg::kL || j >= Cfg::kL) continue;
      const float zeros[kRun] = {};
      store_run<T, kRun, Cfg::kL>(grad_scores + static_cast<long long>(i) * Cfg::kL + j, j, zeros);
    }
  }
}

// The input gradient: on tensor cores where mta_backward_input_uses_mma (channel mixing; the host sized the
// launch with the same decision; such blocks ask for two an SM: 128 registers), else mta_backward_input_fma
// (dP on CUDA cores, or for depthwise by the band product).
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, mta_backward_input_uses_mma_cfg<Cfg>() ? 2 : 0)
    mta_backward_input(const __grid_constant__ MtaParams p) {
  extern __shared__ __align__(16) float smem[];
  if constexpr (mta_backward_input_uses_mma_cfg<Cfg>()) {
    mta_backward_input_mma<Cfg>(p, smem);
  } else {
    mta_backward_input_fma<Cfg>(p, smem);
  }
}

// On CUDA cores: grid = (B * C_out * C_in/groups * strips); block = kThreads; strips = ceil(L_out_h / kTileI).
template <class Cfg>
__device__ __forceinline__ void mta_backward_weight_fma(const MtaParams& p, float* smem) {
  using T = typename Cfg::T;
  constexpr int kK = Cfg::kKh * Cfg::kKw;
  constexpr int kCin = Cfg::kCinG * Cfg::kGroups, kCout = Cfg::kCoutG * Cfg::kGroups;
  constexpr int kPatchH = mta_patch_extent(Cfg::kTileI, Cfg::kSh, Cfg::kKh, Cfg::kDh);
  constexpr int kPatchW = mta_patch_extent(Cfg::kTileJ, Cfg::kSw, Cfg::kKw, Cfg::kDw);
  constexpr int kPitch = kPatchPitch<kPatchW>;
  constexpr int kTilePix = Cfg::kTileI * Cfg::kTileJ;
  constexpr int kPix = mta_ceil_div(kTilePix, Cfg::kThreads);
  constexpr int kStrips = mta_ceil_div(Cfg::kOutH, Cfg::kTileI);

  // smem: the patch, then the warps' partials [kWarps][kK + 1]
  const int strip = blockIdx.x % kStrips;
  int rest = blockIdx.x / kStrips;
  const int icg = rest % Cfg::kCinG;
  rest /= Cfg::kCinG;
  const int oc = rest % kCout, b = rest / kCout;
  const int group = oc / Cfg::kCoutG;
  const long long in_plane = static_cast<long long>(b) * kCin + group * Cfg::kCinG + icg;
  const T* grad_out = static_cast<const T*>(p.grad_out) + (static_cast<long long>(b) * kCout + oc) * Cfg::kOutH * Cfg::kOutW;

  float acc[kK + 1];  // grad_weight taps, then grad_bias
#pragma unroll
  for (int k = 0; k <= kK; ++k) acc[k] = 0.0f;
  const int oi0 = strip * Cfg::kTileI;
  const int last = min(min(oi0 + Cfg::kTileI, Cfg::kOutH) - 1, Cfg::kOutW - 1);  // last causal column
  for (int tj = 0; tj * Cfg::kTileJ <= last; ++tj) {
    const int oj0 = tj * Cfg::kTileJ;
    __syncthreads();
    load_normalized_patch<Cfg, kPatchH, kPatchW, kPatchPhase<Cfg, Cfg::kTileJ>>(p, in_plane, oi0 * Cfg::kSh - Cfg::kPadTop,
                                                 oj0 * Cfg::kSw - Cfg::kPadLeft, smem);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kPix; ++k) {
      const int q = threadIdx.x + k * Cfg::kThreads;
      const int oi = oi0 + q / Cfg::kTileJ, oj = oj0 + q % Cfg::kTileJ;
      if (q >= kTilePix || oi >= Cfg::kOutH || oj >= Cfg::kOutW || oj > oi) continue;
      const float dy = to_float(grad_out[static_cast<long long>(oi) * Cfg::kOutW + oj]);
      const float* tap0 = smem + (q / Cfg::kTileJ) * Cfg::kSh * kPitch + (q % Cfg::kTileJ) * Cfg::kSw;
#pragma unroll
      for (int kh = 0; kh < Cfg::kKh; ++kh) {
#pragma unroll
        for (int kw = 0; kw < Cfg::kKw; ++kw) acc[kh * Cfg::kKw + kw] += dy * tap0[kh * Cfg::kDh * kPitch + kw * Cfg::kDw];
      }
      acc[kK] += dy;
    }
  }

  __syncthreads();  // the patch is no longer read; its space holds the warps' partials
  const long long slot = static_cast<long long>(b) * kStrips + strip;
  block_sums<Cfg::kThreads>(acc, smem, [&](int k, float total) {
    if (k < kK) {
      p.partial_weight[((slot * kCout + oc) * Cfg::kCinG + icg) * kK + k] = total;
    } else if (icg == 0) {
      p.partial_bias[slot * kCout + oc] = total;
    }
  });
}

// The weight- and bias-gradient partials: on tensor cores where mta_backward_weight_uses_mma (the host sized
// the launch with the same decision; such blocks ask for two an SM: 128 registers), else on CUDA cores.
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, mta_backward_weight_uses_mma_cfg<Cfg>() ? 2 : 0)
    mta_backward_weight(const __grid_constant__ MtaParams p) {
  extern __shared__ __align__(16) float smem[];
  if constexpr (mta_backward_weight_uses_mma_cfg<Cfg>()) {
    mta_backward_weight_mma<Cfg>(p, smem);
  } else {
    mta_backward_weight_fma<Cfg>(p, smem);
  }
}

// grid = ceil((C_out * C_in/groups * kKh * kKw + C_out) / kThreads); sums the p.weight_slots slots.
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) mta_reduce_weight(const __grid_constant__ MtaParams p) {
  using T = typename Cfg::T;
  constexpr int kCout = Cfg::kCoutG * Cfg::kGroups;
  constexpr int kWeights = kCout * Cfg::kCinG * Cfg::kKh * Cfg::kKw;
  const int e = blockIdx.x * Cfg::kThreads + threadIdx.x;
  const int slots = p.weight_slots;  // B * strips of whichever kernel wrote the partials
  if (e < kWeights) {
    float total = 0.0f;
    for (int s = 0; s < slots; ++s) total += p.partial_weight[static_cast<long long>(s) * kWeights + e];
    store<T>(p.grad_weight, e, total);
  } else if (Cfg::kHasBias && e < kWeights + kCout) {
    float total = 0.0f;
    for (int s = 0; s < slots; ++s) total += p.partial_bias[static_cast<long long>(s) * kCout + e - kWeights];
    store<T>(p.grad_bias, e - kWeights, total);
  }
}

}  // namespace attnjit
