// NVRTC compiles every mta kernel of the test grid, for sm_80 and sm_90, from the embedded templates
// alone (no CUDA include directory), and a broken template's error carries what a user needs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <thread>
#include <tuple>

#include "generator/render.hpp"
#include "runtime/nvrtc.hpp"
#include "tests/common/mta_grid.hpp"
#include "tests/common/na_grid.hpp"
#include "tuner/tuner_kernels.hpp"
#include "tuner/mta_candidates.hpp"
#include "tuner/mta_heuristics.hpp"

namespace attnjit {

namespace {

std::vector<KernelSpec> grid_specs() {
  std::vector<KernelSpec> specs;
  for (const auto& c : testing::mta_grid()) {
    const MtaKernelSpecs s = mta_kernel_specs(c.problem, mta_heuristic_configs(c.problem));
    for (const KernelSpec& spec : in_launch_order(s)) {
      if (std::find(specs.begin(), specs.end(), spec) == specs.end()) specs.push_back(spec);
    }
  }
  return specs;
}

// Compiles every spec for arch on one thread per core; returns what failed (the error or "empty cubin"),
// one per line, or nothing.
std::string compile_everything(const std::vector<KernelSpec>& specs, const std::string& arch) {
  const std::string nvrtc = detail::nvrtc_version();
  const unsigned workers = std::max(2u, std::thread::hardware_concurrency());
  std::vector<std::future<std::string>> results;
  for (unsigned w = 0; w < workers; ++w) {
    results.push_back(std::async(std::launch::async, [&, w] {
      std::string failures;
      for (std::size_t i = w; i < specs.size(); i += workers) {
        try {
          const auto compiled = detail::compile(render(specs[i]), {arch, nvrtc}, templates());
          if (compiled.cubin.size() < 1000 || compiled.lowered_name.empty()) failures += name(specs[i]) + ": empty cubin\n";
        } catch (const Error& e) {
          failures += std::string(e.what()).substr(0, 2000) + "\n";
        }
      }
      return failures;
    }));
  }
  std::string failures;
  for (auto& r : results) failures += r.get();
  return failures;
}

}  // namespace

TEST_SUITE("nvrtc_compile") {
  TEST_CASE("every kernel of the mta grid compiles to a cubin for sm_80 and sm_90") {
    const std::string nvrtc = detail::nvrtc_version();
    REQUIRE_MESSAGE(!nvrtc.empty(), "NVRTC must be installed on the CI machine (CUDA 13 toolkit)");
    const std::vector<KernelSpec> specs = grid_specs();
    MESSAGE(specs.size() << " distinct kernels x 2 archs");
    CHECK(specs.size() > 100);  // the covering really spans the grid
    for (const char* arch : {"sm_80", "sm_90"}) {
      const std::string failures = compile_everything(specs, arch);
      CHECK_MESSAGE(failures.empty(), arch << ":\n" << failures);
    }
  }

  TEST_CASE("every neighborhood-attention kernel of its grid compiles to a cubin for sm_80 and sm_90") {
    std::vector<KernelSpec> specs;
    for (const auto& c : testing::na_grid()) {
      const NaConfigs configs = c.configs ? *c.configs : na_heuristic_configs(c.problem);
      for (const KernelSpec& spec : in_launch_order(na_kernel_specs(c.problem, configs))) {
        if (std::find(specs.begin(), specs.end(), spec) == specs.end()) specs.push_back(spec);
      }
    }
    MESSAGE(specs.size() << " distinct kernels x 2 archs (the forward on warpgroups for sm_90 only)");
    CHECK(specs.size() > 100);
    std::vector<KernelSpec> portable;
    for (const KernelSpec& spec : specs) {
      if (!na_on_warpgroups(spec)) portable.push_back(spec);
    }
    REQUIRE(portable.size() + 4 <= specs.size());  // the grid's four warpgroup forwards are among them
    for (const char* arch : {"sm_80", "sm_90"}) {
      const std::string failures = compile_everything(has_warpgroup_mma(arch) ? specs : portable, arch);
      CHECK_MESSAGE(failures.empty(), arch << ":\n" << failures);
    }
    // A warpgroup forward compiles for sm_90a, and for no other target: a clear error, not NVRTC's.
    const auto warpgroup = std::find_if(specs.begin(), specs.end(), [](const KernelSpec& s) { return na_on_warpgroups(s); });
    REQUIRE(warpgroup != specs.end());
    const std::vector<std::string> options = nvrtc_options(render(*warpgroup), {"sm_90", detail::nvrtc_version()});
    CHECK(std::find(options.begin(), options.end(), "--gpu-architecture=sm_90a") != options.end());
    try {
      nvrtc_options(render(*warpgroup), {"sm_80", detail::nvrtc_version()});
      FAIL("a warpgroup forward was given options for sm_80");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("only sm_90 has") != std::string::npos);
    }
  }

