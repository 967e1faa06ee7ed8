// The neighborhood-attention kernels' own code, run on the host by tests/emulation/cuda_host.hpp (a thread
// per CUDA thread), against the double-precision reference: the staging, chunk loops, lane groups, window
// ranges, dilation groups and the online softmax, for a set of compile-time configurations chosen to reach
// every path (D not a multiple of 4, 1 to 32 lanes, several rows per lane group, chunks of 3 rows, groups
// shorter than the window, each window kind and dtype). It cannot show speed or the device compiler's code:
// the gpu suite runs the same kernels through NVRTC on a GPU.
#include "tests/emulation/cuda_host.hpp"  // first: defines CUDA's keywords for the templates
//
#include <doctest/doctest.h>

#include <random>

#include "na_backward.cuh"
#include "na_backward_fused.cuh"
#include "na_forward.cuh"
#include "generator/kernel_spec.hpp"
#include "reference/na_reference.hpp"
#include "tests/emulation/host_data.hpp"
#include "tuner/mta_verify.hpp"  // compare: SPEC.md's tolerances
#include "tuner/device_memory.hpp"  // round_to

namespace attnjit {

alignas(1024) float4 smem4[1 << 16];  // the emulated blocks' dynamic shared memory (1 MiB; blocks run one at a time)

namespace {

template <class T_, NaWindowKind kWindow_, int kL_, int kD_, int kKernel_, int kDil_, int kRows_, int kChunk_,
          int kWarps_, int kLanes_>
struct Cfg {
  using T = T_;
  static constexpr NaWindowKind kWindow = kWindow_;
  static constexpr int kL = kL_, kD = kD_, kKernel = kKernel_, kDil = kDil_;
  static constexpr int kRows = kRows_, kChunk = kChunk_, kThreads = 32 * kWarps_, kLanes = kLanes_;
};

template <class T>
constexpr DType dtype_of() {
  return sizeof(T) == 4 ? DType::f32 : std::is_same_v<T, f16_t> ? DType::f16 : DType::bf16;
}

using testing::poisoned;

// The launch shape the host computes for Cfg's kernel of `kind` (so the test runs what the runtime would).
template <class Cfg>
LaunchShape shape_of(KernelKind kind, const NaProblem& p) {
  const TileConfig c{Cfg::kRows, Cfg::kChunk, Cfg::kThreads / 32, 0, Cfg::kLanes};
  const LaunchShape s = launch_shape(na_kernel_spec(kind, p, c), p);
  REQUIRE(s.smem_bytes <= sizeof(smem4));
  return s;
}

enum class Backward { two_kernels, fused };

// Runs the forward of C and the backward of B (C's problem; other tiles and lanes; the two kernels or the
// fused one) on random inputs and compares everything with the reference, and delta (the workspace both
// backwards fill) with grad_out . out over the kernel's own out.
// `spread` scales the queries: scores of several times the usual spread make a row's running max grow
// by more than 2^8 after its first tile (the warpgroup forward's lazy rescale then rescales mid-row).
template <class C, class B = C, Backward kBackward = Backward::two_kernels>
void check(double spread = 1.0) {
  using T = typename C::T;
  const NaWindow window = C::kWindow == NaWindowKind::clipped   ? NaWindow::clipped
                          : C::kWindow == NaWindowKind::shifted ? NaWindow::shifted
                                                                : NaWindow::causal;
  const NaProblem p{.batch = 1, .heads = 2, .length = C::kL, .head_dim = C::kD, .kernel_size = C::kKernel,
                    .dilation = C::kDil, .window = window, .dtype = dtype_of<T>()};
  INFO(describe(p) << " rows " << C::kRows << " chunk " << C::kChunk << " threads " << C::kThreads << " lanes "
                   << C::kLanes);
  const std::size_t n = static_cast<std::size_t>(2) * C::kL * C::kD, rows = 2 * C::kL;
  std::mt19937_64 rng(C::kL * 131 + C::kD * 7 + C::kKernel);
  auto q = detail::random_normal(rng, n, p.dtype);
  const auto k = detail::random_normal(rng, n, p.dtype), v = detail::random_normal(rng, n, p.dtype);
  for (double& x : q) x *= spread;  // a power of two keeps the values exact in every dtype
  const auto dout = detail::random_normal(rng, n, p.dtype);
  const std::vector<T> dq_in = testing::to_device<T>(q), dk_in = testing::to_device<T>(k), dv_in = testing::to_device<T>(v);
  const std::vector<T> ddout = testing::to_device<T>(dout);
  std::vector<T> out = poisoned<T>(n), grad_q = poisoned<T>(n), grad_k = poisoned<T>(n), grad_v = poisoned<T>(n);
  std::vector<float> lse(rows), delta(rows);
  std::memset(lse.data(), 0xFF, rows * 4);
  std::memset(delta.data(), 0xFF, rows * 4);

  NaParams params{};
  params.query = dq_in.data();
  params.key = dk_in.data();
  params.value = dv_in.data();
  params.out = out.data();
  params.out_write = out.data();
  params.grad_out = ddout.data();
  params.grad_query = grad_q.data();
  params.grad_key = grad_k.data();
  params.grad_value = grad_v.data();
  params.logsumexp = lse.data();
  params.delta = delta.data();
  params.scale = static_cast<float>(p.softmax_scale());
  params.scale_log2 = static_cast<float>(p.softmax_scale() * 1.4426950408889634);
  params.batch_heads = 2;
  if constexpr (C::kLanes == kNaWarpgroupLanes && na_forward_wgmma_tma(C::kL, C::kDil)) {  // as the runtime's launch
    const NaTensorMapShape map = na_tensor_map_shape(2, C::kL, C::kD, C::kDil, C::kChunk);
    attnjit_host::encode_tensor_map_3d(params.key_map, dk_in.data(), map.dims, map.strides, map.box);
    attnjit_host::encode_tensor_map_3d(params.value_map, dv_in.data(), map.dims, map.strides, map.box);
  }

  attnjit_host::shared_memory = {smem4, sizeof smem4};  // poisoned before each block
  attnjit_host::launch(na_forward<C>, params, shape_of<C>(KernelKind::na_forward, p).grid_x, C::kThreads);
  const reference::NaForward ref = reference::na_forward(p, q, k, v);
  const detail::Comparison c_out = detail::compare(p.dtype, testing::to_host(out), ref.out);
  const detail::Comparison c_lse = detail::compare_logsumexp(p.dtype, std::vector<double>(lse.begin(), lse.end()), ref.logsumexp);
  CHECK_MESSAGE(c_out.passed(), "out " << c_out.error << " / " << c_out.limit << ", NaN " << c_out.nan_count);
  CHECK_MESSAGE(c_lse.passed(), "lse " << c_lse.error << " / " << c_lse.limit << ", NaN " << c_lse.nan_count);

  if constexpr (kBackward == Backward::fused) {
    attnjit_host::launch(na_backward_fused<B>, params, shape_of<B>(KernelKind::na_backward_fused, p).grid_x, B::kThreads);
  } else {
    attnjit_host::launch(na_backward_query<B>, params, shape_of<B>(KernelKind::na_backward_query, p).grid_x, B::kThreads);
    attnjit_host::launch(na_backward_key<B>, params, shape_of<B>(KernelKind::na_backward_key, p).grid_x, B::kThreads);
  }
  const std::vector<double> out_seen = testing::to_host(out), dout_seen = testing::to_host(ddout);
  for (std::size_t row = 0; row < rows; ++row) {
    double want = 0;
    for (int d = 0; d < C::kD; ++d) want += out_seen[row * C::kD + d] * dout_seen[row * C::kD + d];
    REQUIRE_MESSAGE(std::abs(delta[row] - want) <= 1e-4 * (1 + std::abs(want)), "delta of row " << row << ": " << delta[row]
                                                                                               << ", want " << want);
  }
  const reference::NaGradients g = reference::na_backward(p, q, k, v, dout);
  for (auto [what, got, want] : {std::tuple{"grad_query", &grad_q, &g.query}, {"grad_key", &grad_k, &g.key},
                                 {"grad_value", &grad_v, &g.value}}) {
    const detail::Comparison c = detail::compare(p.dtype, testing::to_host(*got), *want);
    CHECK_MESSAGE(c.passed(), what << " " << c.error << " / " << c.limit << ", NaN " << c.nan_count);
  }
}

using K = NaWindowKind;

}  // namespace

TEST_SUITE("na_emulated") {
  TEST_CASE("clipped, f32, one chunk per block, 16 lanes of a 64-wide head, 2 rows per lane group") {
    check<Cfg<float, K::clipped, 37, 64, 7, 1, 8, 14, 2, 16>>();
  }
  TEST_CASE("clipped, dilation 3, bf16, chunks of 3 rows, 8 lanes, D = 40") {
    check<Cfg<bf16_t, K::clipped, 50, 40, 5, 3, 8, 3, 1, 8>>();
  }
  TEST_CASE("shifted, f16, dilation 2, kernel wider than some groups, 4 lanes with several rows per warp") {
    check<Cfg<f16_t, K::shifted, 23, 16, 9, 2, 32, 11, 2, 4>>();
  }
  TEST_CASE("causal, f32, D = 6 (not a multiple of 4: element loads), 2 lanes, chunks of 4") {
    check<Cfg<float, K::causal, 30, 6, 5, 1, 32, 4, 1, 2>>();
  }
  TEST_CASE("shifted, bf16, one lane per row (no shuffles), chunks of 5, dilation 4") {
    check<Cfg<bf16_t, K::shifted, 41, 8, 3, 4, 64, 5, 2, 1>>();
  }
  TEST_CASE("causal, f16, a whole warp per row (D = 96), kernel 1") {
    check<Cfg<f16_t, K::causal, 9, 96, 1, 1, 2, 2, 2, 32>>();
  }
  TEST_CASE("tensor cores (lanes 0): clipped bf16 D = 64, a wide window over several key tiles, dilation 2") {
    check<Cfg<bf16_t, K::clipped, 150, 64, 33, 2, 32, 16, 2, 0>, Cfg<bf16_t, K::clipped, 150, 64, 33, 2, 16, 20, 2, 8>>();
  }
  TEST_CASE("tensor cores: shifted f16 D = 32, tiles of 32 keys, rows past the group's end") {
    check<Cfg<f16_t, K::shifted, 45, 32, 21, 1, 64, 32, 4, 0>, Cfg<f16_t, K::shifted, 45, 32, 21, 1, 32, 40, 1, 4>>();
  }
  TEST_CASE("tensor cores: clipped bf16 D = 128, 4 warps, key tiles inside every row's window (no mask) and edges") {
    check<Cfg<bf16_t, K::clipped, 200, 128, 65, 1, 64, 32, 4, 0>, Cfg<bf16_t, K::clipped, 200, 128, 65, 1, 16, 24, 2, 16>>();
  }
  TEST_CASE("tensor cores: causal f16 D = 48 (staging's generic loop: 6 packs a row), 48-key tiles, dilation 2") {
    check<Cfg<f16_t, K::causal, 100, 48, 9, 2, 32, 48, 2, 0>, Cfg<f16_t, K::causal, 100, 48, 9, 2, 16, 24, 2, 4>>();
  }
  TEST_CASE("tensor cores: causal bf16 D = 16, one warp, kernel 1 and L = 1") {
    check<Cfg<bf16_t, K::causal, 40, 16, 65, 3, 16, 16, 1, 0>, Cfg<bf16_t, K::causal, 40, 16, 65, 3, 16, 8, 1, 2>>();
    check<Cfg<bf16_t, K::causal, 1, 16, 1, 1, 16, 16, 1, 0>, Cfg<bf16_t, K::causal, 1, 16, 1, 1, 16, 8, 1, 2>>();
  }
  // The forward on warpgroups (lanes kNaWarpgroupLanes, wgmma emulated from its descriptors: a tile staged
  // in another layout than the descriptor says reads wrong values).
  // Tiles by the tensor memory accelerator wherever L is a multiple of the dilation (the groups' rows past
  // their end are then the tensor's next rows, or zero past its end), else by cp.async.
  TEST_CASE("warpgroup tensor cores (lanes 128): clipped bf16 D = 64, 64-key tiles, a window over several tiles, dilation 2") {
    check<Cfg<bf16_t, K::clipped, 150, 64, 65, 2, 64, 64, 4, kNaWarpgroupLanes>,
          Cfg<bf16_t, K::clipped, 150, 64, 65, 2, 16, 24, 2, 8>>();
  }
  TEST_CASE("warpgroup tensor cores: f16 scores spread 16x wider, so rows' maxima grow past the lazy rescale's 2^8 mid-row") {
    // In f16 a P against a max that lagged by more than 2^16 would overflow: the rescale must happen.
    check<Cfg<f16_t, K::clipped, 150, 64, 129, 1, 64, 64, 4, kNaWarpgroupLanes>,
          Cfg<f16_t, K::clipped, 150, 64, 129, 1, 16, 24, 2, 8>>(16.0);
  }
  TEST_CASE("warpgroup tensor cores at five blocks an SM (kernel > 192, D = 64): the row sums on the tensor cores") {
    static_assert(na_forward_min_blocks(kNaWarpgroupLanes, 128, 64, 64, 193) == 5);
    check<Cfg<bf16_t, K::clipped, 300, 64, 193, 1, 64, 64, 4, kNaWarpgroupLanes>,
          Cfg<bf16_t, K::clipped, 300, 64, 193, 1, 16, 24, 2, 8>>();
    // Scores spread 16x: the sums' accumulators rescaled with o when a row's max moves mid-row.
    check<Cfg<f16_t, K::shifted, 200, 64, 255, 1, 64, 64, 4, kNaWarpgroupLanes>,
          Cfg<f16_t, K::shifted, 200, 64, 255, 1, 16, 24, 2, 8>>(16.0);
  }
  TEST_CASE("warpgroup tensor cores by cp.async (L = 151 not a multiple of dilation 2): clipped bf16 D = 64, 64-key tiles") {
    static_assert(!na_forward_wgmma_tma(151, 2));
    check<Cfg<bf16_t, K::clipped, 151, 64, 65, 2, 64, 64, 4, kNaWarpgroupLanes>,
          Cfg<bf16_t, K::clipped, 151, 64, 65, 2, 16, 24, 2, 8>>();
  }
  TEST_CASE("warpgroup tensor cores: causal f16 D = 128, two warpgroups, 128-key tiles, rows past the group's end") {
    check<Cfg<f16_t, K::causal, 100, 128, 33, 1, 128, 128, 8, kNaWarpgroupLanes>,
          Cfg<f16_t, K::causal, 100, 128, 33, 1, 16, 24, 2, 16>>();
  }
  TEST_CASE("warpgroup tensor cores: clipped bf16 D = 64, kernel 129, 128-key tiles of which a warpgroup sees one half") {
    // One warpgroup: 192 keys, the last tile's second half skipped. Two: each warpgroup skips a half, the
    // second the first tile's first, the first the last tile's second.
    check<Cfg<bf16_t, K::clipped, 300, 64, 129, 1, 64, 128, 4, kNaWarpgroupLanes>,
          Cfg<bf16_t, K::clipped, 300, 64, 129, 1, 16, 24, 2, 8>>();
    check<Cfg<bf16_t, K::clipped, 300, 64, 129, 1, 128, 128, 8, kNaWarpgroupLanes>,
          Cfg<bf16_t, K::clipped, 300, 64, 129, 1, 16, 24, 2, 8>>();
  }
  TEST_CASE("warpgroup tensor cores: clipped f16 D = 64, three warpgroups (staging's generic loop), 64-key tiles") {
    check<Cfg<f16_t, K::clipped, 300, 64, 65, 1, 192, 64, 12, kNaWarpgroupLanes>,
          Cfg<f16_t, K::clipped, 300, 64, 65, 1, 16, 24, 2, 8>>();
  }
  TEST_CASE("warpgroup tensor cores: shifted bf16 D = 128, 64-key tiles inside every row's window (no mask) and edges") {
    check<Cfg<bf16_t, K::shifted, 300, 128, 129, 1, 64, 64, 4, kNaWarpgroupLanes>,
          Cfg<bf16_t, K::shifted, 300, 128, 129, 1, 16, 24, 2, 16>>();
  }
  TEST_CASE("tensor-core backward (lanes 0): clipped bf16 D = 64, dilation 2, several query and key tiles") {
    check<Cfg<bf16_t, K::clipped, 150, 64, 33, 2, 32, 16, 2, 0>, Cfg<bf16_t, K::clipped, 150, 64, 33, 2, 32, 16, 2, 0>>();
  }
  TEST_CASE("tensor-core backward: shifted f16 D = 32, tiles of 32, groups shorter than the block") {
    check<Cfg<f16_t, K::shifted, 45, 32, 21, 1, 64, 32, 4, 0>, Cfg<f16_t, K::shifted, 45, 32, 21, 1, 64, 32, 4, 0>>();
  }
  TEST_CASE("tensor-core backward: causal bf16 D = 16, one warp, dilation 3; kernel 1, L = 1") {
    check<Cfg<bf16_t, K::causal, 40, 16, 65, 3, 16, 16, 1, 0>, Cfg<bf16_t, K::causal, 40, 16, 65, 3, 16, 16, 1, 0>>();
    check<Cfg<bf16_t, K::causal, 1, 16, 1, 1, 16, 16, 1, 0>, Cfg<bf16_t, K::causal, 1, 16, 1, 1, 16, 16, 1, 0>>();
  }
  // The fused backward (tile_j at least na_fused_staged_rows, rounded to 16).
  TEST_CASE("fused backward: clipped bf16 D = 64, dilation 2, 2 warps, several blocks per group") {
    using F = Cfg<bf16_t, K::clipped, 150, 64, 7, 2, 32, 48, 2, 0>;
    check<F, F, Backward::fused>();
  }
  TEST_CASE("fused backward: shifted f16 D = 32, 4 warps, a group shorter than the block") {
    using F = Cfg<f16_t, K::shifted, 45, 32, 9, 1, 64, 80, 4, 0>;
    check<F, F, Backward::fused>();
  }
  TEST_CASE("fused backward: shifted bf16 D = 96, dilation 4, a window wider than the groups") {
    using F = Cfg<bf16_t, K::shifted, 45, 96, 15, 4, 32, 64, 2, 0>;
    check<F, F, Backward::fused>();
  }
  TEST_CASE("fused backward: clipped bf16 D = 128, kernel 13, rows past the group's end") {
    using F = Cfg<bf16_t, K::clipped, 70, 128, 13, 1, 32, 48, 2, 0>;
    check<F, F, Backward::fused>();
  }
  TEST_CASE("fused backward: clipped f16 D = 32, one warp, 19 blocks per group") {
    using F = Cfg<f16_t, K::clipped, 300, 32, 5, 1, 16, 32, 1, 0>;
    check<F, F, Backward::fused>();
  }
  TEST_CASE("fused backward: causal bf16 D = 16, one warp, dilation 3; kernel 1, L = 1") {
    using F = Cfg<bf16_t, K::causal, 40, 16, 5, 3, 16, 32, 1, 0>;
    check<F, F, Backward::fused>();
    using G = Cfg<bf16_t, K::causal, 1, 16, 1, 1, 16, 16, 1, 0>;
    check<G, G, Backward::fused>();
  }
  TEST_CASE("clipped, f32, L = 1 and L smaller than the window") {
    check<Cfg<float, K::clipped, 1, 16, 7, 1, 16, 7, 1, 4>>();
    check<Cfg<float, K::clipped, 3, 16, 7, 2, 16, 7, 1, 4>>();
  }
}

}  // namespace attnjit
