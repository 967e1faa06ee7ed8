// The tuner's own kernels (templates/tuner_kernels.cuh), compiled with NVRTC when a worker starts: random
// inputs made on the device; the comparison of a candidate's output with the trusted output where both
// already are, on the device (the host comparison of an L x L tensor, copy included, took most of a
// candidate's verification); and the test-only kernel that never ends.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <string>

#include "attnjit/attnjit.hpp"
#include "runtime/nvrtc.hpp"
#include "tuner/device_memory.hpp"
#include "tuner/mta_verify.hpp"

namespace attnjit::detail {

// "attnjit::tuner_compare<attnjit::bf16_t>", "attnjit::tuner_spin": compiled for arch (no GPU needed).
CompiledKernel compile_tuner_kernel(const std::string& name_expression, const std::string& arch);
// The name expressions of the comparison and the random fill for a dtype.
std::string tuner_compare_kernel(DType dtype);
std::string tuner_fill_kernel(DType dtype);

// Fills device buffers of one dtype with standard normal values, a pure function of (seed, index).
class DeviceRandom {
 public:
  DeviceRandom(DType dtype, const std::string& arch);
  DeviceBuffer normal(std::size_t elements, std::uint64_t seed);

 private:
  DType dtype_;
  CUfunction function_ = nullptr;
};

class DeviceComparator {
 public:
  DeviceComparator(DType dtype, const std::string& arch);  // compiles the comparison for dtype

  // SPEC.md's test of `out` against `ref` (the same dtype and size): as compare_encoded, on the device.
  Comparison compare(const DeviceBuffer& out, const DeviceBuffer& ref);

 private:
  DType dtype_;
  CUfunction function_ = nullptr;
  DeviceBuffer partials_;
};

// Test only: launches a kernel on `stream` that never ends.
void launch_spinning_kernel(const std::string& arch, CUstream stream);

}  // namespace attnjit::detail
