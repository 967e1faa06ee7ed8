// The runtime on a machine without a GPU (as CI is): it starts, compiles, caches, and fails a launch
// with a typed error that says why; the kernel cache compiles each key once however many ask.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <future>

#include "runtime/driver.hpp"
#include "runtime/kernel_cache.hpp"
#include "tuner/mta_heuristics.hpp"

namespace attnjit {

namespace {

std::string temp_path(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("attnjit-rt-{}-{}", name, ::getpid());
  std::filesystem::remove_all(dir);
  return (dir / "attnjit.db").string();
}

KernelSpec forward_spec(int length) {
  MtaProblem p;
  p.length = length;
  p.kernel_h = p.kernel_w = 3;
  p.padding = Padding::symmetric(1);
  return mta_kernel_spec(KernelKind::mta_forward, p, mta_heuristic_configs(p).forward);
}

}  // namespace

TEST_SUITE("runtime_cpu") {
  TEST_CASE("without a GPU a launch fails with Error{no_driver} saying what still works") {
    if (detail::driver_available()) {
      MESSAGE("a GPU is present: this test is for GPU-less machines");
      return;
    }
    Runtime runtime(RuntimeOptions{"", CacheMode::off});
    MtaProblem p;
    try {
      runtime.prepare_mta(p);
      FAIL("prepare_mta succeeded without a driver");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::no_driver);
      CHECK(std::string(e.what()).find("attnjit compile --arch") != std::string::npos);
    }
  }

  TEST_CASE("eight threads asking for one kernel compile it once (single flight)") {
    detail::KernelCache cache(RuntimeOptions{"", CacheMode::off});
    const KernelSpec spec = forward_spec(96);
    std::vector<std::future<detail::Binary>> asks;
    for (int i = 0; i < 8; ++i) asks.push_back(std::async(std::launch::async, [&] { return cache.binary(spec, "sm_90"); }));
    std::vector<detail::Binary> binaries;
    for (auto& a : asks) binaries.push_back(a.get());
    CHECK(cache.stats().nvrtc_compiles == 1);
    for (const auto& b : binaries) CHECK(b.record == binaries.front().record);
  }

  TEST_CASE("a second cache on the same store loads the binary and never compiles") {
    const std::string path = temp_path("store");
    const KernelSpec spec = forward_spec(80);
    std::vector<char> first;
    {
      detail::KernelCache cache(RuntimeOptions{path, CacheMode::read_write});
      const auto b = cache.binary(spec, "sm_90");
      CHECK(b.source == detail::BinarySource::nvrtc);
      first = b.record->cubin;
    }
    detail::KernelCache again(RuntimeOptions{path, CacheMode::read_write});
    const auto b = again.binary(spec, "sm_90");
    CHECK(b.source == detail::BinarySource::store);
    CHECK(again.stats().nvrtc_compiles == 0);
    CHECK(again.stats().store_hits == 1);
    CHECK(b.record->cubin == first);  // NVRTC is deterministic: the key identifies the binary
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());
  }

  TEST_CASE("read_only mode compiles in memory and creates no file") {
    const std::string path = temp_path("readonly");
    detail::KernelCache cache(RuntimeOptions{path, CacheMode::read_only});
    CHECK(cache.binary(forward_spec(72), "sm_90").record->cubin.size() > 0);
    CHECK_FALSE(std::filesystem::exists(path));
  }

  TEST_CASE("sm_80 and sm_90 binaries are distinct kernels with distinct keys") {
    detail::KernelCache cache(RuntimeOptions{"", CacheMode::off});
    const KernelSpec spec = forward_spec(64);
    const auto a = cache.binary(spec, "sm_80"), b = cache.binary(spec, "sm_90");
    CHECK(a.record->key != b.record->key);
    CHECK(a.record->arch == "sm_80");
    CHECK(b.record->arch == "sm_90");
    CHECK(cache.stats().nvrtc_compiles == 2);
  }
}

}  // namespace attnjit
