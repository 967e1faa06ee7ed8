// The autotuner on a GPU: a candidate made to fail in each way (compile, crash, hang, wrong result) is
// quarantined with its reason while the tuning finishes and stores winners; a second run does not try it
// again; and after `attnjit tune`, a fresh Runtime dispatches the tuned kernels without compiling anything.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common/cli_path.hpp"
#include "runtime/driver.hpp"
#include "runtime/mta_plan.hpp"
#include "tuner/tuner_kernels.hpp"
#include "tuner/mta_verify.hpp"
#include "tuner/na_verify.hpp"

namespace attnjit {
namespace {

namespace fs = std::filesystem;

std::string scratch(const std::string& name) {
  const fs::path path = fs::temp_directory_path() / fmt::format("attnjit-gpu-tuner-{}-{}", ::getpid(), name);
  fs::remove(path);
  return path.string();
}

// Runs `attnjit <args>`, echoing its output into the suite's log; returns (exit status, output).
std::pair<int, std::string> attnjit_cli(const std::string& args) {
  const std::string command = fmt::format("'{}' {} 2>&1", testing::cli_path(), args);
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  fmt::print("$ attnjit {}\n{}", args, output);
  std::fflush(stdout);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), path);
  return nlohmann::json::parse(in);
}

constexpr const char* kSmall = "-b 1 -c 4 -L 256 -k 3";  // depthwise: row stats, forward, input gradient tuned

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("the device's random inputs: standard normal, the same for a seed, different across seeds") {
    const detail::DeviceInfo device = detail::device_info(detail::current_context());
    for (DType t : {DType::f32, DType::f16, DType::bf16}) {
      CAPTURE(to_string(t));
      detail::DeviceRandom random(t, device.arch);
      const std::size_t n = 1'000'003;
      const std::vector<std::uint8_t> a = random.normal(n, 11).download(), b = random.normal(n, 11).download();
      CHECK(a == b);
      CHECK(random.normal(n, 12).download() != a);
      const std::vector<double> v = detail::decode(t, a);
      double sum = 0, sum2 = 0, tail = 0;
      for (double x : v) {
        REQUIRE(std::isfinite(x));
        sum += x;
        sum2 += x * x;
        tail += std::abs(x) > 3.0;
      }
      const double mean = sum / n, variance = sum2 / n - mean * mean;
      CHECK(std::abs(mean) < 0.01);             // standard error 0.001
      CHECK(std::abs(variance - 1.0) < 0.02);  // standard error 0.0014
      CHECK(tail / n == doctest::Approx(0.0027).epsilon(0.2));  // P(|z| > 3) of a normal
    }
  }

  TEST_CASE("the device comparison gives the host comparison's figures: equal, a wrong tile, NaN") {
    const detail::DeviceInfo device = detail::device_info(detail::current_context());
    std::mt19937_64 rng(3);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> ref(3'000'001);  // not a multiple of the grid's stride
    for (double& v : ref) v = normal(rng);
    for (DType t : {DType::f32, DType::f16, DType::bf16}) {
      CAPTURE(to_string(t));
      detail::DeviceComparator comparator(t, device.arch);
      auto on_device = [&](const std::vector<double>& v) {
        detail::DeviceBuffer b(v.size() * size_of(t));
        b.upload(detail::encode(t, v));
        return b;
      };
      const detail::DeviceBuffer d_ref = on_device(ref);
      std::vector<double> near = ref, wrong = ref, nan = ref;
      for (double& v : near) v *= 1.0 + 1e-6;
      for (std::size_t i = 0; i < 4096; ++i) wrong[1'000'000 + i] += 1.0;
      nan[3'000'000] = std::nan("");
      for (const auto* v : {&ref, &near, &wrong, &nan}) {
        const detail::Comparison host = detail::compare_encoded(t, detail::encode(t, *v), detail::encode(t, ref));
        const detail::Comparison dev = comparator.compare(on_device(*v), d_ref);
        CHECK(dev.passed() == host.passed());
        CHECK(dev.nan_count == host.nan_count);
        CHECK(dev.compared == host.compared);
        CHECK(dev.error == doctest::Approx(host.error).epsilon(1e-6));
      }
    }
  }

  TEST_CASE("the tuner quarantines a candidate that fails to compile, crashes, hangs or is wrong, and finishes") {
    const std::pair<const char*, const char*> faults[] = {
        {"compile", "compile"}, {"crash", "crash"}, {"hang", "hang"}, {"wrong", "wrong result"}};
    for (const auto& [fault, status] : faults) {
      CAPTURE(fault);
      const std::string store = scratch(std::string(fault) + ".db"), report = scratch(std::string(fault) + ".json");
      const auto [code, output] = attnjit_cli(fmt::format(
          "--cache '{}' tune {} --rounds 2 --reps 3 --candidate-timeout 5 --inject-fault {} --report '{}'", store, kSmall,
          fault, report));
      CHECK_MESSAGE(code == 0, output);  // every kernel still got a winner
      const nlohmann::json r = read_json(report);
      REQUIRE(r["problems"].size() == 1);
      const nlohmann::json& kernels = r["problems"][0]["kernels"];
      CHECK(kernels.size() == 3);
      for (const nlohmann::json& k : kernels) {
        CAPTURE(k["kernel"].get<std::string>());
        CHECK(k["stored"].get<bool>());
        REQUIRE(k["candidates"].size() >= 2);
        CHECK(k["candidates"][0]["status"] == "timed");  // the heuristic
        CHECK(k["candidates"][1]["status"] == status);   // the victim
        CHECK(!k["candidates"][1]["detail"].get<std::string>().empty());
        int settled = 0;  // every other candidate was timed, screened out as too slow, or pruned after compiling
        for (const auto& c : k["candidates"]) {
          settled += c["status"] == "timed" || c["status"] == "screened out" || c["status"] == "pruned";
        }
        CHECK(settled + 1 == static_cast<int>(k["candidates"].size()));
      }
      if (std::string(fault) == "crash") {  // never tried again in this environment
        const auto [again_code, again_output] =
            attnjit_cli(fmt::format("--cache '{}' tune {} --rounds 1 --reps 3 --report '{}'", store, kSmall, report));
        CHECK_MESSAGE(again_code == 0, again_output);
        for (const nlohmann::json& k : read_json(report)["problems"][0]["kernels"]) {
          CHECK(k["candidates"][1]["status"] == "quarantined");
          CHECK(k["workers"] == 1);
        }
      }
    }
  }

  TEST_CASE("after attnjit tune, a fresh Runtime dispatches the tuned kernels without compiling, and they are right") {
    const std::string store = scratch("tuned.db");
    const auto [code, output] = attnjit_cli(
        fmt::format("--cache '{}' tune -b 1 -c 4 -L 512 -k 5 --rounds 2 --reps 5", store));
    REQUIRE_MESSAGE(code == 0, output);
    const MtaProblem p{.batch = 1, .in_channels = 4, .out_channels = 4, .length = 512, .kernel_h = 5, .kernel_w = 5,
                       .padding = Padding::symmetric(2), .groups = 4, .dtype = DType::bf16};
    Runtime runtime(RuntimeOptions{store, CacheMode::read_only});
    for (const KernelChoice& c : runtime.explain_mta(p)) {
      fmt::print("{:15} {} | {}\n", c.step, c.kernel, c.why);
      if (c.step != "reduce_weight") {
        CHECK_MESSAGE(c.tuned, c.step);
        CHECK(c.why.find("tuned winner from") == 0);
      }
    }
    CHECK(runtime.stats().nvrtc_compiles == 0);
    CHECK(runtime.stats().store_hits == 4);
    const detail::MtaVerification v = detail::verify_mta(runtime, p, 7, detail::Direction::forward_backward);
    CHECK_MESSAGE(v.passed(), v.summary());
    CHECK(runtime.stats().nvrtc_compiles == 0);

    const auto [explain_code, explained] =
        attnjit_cli(fmt::format("--cache '{}' cache explain -b 1 -c 4 -L 512 -k 5", store));  // a fresh process
    CHECK(explain_code == 0);
    CHECK(explained.find("tuned winner from") != std::string::npos);
    CHECK(explained.find("kernels: 0 compiled by NVRTC, 4 loaded from the store") != std::string::npos);
  }

  TEST_CASE("attnjit tune --op na: each neighborhood-attention kernel tuned, verified, stored and then dispatched") {
    const std::string store = scratch("na.db"), report = scratch("na.json");
    const auto [code, output] = attnjit_cli(fmt::format(
        "--cache '{}' tune --op na -b 1 -c 4 -L 1000 -D 64 -k 65 --rounds 2 --reps 5 --report '{}'", store, report));
    REQUIRE_MESSAGE(code == 0, output);
    const nlohmann::json r = read_json(report);
    const nlohmann::json& kernels = r["problems"][0]["kernels"];
    REQUIRE(kernels.size() == 4);  // forward, the two gradient kernels, and the fused backward (it fits k = 65)
    CHECK(kernels[3]["kernel"] == "backward_fused");
    bool tensor_cores_tried = false;
    for (const nlohmann::json& k : kernels) {
      CHECK(k["stored"].get<bool>());
      for (const auto& c : k["candidates"]) {
        tensor_cores_tried = tensor_cores_tried || c["config"].get<std::string>().ends_with("x0");
        CHECK_MESSAGE(c["status"] != "wrong result", c.dump());
      }
    }
    CHECK(tensor_cores_tried);  // bf16, D = 64: the forward's tensor-core configs are candidates
    const NaProblem p{.batch = 1, .heads = 4, .length = 1000, .head_dim = 64, .kernel_size = 65, .dtype = DType::bf16};
    Runtime runtime(RuntimeOptions{store, CacheMode::read_only});
    for (const KernelChoice& c : runtime.explain_neighborhood_attention(p)) {
      fmt::print("{:15} {} | {}\n", c.step, c.kernel, c.why);
      CHECK_MESSAGE(c.tuned, c.step);
    }
    CHECK(runtime.stats().nvrtc_compiles == 0);
    const detail::NaVerification v = detail::verify_na(runtime, p, 9, detail::Direction::forward_backward);
    CHECK_MESSAGE(v.passed(), v.summary());
  }
}

}  // namespace attnjit
