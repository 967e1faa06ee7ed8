// mta backward (SPEC.md section 1), fused: no L x L temporary besides grad_scores itself.
//   mta_backward_input   dP (the transposed convolution of the masked grad_out) is recomputed where
//                        needed; one block owns a strip of kTileI rows of one input channel and sweeps
//                        it twice: first the per-row reduction the normalization's backward needs
//                        (softmax: sum P*dP; sparsemax: sum of dP and size of the support), then
//                        grad_scores = dZ, with the future written as 0.
//   mta_backward_weight  per (batch, strip of output rows, output channel, input channel of its group):
//                        the strip's contribution to grad_weight (and grad_bias), reduced inside the
//                        block in a fixed order and written to a workspace slot, no atomics.
//   mta_reduce_weight    sums the workspace slots in a fixed order: the same bits on every run.
#pragma once

#include "mta_norm.cuh"

namespace attnjit {

// dP[i, j] of input channel ic (icg-th of its group), from the masked grad_out and the weights of
// the group's output channels (w: [kCoutG][kKh][kKw] for this icg, in shared memory).
template <class Cfg>
__device__ __forceinline__ float grad_normalized(const MtaParams& p, int b, int group, const float* w, int i, int j) {
  using T = typename Cfg::T;
  constexpr int kCout = Cfg::kCoutG * Cfg::kGroups;
  const T* grad_out = static_cast<const T*>(p.grad_out) +
                      (static_cast<long long>(b) * kCout + group * Cfg::kCoutG) * Cfg::kOutH * Cfg::kOutW;
  float dp = 0.0f;
  for (int kh = 0; kh < Cfg::kKh; ++kh) {
    const int ni = i + Cfg::kPadTop - kh * Cfg::kDh;
    if (ni < 0 || ni % Cfg::kSh != 0 || ni / Cfg::kSh >= Cfg::kOutH) continue;
    const int oi = ni / Cfg::kSh;
    for (int kw = 0; kw < Cfg::kKw; ++kw) {
      const int nj = j + Cfg::kPadLeft - kw * Cfg::kDw;
      if (nj < 0 || nj % Cfg::kSw != 0 || nj / Cfg::kSw >= Cfg::kOutW) continue;
      const int oj = nj / Cfg::kSw;
      if (oj > oi) continue;  // grad_out is masked like the output: its future is never read
      const long long at = static_cast<long long>(oi) * Cfg::kOutW + oj;
      for (int o = 0; o < Cfg::kCoutG; ++o) {
        dp += w[(o * Cfg::kKh + kh) * Cfg::kKw + kw] *
              to_float(grad_out[static_cast<long long>(o) * Cfg::kOutH * Cfg::kOutW + at]);
      }
    }
  }
  return dp;
}

// grid = (B * C_in * strips); block = kThreads; strips = ceil(L / kTileI).
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) mta_backward_input(const __grid_constant__ MtaParams p) {
  using T = typename Cfg::T;
  constexpr int kK = Cfg::kKh * Cfg::kKw;
  constexpr int kCin = Cfg::kCinG * Cfg::kGroups;
  constexpr int kTilePix = Cfg::kTileI * Cfg::kTileJ;
  constexpr int kPix = mta_ceil_div(kTilePix, Cfg::kThreads);
  constexpr int kStrips = mta_ceil_div(Cfg::kL, Cfg::kTileI);
  constexpr bool kSoftmax = Cfg::kNorm == NormKind::softmax;

  extern __shared__ float smem[];
  float* w = smem;                                  // [kCoutG][kKh][kKw] for this input channel
  float* partial = w + Cfg::kCoutG * kK;            // [kTileI][kTileJ] per-position row partials
  float* row_sum = partial + kTilePix;              // [kTileI]
  float* row_count = row_sum + Cfg::kTileI;         // [kTileI] (sparsemax: support size)

  const int strip = blockIdx.x % kStrips;
  const long long plane = blockIdx.x / kStrips;  // b * C_in + ic
  const int b = static_cast<int>(plane / kCin), ic = static_cast<int>(plane % kCin);
  const int group = ic / Cfg::kCinG, icg = ic % Cfg::kCinG;
  const int i0 = strip * Cfg::kTileI;
  const T* scores = static_cast<const T*>(p.scores) + plane * Cfg::kL * Cfg::kL;
  const float* stats = p.row_stats + plane * Cfg::kL;

  for (int idx = threadIdx.x; idx < Cfg::kCoutG * kK; idx += Cfg::kThreads) {
    const int o = idx / kK;
    w[idx] = load<T>(p.weight, (static_cast<long long>(group * Cfg::kCoutG + o) * Cfg::kCinG + icg) * kK + idx % kK);
  }
  __syncthreads();

  // Sweep 1: per-position partials of the row reductions, over the causal part of the strip.
  const int last_row = min(i0 + Cfg::kTileI, Cfg::kL) - 1;
  const int causal_tiles = last_row / Cfg::kTileJ + 1;
  float sum[kPix], count[kPix];
#pragma unroll
  for (int k = 0; k < kPix; ++k) sum[k] = count[k] = 0.0f;
  for (int tj = 0; tj < causal_tiles; ++tj) {
#pragma unroll
    for (int k = 0; k < kPix; ++k) {
      const int q = threadIdx.x + k * Cfg::kThreads;
      const int i = i0 + q / Cfg::kTileJ, j = tj * Cfg::kTileJ + q % Cfg::kTileJ;
      if (q >= kTilePix || i >= Cfg::kL || j > i) continue;
      const float prob = normalize<Cfg::kNorm>(to_float(scores[static_cast<long long>(i) * Cfg::kL + j]), stats[i]);
      const float dp = grad_normalized<Cfg>(p, b, group, w, i, j);
      if (kSoftmax) {
        sum[k] += prob * dp;
      } else if (prob > 0.0f) {
        sum[k] += dp;
        count[k] += 1.0f;
      }
    }
  }
  // Row totals, in a fixed order: position partials to shared memory, one thread per row.
  for (int pass = 0; pass < (kSoftmax ? 1 : 2); ++pass) {
#pragma unroll
    for (int k = 0; k < kPix; ++k) {
      const int q = threadIdx.x + k * Cfg::kThreads;
      if (q < kTilePix) partial[q] = pass == 0 ? sum[k] : count[k];
    }
    __syncthreads();
    if (threadIdx.x < Cfg::kTileI) {
      float total = 0.0f;
      for (int c = 0; c < Cfg::kTileJ; ++c) total += partial[threadIdx.x * Cfg::kTileJ + c];
      (pass == 0 ? row_sum : row_count)[threadIdx.x] = total;
    }
    __syncthreads();
  }

  // Sweep 2: grad_scores over the whole strip; dP recomputed rather than stored in T, which would
  // round it to 8 bits of mantissa in bf16 before the subtraction.
  constexpr int kTilesJ = mta_ceil_div(Cfg::kL, Cfg::kTileJ);
  T* grad_scores = static_cast<T*>(p.grad_scores) + plane * Cfg::kL * Cfg::kL;
  for (int tj = 0; tj < kTilesJ; ++tj) {
#pragma unroll
    for (int k = 0; k < kPix; ++k) {
      const int q = threadIdx.x + k * Cfg::kThreads;
      const int r = q / Cfg::kTileJ, i = i0 + r, j = tj * Cfg::kTileJ + q % Cfg::kTileJ;
      if (q >= kTilePix || i >= Cfg::kL || j >= Cfg::kL) continue;
      float dz = 0.0f;
      if (j <= i) {
        const float prob = normalize<Cfg::kNorm>(to_float(scores[static_cast<long long>(i) * Cfg::kL + j]), stats[i]);
        if (kSoftmax) {
          dz = prob * (grad_normalized<Cfg>(p, b, group, w, i, j) - row_sum[r]);
        } else if (prob > 0.0f) {
          dz = grad_normalized<Cfg>(p, b, group, w, i, j) - row_sum[r] / row_count[r];
        }
      }
      grad_scores[static_cast<long long>(i) * Cfg::kL + j] = from_float<T>(dz);
    }
  }
}

