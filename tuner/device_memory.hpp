// Device buffers and host-side dtype conversion, for verification and timing (tuner, bench, tests).
#pragma once

#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "attnjit/attnjit.hpp"

namespace attnjit::detail {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes);  // cuMemAlloc in the current context
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;

  void* get() const { return reinterpret_cast<void*>(ptr_); }
  std::size_t bytes() const { return bytes_; }
  void upload(const std::vector<std::uint8_t>& data);
  std::vector<std::uint8_t> download() const;
  void fill(std::uint8_t byte);  // 0xFF poisons every float type with NaN
  DeviceBuffer copy() const;     // a new buffer with the same bytes (device to device)

 private:
  CUdeviceptr ptr_ = 0;
  std::size_t bytes_ = 0;
};

// Host values to the dtype's bytes (round to nearest even) and back; round_to(dtype, v) is what the
// device will see, so that references are computed on exactly the kernels' inputs.
std::vector<std::uint8_t> encode(DType dtype, const std::vector<double>& values);
std::vector<double> decode(DType dtype, const std::vector<std::uint8_t>& bytes);
double round_to(DType dtype, double value);

}  // namespace attnjit::detail
