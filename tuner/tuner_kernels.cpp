#include "tuner/tuner_kernels.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "generator/render.hpp"
#include "generator/templates.hpp"
#include "runtime/driver.hpp"
#include "runtime/nvrtc.hpp"

namespace attnjit::detail {

namespace {

constexpr int kGridBlocks = 1056;  // of the fill and the comparison: 8 per SM of an H100, plenty for any GPU's bandwidth

// One kernel of templates/tuner_kernels.cuh, compiled for arch and loaded into the current context. The
// module stays loaded for the process (a worker's lifetime).
CUfunction load_tuner_kernel(const std::string& name_expression, const std::string& arch) {
  const CompiledKernel compiled = compile_tuner_kernel(name_expression, arch);
  const DriverApi& cu = driver();
  current_context();
  CUmodule module = nullptr;
  ATTNJIT_CU_CHECK(cu.cuModuleLoadData(&module, compiled.cubin.data()));
  CUfunction function = nullptr;
  ATTNJIT_CU_CHECK(cu.cuModuleGetFunction(&function, module, compiled.lowered_name.c_str()));
  return function;
}

}  // namespace

CompiledKernel compile_tuner_kernel(const std::string& name_expression, const std::string& arch) {
  RenderedKernel kernel;
  kernel.name = "tuner_kernels";
  kernel.source = "#include \"tuner_kernels.cuh\"\n";
  kernel.name_expression = name_expression;
  kernel.options = {"--std=c++17"};
  return compile(kernel, {arch, nvrtc_version()}, templates());
}


std::string tuner_compare_kernel(DType dtype) { return fmt::format("attnjit::tuner_compare<{}>", device_type(dtype)); }
std::string tuner_fill_kernel(DType dtype) { return fmt::format("attnjit::tuner_fill_normal<{}>", device_type(dtype)); }

DeviceRandom::DeviceRandom(DType dtype, const std::string& arch)
    : dtype_(dtype), function_(load_tuner_kernel(tuner_fill_kernel(dtype), arch)) {}

DeviceBuffer DeviceRandom::normal(std::size_t elements, std::uint64_t seed) {
  DeviceBuffer buffer(elements * size_of(dtype_));
  if (elements == 0) return buffer;
  CUdeviceptr out = reinterpret_cast<CUdeviceptr>(buffer.get());
  long long n = static_cast<long long>(elements);
  unsigned long long s = seed;
  void* args[] = {&out, &n, &s};
  ATTNJIT_CU_CHECK(driver().cuLaunchKernel(function_, kGridBlocks, 1, 1, 256, 1, 1, 0, nullptr, args, nullptr));
  ATTNJIT_CU_CHECK(driver().cuCtxSynchronize());
  return buffer;
}

DeviceComparator::DeviceComparator(DType dtype, const std::string& arch)
    : dtype_(dtype),
      function_(load_tuner_kernel(tuner_compare_kernel(dtype), arch)),
      partials_(kGridBlocks * 4 * sizeof(double)) {}

Comparison DeviceComparator::compare(const DeviceBuffer& out, const DeviceBuffer& ref) {
  if (out.bytes() != ref.bytes()) raise(ErrorCode::internal, "DeviceComparator::compare: sizes differ");
  Comparison c;
  long long n = static_cast<long long>(ref.bytes() / size_of(dtype_));
  c.compared = static_cast<std::size_t>(n);
  c.limit = dtype_ == DType::f32 ? 1.0 : 1e-2;
  if (n == 0) return c;
  CUdeviceptr o = reinterpret_cast<CUdeviceptr>(out.get()), r = reinterpret_cast<CUdeviceptr>(ref.get());
  CUdeviceptr p = reinterpret_cast<CUdeviceptr>(partials_.get());
  void* args[] = {&o, &r, &n, &p};
  ATTNJIT_CU_CHECK(driver().cuLaunchKernel(function_, kGridBlocks, 1, 1, 256, 1, 1, 0, nullptr, args, nullptr));
  const std::vector<std::uint8_t> bytes = partials_.download();  // synchronizes
  std::vector<double> partials(kGridBlocks * 4);
  std::memcpy(partials.data(), bytes.data(), bytes.size());
  double diff2 = 0, ref2 = 0, max_relative = 0, nan = 0;
  for (int b = 0; b < kGridBlocks; ++b) {  // in block order: the same sums on every run
    diff2 += partials[4 * b];
    ref2 += partials[4 * b + 1];
    max_relative = std::max(max_relative, partials[4 * b + 2]);
    nan += partials[4 * b + 3];
  }
  c.nan_count = static_cast<std::size_t>(nan);
  c.error = dtype_ == DType::f32 ? max_relative : (ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2));
  return c;
}

void launch_spinning_kernel(const std::string& arch, CUstream stream) {
  static const CUfunction spin = load_tuner_kernel("attnjit::tuner_spin", arch);
  static DeviceBuffer flag(sizeof(int));  // never set: the kernel never ends
  flag.fill(0);
  CUdeviceptr flag_ptr = reinterpret_cast<CUdeviceptr>(flag.get());
  void* args[] = {&flag_ptr};
  ATTNJIT_CU_CHECK(driver().cuLaunchKernel(spin, 1, 1, 1, 1, 1, 1, 0, stream, args, nullptr));
}

}  // namespace attnjit::detail