// grid = (B * C_out * C_in/groups * strips); block = kThreads; strips = ceil(L_out_h / kTileI).
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) mta_backward_weight(const __grid_constant__ MtaParams p) {
  using T = typename Cfg::T;
  constexpr int kK = Cfg::kKh * Cfg::kKw;
  constexpr int kCin = Cfg::kCinG * Cfg::kGroups, kCout = Cfg::kCoutG * Cfg::kGroups;
  constexpr int kPatchH = mta_patch_extent(Cfg::kTileI, Cfg::kSh, Cfg::kKh, Cfg::kDh);
  constexpr int kPatchW = mta_patch_extent(Cfg::kTileJ, Cfg::kSw, Cfg::kKw, Cfg::kDw);
  constexpr int kTilePix = Cfg::kTileI * Cfg::kTileJ;
  constexpr int kPix = mta_ceil_div(kTilePix, Cfg::kThreads);
  constexpr int kStrips = mta_ceil_div(Cfg::kOutH, Cfg::kTileI);
  constexpr int kWarps = Cfg::kThreads / 32;

  extern __shared__ float smem[];  // the patch, then the warps' partials [kWarps][kK + 1]
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
    load_normalized_patch<Cfg, kPatchH, kPatchW>(p, in_plane, oi0 * Cfg::kSh - Cfg::kPadTop,
                                                 oj0 * Cfg::kSw - Cfg::kPadLeft, smem);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kPix; ++k) {
      const int q = threadIdx.x + k * Cfg::kThreads;
      const int oi = oi0 + q / Cfg::kTileJ, oj = oj0 + q % Cfg::kTileJ;
      if (q >= kTilePix || oi >= Cfg::kOutH || oj >= Cfg::kOutW || oj > oi) continue;
      const float dy = to_float(grad_out[static_cast<long long>(oi) * Cfg::kOutW + oj]);
      const float* tap0 = smem + (q / Cfg::kTileJ) * Cfg::kSh * kPatchW + (q % Cfg::kTileJ) * Cfg::kSw;
#pragma unroll
      for (int kh = 0; kh < Cfg::kKh; ++kh) {
#pragma unroll
        for (int kw = 0; kw < Cfg::kKw; ++kw) acc[kh * Cfg::kKw + kw] += dy * tap0[kh * Cfg::kDh * kPatchW + kw * Cfg::kDw];
      }
      acc[kK] += dy;
    }
  }

  // Block reduction in a fixed order: butterfly within each warp, then warps in order.
  __syncthreads();  // the patch is no longer read; its space holds the warps' partials
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int k = 0; k <= kK; ++k) {
    const float v = warp_reduce(acc[k], Sum{});
    if (lane == 0) smem[warp * (kK + 1) + k] = v;
  }
  __syncthreads();
  const long long slot = static_cast<long long>(b) * kStrips + strip;
  for (int k = threadIdx.x; k <= kK; k += Cfg::kThreads) {
    float total = 0.0f;
    for (int w = 0; w < kWarps; ++w) total += smem[w * (kK + 1) + k];
    if (k < kK) {
      p.partial_weight[((slot * kCout + oc) * Cfg::kCinG + icg) * kK + k] = total;
    } else if (icg == 0) {
      p.partial_bias[slot * kCout + oc] = total;
    }
  }
}

// grid = ceil((C_out * C_in/groups * kKh * kKw + C_out) / kThreads); sums the B * strips slots.
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) mta_reduce_weight(const __grid_constant__ MtaParams p) {
  using T = typename Cfg::T;
  constexpr int kCout = Cfg::kCoutG * Cfg::kGroups;
  constexpr int kWeights = kCout * Cfg::kCinG * Cfg::kKh * Cfg::kKw;
  constexpr int kStrips = mta_ceil_div(Cfg::kOutH, Cfg::kTileI);
  const int e = blockIdx.x * Cfg::kThreads + threadIdx.x;
  const int slots = p.batch * kStrips;
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