  TEST_CASE("every tuning candidate of wide depthwise filters compiles: the candidate space holds only buildable configs") {
    // 6x11 and 7x7 depthwise: the fused weight gradient's block sums need more shared memory than the
    // patch of a small tile with 16 warps (the kernel once refused such configs at compile time).
    std::vector<KernelSpec> specs;
    for (auto [kh, kw, pad] : {std::tuple{6, 11, 5}, std::tuple{7, 7, 3}}) {
      const MtaProblem p{.batch = 2, .in_channels = 16, .out_channels = 16, .length = 2048, .kernel_h = kh, .kernel_w = kw,
                         .padding = Padding::symmetric(pad), .groups = 16, .dtype = DType::bf16};
      for (const TileConfig& c : mta_candidates(KernelKind::mta_backward_input, p, DeviceLimits{})) {
        specs.push_back(mta_kernel_spec(KernelKind::mta_backward_input, p, c));
      }
    }
    CHECK(specs.size() > 40);
    const std::string failures = compile_everything(specs, "sm_90");
    CHECK_MESSAGE(failures.empty(), failures);
  }

  TEST_CASE("the tuner's own kernels compile: comparison and random fill for each dtype, the test-only spinning kernel") {
    for (DType t : {DType::f32, DType::f16, DType::bf16}) {
      const detail::CompiledKernel k = detail::compile_tuner_kernel(detail::tuner_compare_kernel(t), "sm_90");
      CHECK(k.cubin.size() > 0);
      CHECK(k.lowered_name.find("tuner_compare") != std::string::npos);
      const detail::CompiledKernel fill = detail::compile_tuner_kernel(detail::tuner_fill_kernel(t), "sm_90");
      CHECK(fill.lowered_name.find("tuner_fill_normal") != std::string::npos);
    }
    CHECK(detail::compile_tuner_kernel("attnjit::tuner_spin", "sm_90").cubin.size() > 0);
  }

  TEST_CASE("options name no include directory: the templates travel as in-memory headers") {
    MtaProblem p;
    p.length = 64;
    const RenderedKernel r = render(mta_kernel_spec(KernelKind::mta_forward, p, mta_heuristic_configs(p).forward));
    for (const std::string& option : nvrtc_options(r, {"sm_90", "13.0"})) {
      CHECK(option.rfind("-I", 0) != 0);
      CHECK(option.find("--include-path") == std::string::npos);
    }
  }

  TEST_CASE("cuda_toolkit_roots: $CUDA_HOME, then $CUDA_PATH, then the standard folders") {
    const char* home = std::getenv("CUDA_HOME");
    const char* path = std::getenv("CUDA_PATH");
    const std::string saved_home = home ? home : "", saved_path = path ? path : "";
    ::setenv("CUDA_HOME", "/opt/cuda-a", 1);
    ::setenv("CUDA_PATH", "/opt/cuda-b", 1);
    CHECK(detail::cuda_toolkit_roots() ==
          std::vector<std::string>{"/opt/cuda-a", "/opt/cuda-b", "/usr/local/cuda", "/usr/local/cuda-13.0"});
    ::unsetenv("CUDA_PATH");
    ::setenv("CUDA_HOME", "", 1);  // empty: skipped
    CHECK(detail::cuda_toolkit_roots() == std::vector<std::string>{"/usr/local/cuda", "/usr/local/cuda-13.0"});
    if (home) ::setenv("CUDA_HOME", saved_home.c_str(), 1); else ::unsetenv("CUDA_HOME");
    if (path) ::setenv("CUDA_PATH", saved_path.c_str(), 1);
  }

  TEST_CASE("a compile error carries the kernel name, the options and NVRTC's log") {
    TemplateSet broken = templates();
    broken.files["mta_forward.cuh"] += "\nthis is not C++;\n";
    MtaProblem p;
    p.length = 64;
    const RenderedKernel r = render(mta_kernel_spec(KernelKind::mta_forward, p, mta_heuristic_configs(p).forward));
    try {
      detail::compile(r, {"sm_90", detail::nvrtc_version()}, broken);
      FAIL("a broken template compiled");
    } catch (const Error& e) {
      const std::string message = e.what();
      CHECK(e.code() == ErrorCode::compile);
      CHECK(message.find(r.name) != std::string::npos);
      CHECK(message.find("--gpu-architecture=sm_90") != std::string::npos);
      CHECK(message.find("mta_forward.cuh") != std::string::npos);  // from the log: where the error is
      CHECK(message.find("error") != std::string::npos);
    }
  }
}

}  // namespace attnjit
