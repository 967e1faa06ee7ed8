// Kernels of the autotuner itself, not of any op (tuner/tuner_kernels.cpp compiles them with NVRTC): the
// random inputs a worker verifies and times its candidates on, made on the device (a host-made L x L
// tensor took seconds per worker at L = 8192); the comparison of a candidate's output with the trusted
// one on the device, so that verifying a candidate costs no copy of an L x L tensor to the host; and the
// test-only kernel that never ends, for the tuner's hang test.
#pragma once

#include "common.cuh"

namespace attnjit {

// out[i] = a standard normal value, a pure function of (seed, i): a splitmix64 hash of the pair gives two
// uniforms, Box-Muller turns them into a normal. The same inputs on every run with the same seed.
__device__ __forceinline__ unsigned long long tuner_mix(unsigned long long z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <class T>
__global__ void __launch_bounds__(256) tuner_fill_normal(T* out, long long n, unsigned long long seed) {
  for (long long i = blockIdx.x * 256ll + threadIdx.x; i < n; i += gridDim.x * 256ll) {
    const unsigned long long h = tuner_mix(seed ^ tuner_mix(static_cast<unsigned long long>(i)));
    const float u1 = (static_cast<float>(h >> 40) + 1.0f) * 5.9604645e-8f;  // (0, 1]: 24 bits, never 0
    const float u2 = static_cast<float>((h >> 16) & 0xffffffull) * 5.9604645e-8f;
    out[i] = from_float<T>(sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2));
  }
}

// Per block, into partials[blockIdx.x * 4 + k]: k = 0 the sum of (out - ref)^2, 1 the sum of ref^2, 2 the
// largest |out - ref| / (1e-4 + 1e-4 |ref|), 3 the count of NaN or infinite outputs, over a grid-stride
// share of the n elements. Combined in a fixed order (butterflies, then warps in order): the host sums the
// blocks in order, so the figures are the same on every run. SPEC.md's tests are then: fp32, the
// largest ratio <= 1; 16-bit, sqrt(sum 0 / sum 1) <= 1e-2; and no NaN.
template <class T>
__global__ void __launch_bounds__(256) tuner_compare(const T* out, const T* ref, long long n, double* partials) {
  double v[4] = {0.0, 0.0, 0.0, 0.0};
  for (long long i = blockIdx.x * 256ll + threadIdx.x; i < n; i += gridDim.x * 256ll) {
    const float o = to_float(out[i]), r = to_float(ref[i]);
    if ((__float_as_uint(o) & 0x7f800000u) == 0x7f800000u) {  // NaN or infinite
      v[3] += 1.0;
      continue;
    }
    const double d = fabs(static_cast<double>(o) - static_cast<double>(r));
    v[0] += d * d;
    v[1] += static_cast<double>(r) * r;
    v[2] = fmax(v[2], d / (1e-4 + 1e-4 * fabs(static_cast<double>(r))));
  }
  __shared__ double warps[8][4];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    for (int offset = 16; offset > 0; offset >>= 1) {
      const double other = __shfl_xor_sync(kFullMask, v[k], offset);
      v[k] = k == 2 ? fmax(v[k], other) : v[k] + other;
    }
    if (lane == 0) warps[warp][k] = v[k];
  }
  __syncthreads();
  if (threadIdx.x < 4) {
    const int k = threadIdx.x;
    double total = warps[0][k];
    for (int w = 1; w < 8; ++w) total = k == 2 ? fmax(total, warps[w][k]) : total + warps[w][k];
    partials[blockIdx.x * 4 + k] = total;
  }
}

// Test only: spins until *flag is nonzero, which nothing sets (a candidate that hangs).
__global__ void tuner_spin(const volatile int* flag) {
  while (*flag == 0) {
  }
}

}  // namespace attnjit
