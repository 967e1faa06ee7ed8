// The mta test grid of the foundation issue, as an all-pairs covering plus named cases:
//   stride {1, 2, 3}, padding {0, symmetric K/2, causal (Kh-1, 0)}, dilation {1, 2}, groups {1, 2, C},
//   kernel {1x1, 2x2, 3x3, 5x5, 6x11}, L {1, 5, 8, 257, 1000, 2048}, channels (C_in, C_out)
//   {(4,4), (4,8), (8,4)}, bias {off, on}, norm {softmax, sparsemax}, dtype {f32, f16, bf16}.
// Shared by the CPU suite (NVRTC compiles every kernel of every case for sm_80 and sm_90) and the
// gpu suite (every case against the reference).
#pragma once

#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "tests/common/all_pairs.hpp"

namespace attnjit::testing {

struct MtaCase {
  std::string label;
  MtaProblem problem;
};

inline MtaProblem mta_case_problem(const Case& c) {
  static const int strides[] = {1, 2, 3};
  static const int dilations[] = {1, 2};
  static const int kernels[][2] = {{1, 1}, {2, 2}, {3, 3}, {5, 5}, {6, 11}};
  static const int lengths[] = {1, 5, 8, 257, 1000, 2048};
  static const int channels[][2] = {{4, 4}, {4, 8}, {8, 4}};
  MtaProblem p;
  p.stride_h = p.stride_w = strides[c[0]];
  p.dilation_h = p.dilation_w = dilations[c[2]];
  p.kernel_h = kernels[c[4]][0];
  p.kernel_w = kernels[c[4]][1];
  const int half_h = p.dilation_h * (p.kernel_h - 1) / 2, half_w = p.dilation_w * (p.kernel_w - 1) / 2;
  switch (c[1]) {
    case 0: p.padding = {}; break;
    case 1: p.padding = {half_h, half_h, half_w, half_w}; break;
    default: p.padding = {p.dilation_h * (p.kernel_h - 1), 0, half_w, half_w}; break;  // the paper's causal query axis
  }
  p.length = lengths[c[5]];
  p.in_channels = channels[c[6]][0];
  p.out_channels = channels[c[6]][1];
  const int groups[] = {1, 2, std::min(p.in_channels, p.out_channels)};
  p.groups = groups[c[3]];
  p.bias = c[7] ? Bias::present : Bias::none;
  p.norm = c[8] ? Norm::sparsemax : Norm::softmax;
  p.dtype = c[9] == 0 ? DType::f32 : c[9] == 1 ? DType::f16 : DType::bf16;
  // Keep the reference's cost (B * C_out * L^2 * C_in/groups * taps) in seconds at L = 2048.
  p.batch = p.length >= 1000 ? 1 : 2;
  return p;
}

inline std::vector<MtaCase> mta_grid() {
  const std::vector<int> sizes = {3, 3, 2, 3, 5, 6, 3, 2, 2, 3};
  const Covering covering = all_pairs(sizes, [](const Case& c) {
    try {
      validate(mta_case_problem(c));
      return true;
    } catch (const Error&) {
      return false;  // e.g. L = 5 with a 6x11 kernel and no padding: empty output
    }
  });
  std::vector<MtaCase> cases;
  for (const Case& c : covering.cases) cases.push_back({"all-pairs", mta_case_problem(c)});
  // Named cases the covering may not hold exactly.
  MtaProblem paper;  // the paper's layer: 6x11 depthwise, causal query padding
  paper.batch = 1;
  paper.in_channels = paper.out_channels = paper.groups = 4;
  paper.length = 1000;
  paper.kernel_h = 6;
  paper.kernel_w = 11;
  paper.padding = {5, 0, 5, 5};
  paper.dtype = DType::bf16;
  cases.push_back({"paper 6x11 causal depthwise", paper});
  MtaProblem mixing;  // post-softmax head mixing: 1x1, groups = heads / group size
  mixing.batch = 2;
  mixing.in_channels = mixing.out_channels = 8;
  mixing.groups = 2;
  mixing.length = 257;
  mixing.dtype = DType::f16;
  mixing.bias = Bias::present;
  cases.push_back({"head mixing 1x1", mixing});
  MtaProblem ragged;  // stride 2 where (L + pads - dilated kernel) is odd
  ragged.batch = 2;
  ragged.in_channels = ragged.out_channels = ragged.groups = 2;
  ragged.length = 258;
  ragged.kernel_h = ragged.kernel_w = 2;
  ragged.stride_h = ragged.stride_w = 2;
  ragged.padding = {0, 1, 0, 1};
  ragged.norm = Norm::sparsemax;
  cases.push_back({"stride 2, ragged end", ragged});
  MtaProblem asymmetric;  // different strides, dilations and paddings per axis: out_h != out_w
  asymmetric.batch = 1;
  asymmetric.in_channels = 2;
  asymmetric.out_channels = 6;
  asymmetric.length = 100;
  asymmetric.kernel_h = 3;
  asymmetric.kernel_w = 4;
  asymmetric.stride_h = 1;
  asymmetric.stride_w = 2;
  asymmetric.dilation_h = 2;
  asymmetric.dilation_w = 1;
  asymmetric.padding = {1, 3, 0, 2};
  asymmetric.bias = Bias::present;
  cases.push_back({"per-axis stride, dilation, padding", asymmetric});
  // Channel mixing in 16-bit storage runs the forward on tensor cores (mta_forward_uses_mma).
  MtaProblem mma;  // the benchmark's groups=1 K7 at a small L: 16 -> 16 channels, 784 taps, ragged tiles
  mma.batch = 2;
  mma.in_channels = mma.out_channels = 16;
  mma.groups = 1;
  mma.length = 100;
  mma.kernel_h = mma.kernel_w = 7;
  mma.padding = Padding::symmetric(3);
  mma.dtype = DType::bf16;
  cases.push_back({"tensor cores: groups=1 7x7 bf16", mma});
  MtaProblem mma_strided;  // f16, 24 output channels (a 24-wide n-tile), stride, dilation, bias, sparsemax
  mma_strided.batch = 1;
  mma_strided.in_channels = 12;
  mma_strided.out_channels = 48;
  mma_strided.groups = 2;
  mma_strided.length = 77;
  mma_strided.kernel_h = 3;
  mma_strided.kernel_w = 5;
  mma_strided.stride_h = 2;
  mma_strided.dilation_w = 2;
  mma_strided.padding = {2, 0, 4, 4};
  mma_strided.bias = Bias::present;
  mma_strided.norm = Norm::sparsemax;
  mma_strided.dtype = DType::f16;
  cases.push_back({"tensor cores: grouped, strided, dilated f16 sparsemax", mma_strided});
  // Depthwise in 16-bit storage runs the forward on tensor cores too (mta_forward_uses_band).
  MtaProblem band;  // stride 2 and dilation 2 on the key axis, two output channels per input channel
  band.batch = 2;
  band.in_channels = 4;
  band.out_channels = 8;
  band.groups = 4;
  band.length = 301;
  band.kernel_h = 3;
  band.kernel_w = 5;
  band.stride_w = 2;
  band.dilation_w = 2;
  band.padding = {2, 0, 4, 4};
  band.bias = Bias::present;
  band.dtype = DType::f16;
  cases.push_back({"tensor cores: depthwise band, strided and dilated key axis, f16", band});
  // Depthwise f16/bf16 at stride 1 with more than 32 taps computes the input gradient's dP on tensor cores
  // too (mta_backward_input_uses_band): 5x7 taps dilated on both axes, the taps 6 columns left of the
  // diagonal, a partial last strip and tile (264 = 16 x 16 + 8), sparsemax with bias.
  MtaProblem band_input;
  band_input.batch = 2;
  band_input.in_channels = band_input.out_channels = band_input.groups = 3;
  band_input.length = 264;
  band_input.kernel_h = 5;
  band_input.kernel_w = 7;
  band_input.dilation_h = band_input.dilation_w = 2;
  band_input.padding = {8, 0, 6, 6};
  band_input.bias = Bias::present;
  band_input.norm = Norm::sparsemax;
  band_input.dtype = DType::bf16;
  cases.push_back({"tensor cores: band input gradient, dilated 5x7, causal query padding, bf16 sparsemax", band_input});
  // Channel mixing in f16/bf16 computes the weight gradient on tensor cores (mta_backward_weight_uses_mma):
  // at L = 512, 144 causal 16 x 64 tiles a batch element over 128 blocks, so some blocks take a run of two
  // (crossing a strip); 3x3 dilated on the key axis, causal query padding, bias.
  MtaProblem weight_mma;
  weight_mma.batch = 2;
  weight_mma.in_channels = weight_mma.out_channels = 16;
  weight_mma.groups = 1;
  weight_mma.length = 512;
  weight_mma.kernel_h = weight_mma.kernel_w = 3;
  weight_mma.dilation_w = 2;
  weight_mma.padding = {2, 0, 2, 2};
  weight_mma.bias = Bias::present;
  weight_mma.dtype = DType::f16;
  cases.push_back({"tensor cores: weight gradient in runs of tiles, groups=1 f16, dilated 3x3, bias", weight_mma});
  return cases;
}

}  // namespace attnjit::testing
