// The gpu suite: every mta kernel against the double-precision reference (tuner/mta_verify: fresh
// random inputs, outputs poisoned with NaN, NaN planted in the future of scores and grad_out), over
// the all-pairs grid of tests/common/mta_grid.hpp and named cases. Needs a GPU.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>

#include "runtime/driver.hpp"
#include "tests/common/cli_path.hpp"
#include "tests/common/mta_grid.hpp"
#include "tuner/device_memory.hpp"
#include "tuner/mta_verify.hpp"

namespace attnjit {

namespace {

std::string temp_store(const char* name) {
  const auto path = std::filesystem::temp_directory_path() / fmt::format("attnjit-gpu-{}-{}.db", name, ::getpid());
  std::filesystem::remove(path);
  return path.string();
}

void check_case(Runtime& runtime, const std::string& label, const MtaProblem& p, std::uint64_t seed) {
  const auto start = std::chrono::steady_clock::now();
  const detail::MtaVerification v = detail::verify_mta(runtime, p, seed, detail::Direction::forward_backward);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{} [{}] {} | {} ({:.1f} s)\n", v.passed() ? "ok  " : "FAIL", label, describe(p), v.summary(), seconds);
  std::fflush(stdout);
  CHECK_MESSAGE(v.passed(), describe(p) << ": " << v.summary());
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("every mta kernel matches the reference over the all-pairs grid, forward and backward") {
    Runtime runtime(RuntimeOptions{temp_store("grid"), CacheMode::read_write});
    const auto cases = testing::mta_grid();
    fmt::print("{} cases\n", cases.size());
    std::vector<std::future<void>> plans;  // compile every case's kernels in parallel first
    for (const auto& c : cases) plans.push_back(std::async(std::launch::async, [&runtime, &c] { runtime.prepare_mta(c.problem); }));
    for (auto& plan : plans) plan.get();
    std::uint64_t seed = 100;
    for (const auto& c : cases) check_case(runtime, c.label, c.problem, ++seed);
  }

  TEST_CASE("long rows: L = 8192, both norms") {
    Runtime runtime(RuntimeOptions{temp_store("long"), CacheMode::read_write});
    for (Norm norm : {Norm::softmax, Norm::sparsemax}) {
      MtaProblem p;
      p.batch = 1;
      p.in_channels = p.out_channels = p.groups = 2;
      p.length = 8192;
      p.kernel_h = p.kernel_w = 3;
      p.padding = Padding::symmetric(1);
      p.norm = norm;
      p.dtype = DType::bf16;
      check_case(runtime, "L=8192", p, 7);
    }
  }

  TEST_CASE("gradients are bitwise identical from run to run (no atomics in any reduction)") {
    Runtime runtime(RuntimeOptions{temp_store("det"), CacheMode::off});
    MtaProblem p;
    p.batch = 2;
    p.in_channels = p.out_channels = 4;
    p.groups = 1;
    p.length = 300;
    p.kernel_h = p.kernel_w = 3;
    p.padding = Padding::symmetric(1);
    p.bias = Bias::present;
    std::vector<std::uint8_t> first_weight, first_bias, first_scores;
    for (int run = 0; run < 3; ++run) {
      // The same inputs every run (same seed), raw output bytes compared.
      std::mt19937_64 rng(5);
      std::normal_distribution<double> normal;
      const std::size_t n_scores = 2 * 4 * 300 * 300, n_weight = 4 * 4 * 9;
      std::vector<double> scores(n_scores), weight(n_weight), bias(4), grad_out(n_scores);
      for (auto* v : {&scores, &weight, &bias, &grad_out}) {
        for (double& x : *v) x = normal(rng);
      }
      detail::DeviceBuffer d_scores(n_scores * 4), d_weight(n_weight * 4), d_bias(16), d_out(n_scores * 4),
          d_stats(2 * 4 * 300 * 4), d_grad_out(n_scores * 4), d_grad_scores(n_scores * 4), d_grad_weight(n_weight * 4),
          d_grad_bias(16), workspace(runtime.mta_backward_workspace_bytes(p));
      d_scores.upload(detail::encode(DType::f32, scores));
      d_weight.upload(detail::encode(DType::f32, weight));
      d_bias.upload(detail::encode(DType::f32, bias));
      d_grad_out.upload(detail::encode(DType::f32, grad_out));
      workspace.fill(0xFF);
      runtime.mta_forward(p, {d_scores.get(), d_weight.get(), d_bias.get(), d_out.get(), static_cast<float*>(d_stats.get())}, nullptr);
      runtime.mta_backward(p, {d_scores.get(), d_weight.get(), static_cast<const float*>(d_stats.get()), d_grad_out.get(),
                               d_grad_scores.get(), d_grad_weight.get(), d_grad_bias.get(), workspace.get()}, nullptr);
      ATTNJIT_CU_CHECK(detail::driver().cuCtxSynchronize());
      if (run == 0) {
        first_weight = d_grad_weight.download();
        first_bias = d_grad_bias.download();
        first_scores = d_grad_scores.download();
      } else {
        CHECK(d_grad_weight.download() == first_weight);
        CHECK(d_grad_bias.download() == first_bias);
        CHECK(d_grad_scores.download() == first_scores);
      }
    }
  }

  TEST_CASE("a second process loads every kernel from the store and never calls NVRTC") {
    const std::string store = temp_store("two-process");
    auto run = [&] {
      const std::string command = fmt::format("{} --cache {} bench --json --reps 3 --warmup 1 -b 1 -c 2 -L 300 -k 3x5 2>&1",
                                              testing::cli_path(), store);
      FILE* pipe = popen(command.c_str(), "r");
      REQUIRE(pipe != nullptr);
      std::string output;
      char buffer[4096];
      while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
      REQUIRE_MESSAGE(pclose(pipe) == 0, output);
      return nlohmann::json::parse(output.substr(output.find('{')));
    };
    const auto first = run(), second = run();
    fmt::print("first process: {} NVRTC compiles, {} store hits; second: {} NVRTC compiles, {} store hits\n",
               first["nvrtc_compiles"].get<int>(), first["store_hits"].get<int>(), second["nvrtc_compiles"].get<int>(),
               second["store_hits"].get<int>());
    CHECK(first["nvrtc_compiles"].get<int>() == 4);  // depthwise 3x5: the weight gradient is fused, 4 kernels
    CHECK(second["nvrtc_compiles"].get<int>() == 0);
    CHECK(second["store_hits"].get<int>() == 4);
    CHECK(second["results"][0]["verify"]["passed"].get<bool>());
  }

  TEST_CASE("launch-time argument errors are typed and name what is wrong") {
    Runtime runtime(RuntimeOptions{"", CacheMode::off});
    MtaProblem p;
    p.length = 16;
    p.kernel_h = p.kernel_w = 3;
    p.bias = Bias::present;
    detail::DeviceBuffer a(16 * 16 * 4), w(9 * 4), out(16 * 16 * 4), stats(16 * 4);
    MtaForwardArgs args{a.get(), w.get(), nullptr, out.get(), static_cast<float*>(stats.get())};
    try {
      runtime.mta_forward(p, args, nullptr);
      FAIL("a missing bias pointer was accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_argument);
      CHECK(std::string(e.what()).find("bias") != std::string::npos);
    }
    args.bias = w.get();
    args.scores = nullptr;
    CHECK_THROWS_WITH_AS(runtime.mta_forward(p, args, nullptr), doctest::Contains("scores is null"), Error);
    p.groups = 3;
    CHECK_THROWS_WITH_AS(runtime.prepare_mta(p), doctest::Contains("groups=3 does not divide in_channels=1"), Error);
  }
}

}  // namespace attnjit
