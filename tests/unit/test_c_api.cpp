// The C ABI (include/attnjit/attnjit.h): statuses and per-thread messages for every kind of bad input, the
// problem conversion, and (without a GPU) the driver error coming through as ATTNJIT_NO_DRIVER. Launches on
// a GPU are the gpu suite's and the Python front end's business.
#include <doctest/doctest.h>

#include <string>
#include <thread>

#include "attnjit/attnjit.h"
#include "attnjit/attnjit.hpp"
#include "runtime/driver.hpp"

namespace {

attnjit_mta_problem depthwise() {
  attnjit_mta_problem p{};
  p.batch = 2;
  p.in_channels = p.out_channels = p.groups = 4;
  p.length = 64;
  p.kernel_h = p.kernel_w = 3;
  p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
  p.norm = ATTNJIT_SOFTMAX;
  p.dtype = ATTNJIT_BF16;
  return p;
}

bool says(const char* part) { return std::string(attnjit_last_error()).find(part) != std::string::npos; }

}  // namespace

TEST_SUITE("c_api") {

TEST_CASE("version, validation and row statistics: statuses, and the C++ API's messages through attnjit_last_error") {
  CHECK(std::string(attnjit_version()) == attnjit::version());
  attnjit_mta_problem p = depthwise();
  CHECK(attnjit_mta_validate(&p) == ATTNJIT_OK);
  CHECK(std::string(attnjit_last_error()).empty());
  size_t rows = 0;
  CHECK(attnjit_mta_row_stats_elements(&p, &rows) == ATTNJIT_OK);
  CHECK(rows == 2u * 4 * 64);

  p.groups = 3;
  CHECK(attnjit_mta_validate(&p) == ATTNJIT_INVALID_ARGUMENT);
  CHECK(says("groups=3"));
  CHECK(attnjit_mta_row_stats_elements(&p, &rows) == ATTNJIT_INVALID_ARGUMENT);
  p = depthwise();
  p.dtype = static_cast<attnjit_dtype>(7);
  CHECK(attnjit_mta_validate(&p) == ATTNJIT_INVALID_ARGUMENT);
  CHECK(says("dtype is not"));
  p = depthwise();
  p.has_bias = 2;
  CHECK(attnjit_mta_validate(&p) == ATTNJIT_INVALID_ARGUMENT);
  CHECK(says("has_bias"));
  CHECK(attnjit_mta_validate(nullptr) == ATTNJIT_INVALID_ARGUMENT);
  CHECK(says("problem pointer is NULL"));
  p = depthwise();
  CHECK(attnjit_mta_row_stats_elements(&p, nullptr) == ATTNJIT_INVALID_ARGUMENT);
}

TEST_CASE("runtimes: bad arguments are refused by status, NULL is safe to destroy, the message is per thread") {
  CHECK(attnjit_runtime_create(nullptr, ATTNJIT_CACHE_OFF, nullptr) == ATTNJIT_INVALID_ARGUMENT);
  attnjit_runtime* runtime = reinterpret_cast<attnjit_runtime*>(0x1);
  CHECK(attnjit_runtime_create(nullptr, static_cast<attnjit_cache_mode>(9), &runtime) == ATTNJIT_INVALID_ARGUMENT);
  CHECK(runtime == nullptr);  // never left pointing at garbage
  CHECK(says("mode is not"));
  attnjit_runtime_destroy(nullptr);

  REQUIRE(attnjit_runtime_create(nullptr, ATTNJIT_CACHE_OFF, &runtime) == ATTNJIT_OK);
  REQUIRE(runtime != nullptr);
  const attnjit_mta_problem p = depthwise();
  CHECK(attnjit_mta_forward(nullptr, &p, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr) == ATTNJIT_INVALID_ARGUMENT);
  CHECK(says("runtime is NULL"));
  std::string other_thread;
  std::thread([&] { other_thread = attnjit_last_error(); }).join();
  CHECK(other_thread.empty());  // this thread's failure is not another thread's
  CHECK(says("runtime is NULL"));

  std::string why;
  if (!attnjit::detail::driver_available(&why)) {  // no GPU here: planning needs the driver
    size_t bytes = 0;
    CHECK(attnjit_mta_workspace_bytes(runtime, &p, &bytes) == ATTNJIT_NO_DRIVER);
    CHECK(says("libcuda.so.1"));
    CHECK(attnjit_mta_prepare(runtime, &p) == ATTNJIT_NO_DRIVER);
  }
  attnjit_runtime_destroy(runtime);
}

TEST_CASE("neighborhood attention: validation with Liger's messages, log-sum-exp size, bad enums, no driver") {
  attnjit_na_problem p{};
  p.batch = 2;
  p.heads = 4;
  p.length = 100;
  p.head_dim = 64;
  p.kernel_size = 7;
  p.dilation = 2;
  p.window = ATTNJIT_NA_SHIFTED;
  p.dtype = ATTNJIT_F16;
  CHECK(attnjit_na_validate(&p) == ATTNJIT_OK);
  size_t rows = 0;
  CHECK(attnjit_na_logsumexp_elements(&p, &rows) == ATTNJIT_OK);
  CHECK(rows == 2 * 4 * 100);
  attnjit_na_problem bad = p;
  bad.kernel_size = 6;
  CHECK(attnjit_na_validate(&bad) == ATTNJIT_INVALID_ARGUMENT);
  CHECK(says("kernel_size=6 must be odd"));
  CHECK(attnjit_na_logsumexp_elements(&bad, &rows) == ATTNJIT_INVALID_ARGUMENT);
  bad = p;
  bad.dilation = 0;
  CHECK(attnjit_na_validate(&bad) == ATTNJIT_INVALID_ARGUMENT);
  CHECK(says("dilation=0 must be positive"));
  bad = p;
  bad.window = static_cast<attnjit_na_window>(7);
  CHECK(attnjit_na_validate(&bad) == ATTNJIT_INVALID_ARGUMENT);
  CHECK(says("window is not ATTNJIT_NA_CLIPPED"));
  CHECK(attnjit_na_validate(nullptr) == ATTNJIT_INVALID_ARGUMENT);
  CHECK(says("attnjit_na_problem"));

  attnjit_runtime* runtime = nullptr;
  REQUIRE(attnjit_runtime_create(nullptr, ATTNJIT_CACHE_OFF, &runtime) == ATTNJIT_OK);
  CHECK(attnjit_na_forward(nullptr, &p, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr) == ATTNJIT_INVALID_ARGUMENT);
  CHECK(says("runtime is NULL"));
  std::string why;
  if (!attnjit::detail::driver_available(&why)) {
    size_t bytes = 0;
    CHECK(attnjit_na_workspace_bytes(runtime, &p, &bytes) == ATTNJIT_NO_DRIVER);
    CHECK(attnjit_na_prepare(runtime, &p) == ATTNJIT_NO_DRIVER);
    CHECK(says("libcuda.so.1"));
  }
  attnjit_runtime_destroy(runtime);
}

}  // TEST_SUITE
