// The gpu suite for neighborhood attention: every kernel against the double-precision reference
// (tuner/na_verify: fresh random inputs, every output poisoned with NaN first) over the all-pairs grid of
// tests/common/na_grid.hpp, each case under the heuristic's configs and every other one under a stress config
// (pinned with ATTNJIT_NA_CONFIG: chunk loops that run many times, other lane counts); bitwise-reproducible
// gradients; argument errors. Needs a GPU.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>

#include "runtime/driver.hpp"
#include "runtime/kernel_cache.hpp"
#include "tests/common/na_grid.hpp"
#include "tuner/device_memory.hpp"
#include "tuner/na_verify.hpp"

namespace attnjit {

namespace {

std::string temp_store(const char* name) {
  const auto path = std::filesystem::temp_directory_path() / fmt::format("attnjit-gpu-na-{}-{}.db", name, ::getpid());
  std::filesystem::remove(path);
  return path.string();
}

std::string pin_text(const NaConfigs& c) {
  auto one = [](const char* kernel, const TileConfig& t) {
    return fmt::format("{}={}x{}x{}x{}", kernel, t.tile_i, t.tile_j, t.warps, t.lanes);
  };
  return one("forward", c.forward) + "," + one("backward_query", c.backward_query) + "," +
         one("backward_key", c.backward_key) + "," +
         (c.fused() ? one("backward_fused", c.backward_fused) : std::string("backward_fused=off"));
}

bool check_case(Runtime& runtime, const testing::NaCase& c, std::uint64_t seed) {
  const auto start = std::chrono::steady_clock::now();
  const detail::NaVerification v = detail::verify_na(runtime, c.problem, seed, detail::Direction::forward_backward);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string kernels = c.configs ? " " + pin_text(*c.configs) : "";
  fmt::print("{} [{}] {}{} | {} ({:.1f} s)\n", v.passed() ? "ok  " : "FAIL", c.label, describe(c.problem), kernels,
             v.summary(), seconds);
  std::fflush(stdout);
  CHECK_MESSAGE(v.passed(), describe(c.problem) << kernels << ": " << v.summary());
  return v.passed();
}

std::string device_arch() {
  const detail::DriverApi& cu = detail::driver();
  CUdevice device = 0;
  int major = 0, minor = 0;
  ATTNJIT_CU_CHECK(cu.cuDeviceGet(&device, 0));
  ATTNJIT_CU_CHECK(cu.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device));
  ATTNJIT_CU_CHECK(cu.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device));
  return fmt::format("sm_{}{}", major, minor);
}

