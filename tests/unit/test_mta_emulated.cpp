// The mta forward's own template code (row statistics, then the convolution on CUDA cores or on tensor cores)
// run on the host by tests/emulation/cuda_host.hpp, against the double-precision reference. Besides checking
// the kernels in CI without a GPU, the tensor-core case checks the emulator: mta_forward_mma has passed the
// gpu suite on an H100, so its passing here says that the emulated mma.sync fragment layouts are the
// hardware's (the neighborhood-attention tensor-core kernel is checked with the same emulator).
#include "tests/emulation/cuda_host.hpp"  // first: defines CUDA's keywords for the templates
//
#include <doctest/doctest.h>

#include <random>

#include "generator/kernel_spec.hpp"
#include "mta_forward.cuh"
#include "reference/mta_reference.hpp"
#include "tuner/device_memory.hpp"  // round_to
#include "tuner/mta_verify.hpp"     // compare

namespace attnjit {

alignas(16) float smem[1 << 18];  // the emulated blocks' dynamic shared memory (blocks run one at a time)

namespace {

template <class T_, int kL_, int kCin, int kCout, int kGroups_, int kK, int kTileI_, int kTileJ_, int kWarps,
          int kOcTile_>
struct MtaCfg {
  using T = T_;
  static constexpr NormKind kNorm = NormKind::softmax;
  static constexpr int kL = kL_;
  static constexpr int kCinG = kCin / kGroups_, kCoutG = kCout / kGroups_, kGroups = kGroups_;
  static constexpr int kKh = kK, kKw = kK, kSh = 1, kSw = 1, kDh = 1, kDw = 1;
  static constexpr int kPadTop = kK / 2, kPadLeft = kK / 2, kOutH = kL_, kOutW = kL_;  // "same" padding, odd K
  static constexpr bool kHasBias = true;
  static constexpr int kTileI = kTileI_, kTileJ = kTileJ_, kThreads = 32 * kWarps, kOcTile = kOcTile_;
};

template <class C>
void check(bool expect_tensor_cores) {
  using T = typename C::T;
  const DType dtype = sizeof(T) == 4 ? DType::f32 : std::is_same_v<T, f16_t> ? DType::f16 : DType::bf16;
  MtaProblem p{.batch = 1, .in_channels = C::kCinG * C::kGroups, .out_channels = C::kCoutG * C::kGroups,
               .length = C::kL, .kernel_h = C::kKh, .kernel_w = C::kKw,
               .padding = Padding::symmetric(C::kKh / 2), .groups = C::kGroups, .bias = Bias::present, .dtype = dtype};
  const KernelSpec spec = mta_kernel_spec(KernelKind::mta_forward, p, {C::kTileI, C::kTileJ, C::kThreads / 32, C::kOcTile});
  REQUIRE(mta_forward_on_tensor_cores(spec) == expect_tensor_cores);
  const LaunchShape shape = launch_shape(spec, p);
  REQUIRE(shape.smem_bytes <= sizeof(smem));

  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  auto random = [&](std::size_t n) {
    std::vector<double> v(n);
    for (double& x : v) x = detail::round_to(dtype, normal(rng));
    return v;
  };
  const std::size_t L = C::kL;
  const auto scores = random(p.in_channels * L * L), weight = random(p.out_channels * C::kCinG * C::kKh * C::kKw),
             bias = random(p.out_channels);
  auto device = [](const std::vector<double>& v) {
    std::vector<T> out(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) out[i] = from_float<T>(static_cast<float>(v[i]));
    return out;
  };
  const std::vector<T> d_scores = device(scores), d_weight = device(weight), d_bias = device(bias);
  std::vector<T> out(p.out_channels * L * L);
  std::memset(out.data(), 0xFF, out.size() * sizeof(T));
  std::vector<float> stats(p.in_channels * L);
  MtaParams params{};
  params.scores = d_scores.data();
  params.weight = d_weight.data();
  params.bias = d_bias.data();
  params.out = out.data();
  params.row_stats = stats.data();
  params.batch = 1;
  params.rows = static_cast<int>(stats.size());

  using Stats = MtaCfg<T, C::kL, 1, 1, 1, 1, 1, 1, 8, 1>;  // the row-statistics kernel reads kL, kNorm, kThreads
  attnjit_host::launch(mta_row_stats<Stats>, params, static_cast<unsigned>((stats.size() + 7) / 8), 256);
  attnjit_host::launch(mta_forward<C>, params, Dim3{shape.grid_x, shape.grid_y, shape.grid_z}, C::kThreads);

  std::vector<double> got(out.size());
  for (std::size_t i = 0; i < out.size(); ++i) got[i] = to_float(out[i]);
  const detail::Comparison c = detail::compare(dtype, got, reference::mta_forward(p, scores, weight, bias));
  CHECK_MESSAGE(c.passed(), describe(p) << ": " << c.error << " / " << c.limit << ", NaN " << c.nan_count);
}

}  // namespace

TEST_SUITE("mta_emulated") {
  TEST_CASE("tensor-core forward (channel mixing, bf16): the kernel proven on the H100 passes under emulation") {
    check<MtaCfg<bf16_t, 40, 8, 8, 1, 3, 16, 16, 4, 8>>(true);
  }
  TEST_CASE("tensor-core forward, f16, two groups of 8 channels, two output-channel blocks per group") {
    check<MtaCfg<f16_t, 24, 16, 32, 2, 3, 16, 16, 4, 8>>(true);
  }
  TEST_CASE("CUDA-core forward, depthwise f32") {
    check<MtaCfg<float, 37, 4, 4, 4, 5, 8, 16, 2, 1>>(false);
  }
}

}  // namespace attnjit
