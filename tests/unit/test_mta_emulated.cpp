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

// A problem's compile-time constants (as the generator binds them), square kernels and strides, the query
// axis padded top/bottom and the key axis left = right; one tile config per kernel instantiation.
template <class T_, NormKind kNorm_, int kL_, int kCin, int kCout, int kGroups_, int kK, int kS, int kPt, int kPb,
          int kPl, bool kBias, int kTileI_ = 1, int kTileJ_ = 1, int kWarps = 1, int kOcTile_ = 0>
struct MtaCfg {
  using T = T_;
  static constexpr NormKind kNorm = kNorm_;
  static constexpr int kL = kL_;
  static constexpr int kCinG = kCin / kGroups_, kCoutG = kCout / kGroups_, kGroups = kGroups_;
  static constexpr int kKh = kK, kKw = kK, kSh = kS, kSw = kS, kDh = 1, kDw = 1;
  static constexpr int kPadTop = kPt, kPadLeft = kPl;
  static constexpr int kOutH = (kL_ + kPt + kPb - kK) / kS + 1, kOutW = (kL_ + 2 * kPl - kK) / kS + 1;
  static constexpr bool kHasBias = kBias;
  static constexpr int kTileI = kTileI_, kTileJ = kTileJ_, kThreads = 32 * kWarps, kOcTile = kOcTile_;
  template <int kI, int kJ, int kW, int kOc = 0>
  using With = MtaCfg<T_, kNorm_, kL_, kCin, kCout, kGroups_, kK, kS, kPt, kPb, kPl, kBias, kI, kJ, kW, kOc>;

  static MtaProblem problem() {
    const DType dtype = sizeof(T) == 4 ? DType::f32 : std::is_same_v<T, f16_t> ? DType::f16 : DType::bf16;
    return {.batch = 1, .in_channels = kCin, .out_channels = kCout, .length = kL_, .kernel_h = kK, .kernel_w = kK,
            .stride_h = kS, .stride_w = kS, .padding = {kPt, kPb, kPl, kPl}, .groups = kGroups_,
            .bias = kBias ? Bias::present : Bias::none, .norm = kNorm_ == NormKind::softmax ? Norm::softmax : Norm::sparsemax,
            .dtype = dtype};
  }
  static TileConfig config() { return {kTileI, kTileJ, kThreads / 32, kOcTile}; }
};

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

// Forward under Fwd's tiles, then (when Input is not void) the backward: the input gradient under Input's
// tiles, the weight-gradient partials under Weight's when the problem does not fuse them, the reduction.
template <class Fwd, class Input = void, class Weight = Input>
void check(bool expect_tensor_cores) {
  using T = typename Fwd::T;
  const MtaProblem p = Fwd::problem();
  const KernelSpec forward = mta_kernel_spec(KernelKind::mta_forward, p, Fwd::config());
  REQUIRE(mta_forward_on_tensor_cores(forward) == expect_tensor_cores);
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
      attnjit_host::launch(mta_backward_weight<Weight>, params, grid_of(specs.backward_weight, p), Weight::kThreads);
    }
    attnjit_host::launch(mta_reduce_weight<Weight>, params, grid_of(specs.reduce_weight, p), Weight::kThreads);
    const reference::MtaGradients g = reference::mta_backward(p, scores, weight, grad_out);
    expect("grad_scores", p.dtype, to_host(grad_scores), g.scores);
    expect("grad_weight", p.dtype, to_host(grad_weight), g.weight);
    if (p.bias == Bias::present) expect("grad_bias", p.dtype, to_host(grad_bias), g.bias);
  }
}

using S = NormKind;

}  // namespace

TEST_SUITE("mta_emulated") {
  TEST_CASE("tensor-core forward (channel mixing, bf16): the kernel proven on the H100 passes under emulation") {
    check<MtaCfg<bf16_t, S::softmax, 40, 8, 8, 1, 3, 1, 1, 1, 1, true, 16, 16, 4, 8>>(true);
  }
  TEST_CASE("tensor-core forward, f16, two groups of 8 channels, two output-channel blocks per group") {
    check<MtaCfg<f16_t, S::softmax, 24, 16, 32, 2, 3, 1, 1, 1, 1, true, 16, 16, 4, 8>>(true);
  }
  TEST_CASE("depthwise f32, forward and backward with the weight gradient fused into the input gradient") {
    using P = MtaCfg<float, S::softmax, 37, 4, 4, 4, 5, 1, 2, 2, 2, true>;
    check<P::With<8, 16, 2, 1>, P::With<8, 16, 2>>(false);
  }
  TEST_CASE("channel mixing bf16 (16 x 9 taps: a weight-gradient kernel of its own), forward and backward") {
    using P = MtaCfg<bf16_t, S::softmax, 20, 4, 16, 1, 3, 1, 1, 1, 1, true>;
    check<P::With<8, 8, 2, 4>, P::With<8, 8, 2>, P::With<8, 16, 2>>(false);
  }
  TEST_CASE("sparsemax f16, stride 2, causal query padding, no bias: forward and backward") {
    using P = MtaCfg<f16_t, S::sparsemax, 29, 2, 2, 2, 3, 2, 2, 0, 1, false>;
    check<P::With<4, 8, 1, 1>, P::With<8, 8, 1>>(false);
  }
}

}  // namespace attnjit