// Compiles every case's kernels into the store in parallel, so the sequential checks below only load them.
void compile_ahead(const std::string& store, const std::vector<testing::NaCase>& cases) {
  detail::KernelCache cache(RuntimeOptions{store, CacheMode::read_write});
  const std::string arch = device_arch();
  std::vector<KernelSpec> specs;
  for (const auto& c : cases) {
    for (const KernelSpec& s : in_launch_order(na_kernel_specs(c.problem, c.configs ? *c.configs : na_heuristic_configs(c.problem)))) {
      specs.push_back(s);
    }
  }
  std::vector<std::future<void>> pending;
  const std::size_t workers = 16;
  for (std::size_t w = 0; w < workers; ++w) {
    pending.push_back(std::async(std::launch::async, [&, w] {
      for (std::size_t i = w; i < specs.size(); i += workers) cache.binary(specs[i], arch);
    }));
  }
  for (auto& p : pending) p.get();
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("every neighborhood-attention kernel matches the reference over its grid, forward and backward") {
    const std::string store = temp_store("grid");
    std::vector<testing::NaCase> cases = testing::na_grid();
    if (const std::string arch = device_arch(); !has_warpgroup_mma(arch)) {  // the forward on warpgroups is sm_90's only
      std::erase_if(cases, [](const testing::NaCase& c) { return c.configs && c.configs->forward.lanes == kNaWarpgroupLanes; });
      fmt::print("{}: the cases of the forward on warpgroups (wgmma, sm_90 only) are skipped\n", arch);
    }
    fmt::print("{} neighborhood-attention cases\n", cases.size());
    const auto start = std::chrono::steady_clock::now();
    compile_ahead(store, cases);
    fmt::print("compiled in {:.1f} s\n",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    // Plans are per (problem, context): a case under its stress config gets a Runtime of its own.
    Runtime heuristic(RuntimeOptions{store, CacheMode::read_write});
    std::uint64_t seed = 500;
    int failed = 0;
    for (const auto& c : cases) {
      if (!c.configs) {
        failed += !check_case(heuristic, c, ++seed);
        continue;
      }
      ::setenv("ATTNJIT_NA_CONFIG", pin_text(*c.configs).c_str(), 1);
      Runtime pinned(RuntimeOptions{store, CacheMode::read_write});
      failed += !check_case(pinned, c, ++seed);
      ::unsetenv("ATTNJIT_NA_CONFIG");
    }
    fmt::print("{} of {} cases failed; NVRTC compiles after compiling ahead: {}\n", failed, cases.size(),
               heuristic.stats().nvrtc_compiles);
  }

  TEST_CASE("neighborhood-attention gradients are bitwise identical from run to run (no atomics)") {
    Runtime runtime(RuntimeOptions{"", CacheMode::off});
    const NaProblem p{.batch = 2, .heads = 2, .length = 300, .head_dim = 64, .kernel_size = 13, .dilation = 2,
                      .dtype = DType::bf16};
    const std::size_t n = 2 * 2 * 300 * 64;
    std::mt19937_64 rng(3);
    std::normal_distribution<double> normal;
    std::vector<double> values(n);
    std::vector<detail::DeviceBuffer> inputs;
    for (int t = 0; t < 4; ++t) {  // query, key, value, grad_out
      for (double& x : values) x = normal(rng);
      inputs.emplace_back(n * 2);
      inputs.back().upload(detail::encode(DType::bf16, values));
    }
    detail::DeviceBuffer out(n * 2), lse(2 * 2 * 300 * 4), dq(n * 2), dk(n * 2), dv(n * 2),
        workspace(runtime.neighborhood_attention_workspace_bytes(p));
    std::vector<std::uint8_t> first[3];
    for (int run = 0; run < 3; ++run) {
      runtime.neighborhood_attention_forward(
          p, {inputs[0].get(), inputs[1].get(), inputs[2].get(), out.get(), static_cast<float*>(lse.get())}, nullptr);
      runtime.neighborhood_attention_backward(
          p, {inputs[0].get(), inputs[1].get(), inputs[2].get(), out.get(), static_cast<const float*>(lse.get()),
              inputs[3].get(), dq.get(), dk.get(), dv.get(), workspace.get()}, nullptr);
      ATTNJIT_CU_CHECK(detail::driver().cuCtxSynchronize());
      const std::vector<std::uint8_t> now[3] = {dq.download(), dk.download(), dv.download()};
      for (int g = 0; g < 3; ++g) {
        if (run == 0) {
          first[g] = now[g];
        } else {
          CHECK(now[g] == first[g]);
        }
      }
    }
  }

  TEST_CASE("neighborhood-attention argument errors are typed and name what is wrong") {
    Runtime runtime(RuntimeOptions{"", CacheMode::off});
    const NaProblem p{.length = 16, .head_dim = 32, .kernel_size = 3};
    detail::DeviceBuffer q(16 * 32 * 4 + 16), k(16 * 32 * 4), v(16 * 32 * 4), out(16 * 32 * 4), lse(16 * 4);
    NaForwardArgs args{q.get(), k.get(), v.get(), out.get(), static_cast<float*>(lse.get())};
    args.value = nullptr;
    CHECK_THROWS_WITH_AS(runtime.neighborhood_attention_forward(p, args, nullptr), doctest::Contains("value is null"), Error);
    args.value = v.get();
    args.query = static_cast<char*>(q.get()) + 4;
    CHECK_THROWS_WITH_AS(runtime.neighborhood_attention_forward(p, args, nullptr),
                         doctest::Contains("query = 0x"), Error);
    NaProblem even = p;
    even.kernel_size = 4;
    CHECK_THROWS_WITH_AS(runtime.prepare_neighborhood_attention(even), doctest::Contains("kernel_size=4 must be odd"),
                         Error);
  }
}

}  // namespace attnjit
