// The mta kernels' own template code (row statistics, the forward on CUDA cores or tensor cores, the input
// gradient with or without the fused weight gradient, the weight-gradient partials and their reduction) run
// on the host by tests/emulation/cuda_host.hpp, against the double-precision reference. Besides checking the
// kernels in CI without a GPU (so that kernel work can be checked for correctness before device time is
// spent), the tensor-core case checks the emulator: mta_forward_mma has passed the gpu suite on an H100, so
// its passing here says that the emulated mma.sync fragment layouts are the hardware's (the
// neighborhood-attention tensor-core kernel is checked with the same emulator).
#include "tests/emulation/cuda_host.hpp"  // first: defines CUDA's keywords for the templates
//
#include <doctest/doctest.h>

#include <random>

#include "generator/kernel_spec.hpp"
#include "mta_backward.cuh"
#include "mta_forward.cuh"
#include "reference/mta_reference.hpp"
#include "tests/emulation/host_data.hpp"
#include "tuner/device_memory.hpp"  // round_to
#include "tuner/mta_heuristics.hpp"
#include "tuner/mta_verify.hpp"  // compare

namespace attnjit {

alignas(16) float smem[1 << 18];  // the emulated blocks' dynamic shared memory (blocks run one at a time)

namespace {

// A problem's shape: its constants as the generator binds them.
struct Shape {
  int L, cin, cout, groups, kh, kw, sh, sw, dh, dw, pad_top, pad_bottom, pad_left, pad_right;
  bool bias;
};

// A problem's compile-time constants with one tile config per kernel instantiation.
template <class T_, NormKind kNorm_, Shape kShape, int kTileI_ = 1, int kTileJ_ = 1, int kWarps = 1, int kOcTile_ = 0>
struct ShapedCfg {
  using T = T_;
  static constexpr NormKind kNorm = kNorm_;
  static constexpr int kL = kShape.L;
  static constexpr int kCinG = kShape.cin / kShape.groups, kCoutG = kShape.cout / kShape.groups, kGroups = kShape.groups;
  static constexpr int kKh = kShape.kh, kKw = kShape.kw, kSh = kShape.sh, kSw = kShape.sw, kDh = kShape.dh, kDw = kShape.dw;
  static constexpr int kPadTop = kShape.pad_top, kPadLeft = kShape.pad_left;
  static constexpr int kOutH = (kL + kShape.pad_top + kShape.pad_bottom - kDh * (kKh - 1) - 1) / kSh + 1;
  static constexpr int kOutW = (kL + kShape.pad_left + kShape.pad_right - kDw * (kKw - 1) - 1) / kSw + 1;
  static constexpr bool kHasBias = kShape.bias;
  static constexpr int kTileI = kTileI_, kTileJ = kTileJ_, kThreads = 32 * kWarps, kOcTile = kOcTile_;
  template <int kI, int kJ, int kW, int kOc = 0>
  using With = ShapedCfg<T_, kNorm_, kShape, kI, kJ, kW, kOc>;

