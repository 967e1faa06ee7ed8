// The band product on tensor cores that the depthwise forward (mta_forward_band) and the input gradient's
// dP (mta_backward_input) share: a filter row is a banded matrix, so 16 rows x 8 columns of one filter
// row's correlation are one mma.sync.m16n8k16 per k-step of 16 patch rows (A, by ldmatrix from a 16-bit
// patch starting on a 16-byte column) with the band (B, per lane from a table of value pairs). See
// mta_params.h (mta_band_*) for the geometry: offset, k-steps, strips, table.
#pragma once

#include "mma.cuh"
#include "mta_params.h"

namespace attnjit {

// One lane's B fragment of one filter row and k-step: rows k = 16s + (2t, 2t + 1 | 2t + 8, 2t + 9) of
// column n = g.
struct BandFragment {
  unsigned r[2];
};

// The band as pairs: pairs[a][x] = (band value at x - kBandLo, at x - kBandLo + 1) of filter row a, where
// value(a, d) is the band value at d (the tap weight where d = c * dw for a tap c, else 0); lane (g, t) then
// finds its fragment at x = k - g * sw - offset + kBandLo (pairs start at any k, so a 32-bit table of
// pairs, not of values).
template <int kThreads, int kKh, int kBandW, int kBandLo, class Value>
__device__ __forceinline__ void build_band_table(unsigned* pairs, Value&& value) {
  for (int idx = threadIdx.x; idx < kKh * kBandW; idx += kThreads) {
    const int a = idx / kBandW, d = idx % kBandW - kBandLo;
    pairs[idx] = pack_pair(value(a, d), value(a, d + 1));
  }
}

template <int kSw, int kOffset, int kBandLo, int kBandW>
__device__ __forceinline__ BandFragment band_fragment(const unsigned* pairs, int a, int s, int g, int t) {
  const unsigned* row = pairs + a * kBandW + 16 * s + 2 * t - g * kSw - kOffset + kBandLo;
  return {{row[0], row[8]}};
}

// acc[n] += the warp tile's band product: 16 rows (wi .. wi + 15) x kNTiles n-tiles of 8 columns from wj,
// summed over the filter rows a; row m of filter row a reads patch row (wi + m) * kSh + a * kDh from
// column wj * kSw, so the lane's ldmatrix rows start at band_rows(...). band(a, s) gives the lane's
// BandFragment. Per filter row each A fragment is loaded once:
// ldmatrix.x4 from strip u gives, on lanes 0-15, rows 0-15 of strip u and on lanes 16-31 of strip u + 1,
// the A fragment of every (n-tile n, k-step s) with kSw * n + 2s = u, in the registers mma.sync takes
// (fragments assembled from two loads' halves cost 4 moves per mma).
template <int kSh, int kSw, int kPitch, class T>
__device__ __forceinline__ const unsigned short* band_rows(const T* patch, int wi, int wj, int lane) {
  return reinterpret_cast<const unsigned short*>(patch) + ((wi + (lane & 15)) * kSh) * kPitch + wj * kSw + (lane >> 4) * 8;
}

template <class T, int kKh, int kDh, int kSw, int kNTiles, int kKSteps, int kPitch, class Band>
__device__ __forceinline__ void band_warp_tile(float (&acc)[kNTiles][4], const unsigned short* rows, Band&& band) {
#pragma unroll
  for (int a = 0; a < kKh; ++a) {
#pragma unroll
    for (int u = 0; u <= kSw * (kNTiles - 1) + 2 * (kKSteps - 1); ++u) {
      if (!mta_band_reads_strip(u, kSw, kNTiles, kKSteps)) continue;
      unsigned a_frag[4];
      ldmatrix_x4<false>(a_frag, rows + a * kDh * kPitch + 8 * u);
#pragma unroll
      for (int s = 0; s < kKSteps; ++s) {
        const int n = (u - 2 * s) / kSw;
        if (u - 2 * s >= 0 && (u - 2 * s) % kSw == 0 && n < kNTiles) Mma16816<T>::run(acc[n], a_frag, band(a, s).r);
      }
    }
  }
}

}  // namespace attnjit
