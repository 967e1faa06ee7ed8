// mta forward, steps 2-4 of SPEC.md section 1 in one pass: each block owns a tile of outputs
// (kTileI x kTileJ positions, kOcTile output channels of one group), loads the normalized scores its
// taps read (a halo'd patch, normalized on the fly from the raw scores and the row statistics) into
// shared memory one input channel at a time, convolves, adds the bias and applies the output mask.
// No L x L temporary: the only L x L tensor written is the output. Tiles wholly above the diagonal
// are written as zeros without reading anything.
//
// Each thread computes runs of kRun consecutive outputs of one row: per filter row it loads the
// kSpan patch values the run's taps touch into registers once and reuses each for up to kRun taps,
// so the inner loop is FFMAs with one shared-memory load per (tap, output channel) shared by kRun
// outputs (the first version loaded the patch and the weight per tap and output: 3 instructions per
// FFMA, instruction-bound at 591 us on the dw K5 bf16 L=2048 shape).
// Channel mixing in f16/bf16 takes the tensor-core path of mta_forward_mma.cuh instead, depthwise
// f16/bf16 that of mta_forward_band.cuh.
#pragma once

#include "mta_forward_band.cuh"
#include "mta_forward_mma.cuh"
#include "mta_norm.cuh"

namespace attnjit {

// The block's part of mta_forward on CUDA cores.
template <class Cfg>
__device__ __forceinline__ void mta_forward_fma(const MtaParams& p, float* smem) {
  using T = typename Cfg::T;
  constexpr int kK = Cfg::kKh * Cfg::kKw;
  constexpr int kCin = Cfg::kCinG * Cfg::kGroups, kCout = Cfg::kCoutG * Cfg::kGroups;
  constexpr int kPatchH = mta_patch_extent(Cfg::kTileI, Cfg::kSh, Cfg::kKh, Cfg::kDh);
  constexpr int kPatchW = mta_patch_extent(Cfg::kTileJ, Cfg::kSw, Cfg::kKw, Cfg::kDw);
  constexpr int kPitch = kPatchPitch<kPatchW>;
  constexpr int kRun = Cfg::kTileJ >= 4 ? 4 : Cfg::kTileJ;  // outputs per run (tile_j is a power of 2)
  constexpr int kSpan = (kRun - 1) * Cfg::kSw + (Cfg::kKw - 1) * Cfg::kDw + 1;  // patch values a run reads per filter row
  constexpr int kRunsPerRow = Cfg::kTileJ / kRun;
  constexpr int kTileRuns = Cfg::kTileI * kRunsPerRow;
  constexpr int kRuns = mta_ceil_div(kTileRuns, Cfg::kThreads);  // runs per thread
  constexpr int kTilesJ = mta_ceil_div(Cfg::kOutW, Cfg::kTileJ);
  constexpr int kOcChunks = Cfg::kCoutG / Cfg::kOcTile;
  static_assert(Cfg::kCoutG % Cfg::kOcTile == 0, "kOcTile must divide C_out / groups");
  static_assert(Cfg::kTileJ % kRun == 0, "tile_j must be a multiple of the run length");
  // Few enough filter taps live in registers for the whole input channel (then the filter-row loop is
  // unrolled, which register indexing needs); more are read from shared memory, broadcast.
  constexpr bool kWeightsInRegisters = Cfg::kOcTile * kK <= 64;
  constexpr int kRegisterWeights = kWeightsInRegisters ? Cfg::kOcTile * kK : 1;
  constexpr int kUnrollKh = kWeightsInRegisters ? Cfg::kKh : 1;

  float* patch = smem;                        // [kPatchH][kPitch]
  float* weights = smem + kPatchH * kPitch;   // [kOcTile][kKh][kKw] for the current input channel

  const int oi0 = (blockIdx.x / kTilesJ) * Cfg::kTileI, oj0 = (blockIdx.x % kTilesJ) * Cfg::kTileJ;
  const int group = blockIdx.y / kOcChunks;
  const int oc0 = group * Cfg::kCoutG + (blockIdx.y % kOcChunks) * Cfg::kOcTile;
  const int b = blockIdx.z;
  T* out = static_cast<T*>(p.out) + (static_cast<long long>(b) * kCout + oc0) * Cfg::kOutH * Cfg::kOutW;

  float acc[Cfg::kOcTile][kRuns][kRun];
  const bool upper_tile = oj0 > oi0 + Cfg::kTileI - 1;  // every position has j > i: output is 0
#pragma unroll
  for (int o = 0; o < Cfg::kOcTile; ++o) {
    const float init = (Cfg::kHasBias && !upper_tile) ? load<T>(p.bias, oc0 + o) : 0.0f;
#pragma unroll
    for (int k = 0; k < kRuns; ++k) {
#pragma unroll
      for (int r = 0; r < kRun; ++r) acc[o][k][r] = init;
    }
  }

  for (int icg = 0; icg < Cfg::kCinG && !upper_tile; ++icg) {
    const long long in_plane = static_cast<long long>(b) * kCin + group * Cfg::kCinG + icg;
    __syncthreads();  // the previous channel's patch and weights are no longer read
    for (int idx = threadIdx.x; idx < Cfg::kOcTile * kK; idx += Cfg::kThreads) {
      weights[idx] = load<T>(p.weight, (static_cast<long long>(oc0 + idx / kK) * Cfg::kCinG + icg) * kK + idx % kK);
    }
    load_normalized_patch<Cfg, kPatchH, kPatchW, kPatchPhase<Cfg, Cfg::kTileJ>>(p, in_plane, oi0 * Cfg::kSh - Cfg::kPadTop,
                                                 oj0 * Cfg::kSw - Cfg::kPadLeft, patch);
    __syncthreads();
    float w_reg[kRegisterWeights];
    if constexpr (kWeightsInRegisters) {
#pragma unroll
      for (int t = 0; t < kRegisterWeights; ++t) w_reg[t] = weights[t];
    }
#pragma unroll
    for (int k = 0; k < kRuns; ++k) {
      const int run = threadIdx.x + k * Cfg::kThreads;
      if (kTileRuns % Cfg::kThreads != 0 && run >= kTileRuns) break;
      // (row, first column) of this run inside the tile -> its first patch value
      const float* base =
          patch + (run / kRunsPerRow) * Cfg::kSh * kPitch + (run % kRunsPerRow) * kRun * Cfg::kSw;
#pragma unroll kUnrollKh
      for (int kh = 0; kh < Cfg::kKh; ++kh) {
        float x[kSpan];
        load_span<kSpan, kRun == 4>(base + kh * Cfg::kDh * kPitch, x);  // runs start at multiples of 4
#pragma unroll
        for (int kw = 0; kw < Cfg::kKw; ++kw) {
#pragma unroll
          for (int o = 0; o < Cfg::kOcTile; ++o) {
            float w;
            if constexpr (kWeightsInRegisters) {
              w = w_reg[o * kK + kh * Cfg::kKw + kw];
            } else {
              w = weights[o * kK + kh * Cfg::kKw + kw];
            }
#pragma unroll
            for (int r = 0; r < kRun; ++r) acc[o][k][r] = fmaf(w, x[r * Cfg::kSw + kw * Cfg::kDw], acc[o][k][r]);
          }
        }
      }
    }
  }

#pragma unroll
  for (int k = 0; k < kRuns; ++k) {
    const int run = threadIdx.x + k * Cfg::kThreads;
    if (kTileRuns % Cfg::kThreads != 0 && run >= kTileRuns) break;
    const int oi = oi0 + run / kRunsPerRow, oj = oj0 + (run % kRunsPerRow) * kRun;
    if (oi >= Cfg::kOutH || oj >= Cfg::kOutW) continue;
#pragma unroll
    for (int o = 0; o < Cfg::kOcTile; ++o) {
      float v[kRun];
#pragma unroll
      for (int r = 0; r < kRun; ++r) v[r] = oj + r <= oi ? acc[o][k][r] : 0.0f;  // the output mask
      store_run<T, kRun, Cfg::kOutW>(out + static_cast<long long>(o) * Cfg::kOutH * Cfg::kOutW +
                                         static_cast<long long>(oi) * Cfg::kOutW + oj, oj, v);
    }
  }
}

template <class Cfg>
ATTNJIT_HD constexpr MtaForwardPath mta_forward_path_of_cfg() {
  return mta_forward_path_of(sizeof(typename Cfg::T), Cfg::kCinG, Cfg::kOcTile, Cfg::kKh, Cfg::kKw, Cfg::kSh, Cfg::kSw,
                             Cfg::kDh, Cfg::kDw, Cfg::kPadLeft, Cfg::kTileI, Cfg::kTileJ, Cfg::kThreads / 32);
}
// Blocks an SM the forward's registers must allow: two where the channel-mixing forward reuses rows (128
// registers a thread at 8 warps, no spill), else 0, unspecified: ptxas's own choice (an explicit 1 took the
// groups=2 forward from 64 registers to 128 and 10% slower).
template <class Cfg>
ATTNJIT_HD constexpr int mta_forward_min_blocks() {
  return mta_forward_path_of_cfg<Cfg>() == MtaForwardPath::channel_mixing_mma && mta_forward_mma_row_reuse<Cfg>() ? 2 : 0;
}

// grid = (tiles_i * tiles_j, groups * C_out/groups/kOcTile, B); block = kThreads. The code path is
// mta_forward_path_of's, the decision the host sized the launch with.
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, mta_forward_min_blocks<Cfg>()) mta_forward(const __grid_constant__ MtaParams p) {
  extern __shared__ __align__(16) float smem[];
  constexpr MtaForwardPath kPath = mta_forward_path_of_cfg<Cfg>();
  if constexpr (kPath == MtaForwardPath::channel_mixing_mma) {
    mta_forward_mma<Cfg>(p, smem);
  } else if constexpr (kPath == MtaForwardPath::depthwise_band_mma) {
    mta_forward_band<Cfg>(p, smem);
  } else {
    mta_forward_fma<Cfg>(p, smem);
  }
}

}  // namespace attnjit