  static MtaProblem problem() {
    const DType dtype = sizeof(T) == 4 ? DType::f32 : std::is_same_v<T, f16_t> ? DType::f16 : DType::bf16;
    return {.batch = 1, .in_channels = kShape.cin, .out_channels = kShape.cout, .length = kL, .kernel_h = kKh,
            .kernel_w = kKw, .stride_h = kSh, .stride_w = kSw,
            .padding = {kShape.pad_top, kShape.pad_bottom, kShape.pad_left, kShape.pad_right},
            .dilation_h = kDh, .dilation_w = kDw, .groups = kGroups,
            .bias = kHasBias ? Bias::present : Bias::none,
            .norm = kNorm_ == NormKind::softmax ? Norm::softmax : Norm::sparsemax, .dtype = dtype};
  }
  static TileConfig config() { return {kTileI, kTileJ, kThreads / 32, kOcTile}; }
};

// Square kernels and strides, no dilation, the query axis padded top/bottom and the key axis left = right.
template <class T_, NormKind kNorm_, int kL_, int kCin, int kCout, int kGroups_, int kK, int kS, int kPt, int kPb,
          int kPl, bool kBias, int kTileI_ = 1, int kTileJ_ = 1, int kWarps = 1, int kOcTile_ = 0>
using MtaCfg = ShapedCfg<T_, kNorm_, Shape{kL_, kCin, kCout, kGroups_, kK, kK, kS, kS, 1, 1, kPt, kPb, kPl, kPl, kBias},
                         kTileI_, kTileJ_, kWarps, kOcTile_>;

using testing::poisoned;
using testing::to_device;
using testing::to_host;

Dim3 grid_of(const KernelSpec& spec, const MtaProblem& p) {
  const LaunchShape s = launch_shape(spec, p);
  REQUIRE(s.smem_bytes <= sizeof(smem));
  return {s.grid_x, s.grid_y, s.grid_z};
}

void expect(const char* what, DType dtype, const std::vector<double>& got, const std::vector<double>& want) {
  const detail::Comparison c = detail::compare(dtype, got, want);
  CHECK_MESSAGE(c.passed(), what << ": " << c.error << " / " << c.limit << ", NaN " << c.nan_count);
}

// What a case expects of the paths its kernels take (each REQUIREd from the specs before running them).
struct Paths {
  MtaForwardPath forward;
  bool input_band = false;      // the input gradient's dP by the band product (depthwise)
  bool input_mma = false;       // the input gradient as the implicit GEMM on tensor cores (channel mixing)
  bool weight_mma = false;      // the weight gradient on tensor cores
  unsigned weight_blocks = 0;   // where not 0: the tensor-core weight gradient's blocks per batch element,
                                // fewer than the launch shape's, so each takes a longer run of items
};

// Forward under Fwd's tiles, then (when Input is not void) the backward: the input gradient under Input's
// tiles, the weight-gradient partials under Weight's when the problem does not fuse them, the reduction; on
// the paths `paths` names.
template <class Fwd, class Input = void, class Weight = Input>
void check(const Paths& paths) {
  using T = typename Fwd::T;
  const MtaProblem p = Fwd::problem();
  const KernelSpec forward = mta_kernel_spec(KernelKind::mta_forward, p, Fwd::config());
  REQUIRE(mta_forward_path(forward) == paths.forward);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  auto random = [&](std::size_t n) {
    std::vector<double> v(n);
    for (double& x : v) x = detail::round_to(p.dtype, normal(rng));
    return v;
  };
  const std::size_t L = p.length, n_scores = p.in_channels * L * L, n_out = p.out_channels * p.out_h() * p.out_w();
  const std::size_t n_weight = p.out_channels * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
  const auto scores = random(n_scores), weight = random(n_weight), bias = random(p.out_channels),
             grad_out = random(n_out);
  const std::vector<T> d_scores = to_device<T>(scores), d_weight = to_device<T>(weight), d_bias = to_device<T>(bias),
                       d_grad_out = to_device<T>(grad_out);
  std::vector<T> out = poisoned<T>(n_out);
  std::vector<float> stats(p.in_channels * L);
  MtaParams params{};
  params.scores = d_scores.data();
  params.weight = d_weight.data();
  params.bias = d_bias.data();
  params.out = out.data();
  params.row_stats = stats.data();
  params.batch = 1;
  params.rows = static_cast<int>(stats.size());
  attnjit_host::shared_memory = {smem, sizeof smem};  // poisoned before each block
  using Stats = typename Fwd::template With<1, 1, 8>;  // the row-statistics kernel reads kL, kNorm, kThreads
  attnjit_host::launch(mta_row_stats<Stats>, params, static_cast<unsigned>((stats.size() + 7) / 8), 256);
  attnjit_host::launch(mta_forward<Fwd>, params, grid_of(forward, p), Fwd::kThreads);
  const std::vector<double> no_bias;
  expect("out", p.dtype, to_host(out), reference::mta_forward(p, scores, weight, p.bias == Bias::present ? bias : no_bias));

  if constexpr (!std::is_void_v<Input>) {
    MtaConfigs configs = mta_heuristic_configs(p);
    configs.forward = Fwd::config();
    configs.backward_input = Input::config();
    configs.backward_weight = Weight::config();
    const MtaKernelSpecs specs = mta_kernel_specs(p, configs);
    REQUIRE(mta_backward_input_on_tensor_cores(specs.backward_input) == paths.input_band);
    REQUIRE(mta_backward_input_on_mma(specs.backward_input) == paths.input_mma);
    REQUIRE(mta_backward_weight_on_tensor_cores(specs.backward_weight) == paths.weight_mma);
    if (paths.weight_mma) {
      REQUIRE_FALSE(mta_weight_grad_fused(p));
      // The generated kernel's kHasBias is the canonical spec's: the bias unit must survive canonical().
      REQUIRE((canonical(specs.backward_weight).bias == Bias::present) == Weight::kHasBias);
    }
    std::vector<float> workspace(mta_workspace_bytes(p, configs) / 4);
    std::memset(workspace.data(), 0xFF, workspace.size() * 4);
    std::vector<T> grad_scores = poisoned<T>(n_scores), grad_weight = poisoned<T>(n_weight),
                   grad_bias = poisoned<T>(p.out_channels);
    params.grad_out = d_grad_out.data();
    params.grad_scores = grad_scores.data();
    params.grad_weight = grad_weight.data();
    params.grad_bias = p.bias == Bias::present ? grad_bias.data() : nullptr;
    params.weight_slots = mta_weight_slots(p, configs);
    params.partial_weight = workspace.data();
    params.partial_bias = workspace.data() + workspace.size() - static_cast<std::size_t>(params.weight_slots) * p.out_channels;
    attnjit_host::launch(mta_backward_input<Input>, params, grid_of(specs.backward_input, p), Input::kThreads);
    if (!mta_weight_grad_fused(p)) {
      Dim3 grid = grid_of(specs.backward_weight, p);
      if (paths.weight_blocks != 0) {  // fewer blocks than the launch shape's, each with a longer run of items
        REQUIRE(paths.weight_blocks < grid.x);
        grid.x = paths.weight_blocks;
        params.weight_slots = static_cast<int>(paths.weight_blocks) * params.batch;
      }
      attnjit_host::launch(mta_backward_weight<Weight>, params, grid, Weight::kThreads);
    }
    attnjit_host::launch(mta_reduce_weight<Weight>, params, grid_of(specs.reduce_weight, p), Weight::kThreads);
    const reference::MtaGradients g = reference::mta_backward(p, scores, weight, grad_out);
    expect("grad_scores", p.dtype, to_host(grad_scores), g.scores);
    expect("grad_weight", p.dtype, to_host(grad_weight), g.weight);
    if (p.bias == Bias::present) expect("grad_bias", p.dtype, to_host(grad_bias), g.bias);
  }
}

using S = NormKind;
using Path = MtaForwardPath;

}  // namespace

TEST_SUITE("mta_emulated") {
  TEST_CASE("tensor-core forward (channel mixing, bf16): the kernel proven on the H100 passes under emulation") {
    check<MtaCfg<bf16_t, S::softmax, 40, 8, 8, 1, 3, 1, 1, 1, 1, true, 16, 16, 4, 8>>
        ({.forward = Path::channel_mixing_mma});
  }
  TEST_CASE("tensor-core forward, f16, two groups of 8 channels, two output-channel blocks per group") {
    check<MtaCfg<f16_t, S::softmax, 24, 16, 32, 2, 3, 1, 1, 1, 1, true, 16, 16, 4, 8>>
        ({.forward = Path::channel_mixing_mma});
  }
  TEST_CASE("tensor-core forward, bf16, 16 channels a group (two planes of 8), 5 x 5, stride 2 (rows reused, one column group)") {
    check<MtaCfg<bf16_t, S::softmax, 36, 16, 16, 1, 5, 2, 2, 2, 2, true, 16, 16, 4, 16>>
        ({.forward = Path::channel_mixing_mma});
  }
  TEST_CASE("tensor-core forward, bf16, rows reused across filter rows: 3 x 5 at dilation 2, two column groups") {
    using P = ShapedCfg<bf16_t, S::softmax, Shape{40, 16, 16, 1, 3, 5, 1, 1, 2, 2, 2, 2, 4, 4, true}, 16, 32, 4, 16>;
    check<P>({.forward = Path::channel_mixing_mma});
  }
  TEST_CASE("tensor-core forward, f16, 32 channels (four planes of 8), 3 x 3, sparsemax, causal padding") {
    check<MtaCfg<f16_t, S::sparsemax, 21, 32, 8, 1, 3, 1, 2, 0, 1, false, 8, 16, 2, 8>>
        ({.forward = Path::channel_mixing_mma});
  }
  TEST_CASE("depthwise f32, forward and backward with the weight gradient fused into the input gradient") {
    using P = MtaCfg<float, S::softmax, 37, 4, 4, 4, 5, 1, 2, 2, 2, true>;
    check<P::With<8, 16, 2, 1>, P::With<8, 16, 2>>({.forward = Path::cuda_cores});
  }
  TEST_CASE("channel mixing bf16 (16 x 9 taps: a weight-gradient kernel of its own), forward and backward") {
    using P = MtaCfg<bf16_t, S::softmax, 20, 4, 16, 1, 3, 1, 1, 1, 1, true>;
    check<P::With<8, 8, 2, 4>, P::With<8, 8, 2>, P::With<8, 16, 2>>({.forward = Path::cuda_cores});
  }
  TEST_CASE("sparsemax f16, stride 2, causal query padding, no bias: forward and backward") {
    using P = MtaCfg<f16_t, S::sparsemax, 29, 2, 2, 2, 3, 2, 2, 0, 1, false>;
    check<P::With<4, 8, 1, 1>, P::With<8, 8, 1>>({.forward = Path::cuda_cores});
  }
  // The depthwise forward on tensor cores (mta_forward_band): every n-tile's band, the strips its k-steps
  // read, the zero columns past the loaded ones, tiles above the diagonal, partial tiles.
  // With 16-byte grad_out rows at stride 1 the input gradient loads its grad patch by packs
  // (kGradPatchPacked): the backward of these two cases takes that path.
  TEST_CASE("depthwise band forward, bf16 K5 symmetric padding: 16-byte patch loads, two k-steps, upper tiles") {
    using P = MtaCfg<bf16_t, S::softmax, 40, 2, 2, 2, 5, 1, 2, 2, 2, true>;
    static_assert(kGradPatchPacked<P>);
    check<P::With<32, 32, 2, 1>, P::With<8, 16, 2>>({.forward = Path::depthwise_band_mma});
  }
  TEST_CASE("depthwise band forward, f16 6 x 11 with causal query padding (the paper's layer), 64-column warp tiles") {
    using P = ShapedCfg<f16_t, S::softmax, Shape{48, 2, 2, 2, 6, 11, 1, 1, 1, 1, 5, 0, 5, 5, true}>;
    static_assert(kGradPatchPacked<P>);
    check<P::With<16, 64, 1, 1>, P::With<16, 16, 2>>({.forward = Path::depthwise_band_mma});
  }
  TEST_CASE("depthwise band forward, bf16 K7, 128-column tiles: two warp tiles per warp, a partial last tile") {
    using P = MtaCfg<bf16_t, S::softmax, 136, 1, 1, 1, 7, 1, 3, 3, 3, false>;
    check<P::With<32, 128, 2, 1>>({.forward = Path::depthwise_band_mma});
  }
  TEST_CASE("depthwise band forward, sparsemax bf16, stride 2 and dilation 2, two outputs per input channel, odd L") {
    using P = ShapedCfg<bf16_t, S::sparsemax, Shape{37, 2, 4, 2, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, false}>;
    check<P::With<16, 16, 1, 1>>({.forward = Path::depthwise_band_mma});
  }
  // The input gradient's dP on tensor cores (mta_backward_input_uses_band): the flipped filter's band on a
  // 16-bit grad patch, dP through shared memory, the fused weight gradient from the 16-bit patch. Partial
  // strips and tiles, warp tiles of 16, 32 and 64 columns, leads (taps left of the diagonal) of 0, 2, 5 and
  // 6, a weight gradient of its own, sparsemax with dilation on both axes.
  TEST_CASE("band input gradient, bf16 K5 symmetric padding: 16 x 16 warp tiles, a partial strip and tile") {
    using P = MtaCfg<bf16_t, S::softmax, 40, 2, 2, 2, 5, 1, 2, 2, 2, true>;
    check<P::With<32, 32, 2, 1>, P::With<32, 32, 4>>({.forward = Path::depthwise_band_mma, .input_band = true});
  }
  TEST_CASE("band input gradient, f16 6 x 11 with causal query padding (the paper's layer), 16 x 32 warp tiles") {
    using P = ShapedCfg<f16_t, S::softmax, Shape{48, 2, 2, 2, 6, 11, 1, 1, 1, 1, 5, 0, 5, 5, true}>;
    check<P::With<16, 64, 1, 1>, P::With<16, 32, 1>>({.forward = Path::depthwise_band_mma, .input_band = true});
  }
  TEST_CASE("band input gradient, sparsemax bf16, dilation 2 x 2, bias, 16 x 64 warp tiles over two strips") {
    using P = ShapedCfg<bf16_t, S::sparsemax, Shape{64, 2, 2, 2, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, true}>;
    check<P::With<16, 16, 1, 1>, P::With<32, 64, 2>>({.forward = Path::depthwise_band_mma, .input_band = true});
  }
  TEST_CASE("band input gradient, bf16 K3 causal key padding (lead 0), one input channel per group of two") {
    using P = ShapedCfg<bf16_t, S::softmax, Shape{40, 4, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, false}>;
    check<P::With<8, 8, 1, 1>, P::With<16, 32, 2>>({.forward = Path::cuda_cores, .input_band = true});
  }
  // The weight gradient on tensor cores (mta_backward_weight_mma): units of two input-channel planes and of
  // one, output-channel tiles of 16 and of 8, the bias unit, strides and dilations as ldmatrix row
  // addresses, runs of items that start and end inside strips, partial tiles, tiles past the diagonal.
  TEST_CASE("weight gradient on tensor cores, bf16 groups=1, 16 channels, 3 x 3, bias: runs of 3 items across strips") {
    using P = MtaCfg<bf16_t, S::softmax, 40, 16, 16, 1, 3, 1, 1, 1, 1, true>;
    check<P::With<16, 16, 4, 16>, P::With<8, 16, 4>, P::With<16, 16, 4>>
        ({.forward = Path::channel_mixing_mma, .input_mma = true, .weight_mma = true, .weight_blocks = 2});
  }
  TEST_CASE("weight gradient on tensor cores, f16 two groups (8 channels: one plane a unit, m-tiles of 8), stride 2, sparsemax") {
    using P = MtaCfg<f16_t, S::sparsemax, 37, 16, 16, 2, 5, 2, 2, 2, 2, false>;
    check<P::With<16, 16, 4, 8>, P::With<8, 16, 2>, P::With<8, 16, 2>>
        ({.forward = Path::channel_mixing_mma, .weight_mma = true});
  }
  TEST_CASE("weight gradient on tensor cores, bf16 24 -> 32 channels (three planes, two output-channel blocks), 3 x 5 dilated, causal, runs of items") {
    using P = ShapedCfg<bf16_t, S::softmax, Shape{45, 24, 32, 1, 3, 5, 1, 1, 2, 2, 4, 0, 4, 4, true}>;
    check<P::With<16, 16, 4, 8>, P::With<8, 16, 2>, P::With<8, 32, 3>>
        ({.forward = Path::channel_mixing_mma, .input_mma = true, .weight_mma = true, .weight_blocks = 4});
  }
  // The input gradient on tensor cores (mta_backward_input_mma): the forward's row-reuse loop (16 input
  // channels) and its k-step loop (8 or 24: one or three n-tiles), strip pairs with an unpaired middle strip,
  // sparsemax, rows not 16-byte aligned (scalar zeros above the diagonal), partial strips and tiles. The weight
  // cases above run it too (16 and 24 input channels).
  TEST_CASE("input gradient on tensor cores, f16 sparsemax 3 x 5 dilated rows, causal padding, 4 rows a warp, odd L") {
    using P = ShapedCfg<f16_t, S::sparsemax, Shape{37, 16, 16, 1, 3, 5, 1, 1, 2, 1, 4, 0, 2, 2, false}>;
    check<P::With<16, 16, 4, 16>, P::With<16, 32, 4>, P::With<16, 16, 4>>
        ({.forward = Path::channel_mixing_mma, .input_mma = true, .weight_mma = true});
  }
  TEST_CASE("input gradient on tensor cores, bf16 two groups of 8 -> 16 channels (one n-tile), 5 x 5, bias") {
    using P = MtaCfg<bf16_t, S::softmax, 48, 16, 32, 2, 5, 1, 2, 2, 2, true>;
    check<P::With<16, 16, 4, 16>, P::With<16, 16, 4>, P::With<16, 16, 4>>
        ({.forward = Path::channel_mixing_mma, .input_mma = true, .weight_mma = true});
  }
  TEST_CASE("band input gradient, bf16 7 x 11 (77 taps: the weight gradient in a kernel of its own)") {
    using P = ShapedCfg<bf16_t, S::softmax, Shape{48, 1, 1, 1, 7, 11, 1, 1, 1, 1, 3, 3, 5, 5, false}>;
    check<P::With<16, 64, 1, 1>, P::With<16, 32, 2>, P::With<8, 16, 2>>
        ({.forward = Path::depthwise_band_mma, .input_band = true});
  }
}

}  // namespace attnjit
