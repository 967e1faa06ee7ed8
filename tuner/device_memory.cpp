#include "tuner/device_memory.hpp"

#include <cstring>
#include <utility>

#include "runtime/driver.hpp"

namespace attnjit::detail {

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
  current_context();  // a context for the allocation, as the runtime will use
  if (bytes > 0) ATTNJIT_CU_CHECK(driver().cuMemAlloc(&ptr_, bytes));
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != 0) driver().cuMemFree(ptr_);  // never throws: a failed free at teardown is moot
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, 0)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  std::swap(ptr_, other.ptr_);
  std::swap(bytes_, other.bytes_);
  return *this;
}

void DeviceBuffer::upload(const std::vector<std::uint8_t>& data) {
  if (data.size() != bytes_) raise(ErrorCode::internal, "DeviceBuffer::upload: size mismatch");
  if (bytes_ > 0) ATTNJIT_CU_CHECK(driver().cuMemcpyHtoD(ptr_, data.data(), bytes_));
}

std::vector<std::uint8_t> DeviceBuffer::download() const {
  std::vector<std::uint8_t> data(bytes_);
  if (bytes_ > 0) ATTNJIT_CU_CHECK(driver().cuMemcpyDtoH(data.data(), ptr_, bytes_));
  return data;
}

void DeviceBuffer::fill(std::uint8_t byte) {
  if (bytes_ > 0) ATTNJIT_CU_CHECK(driver().cuMemsetD8(ptr_, byte, bytes_));
}

DeviceBuffer DeviceBuffer::copy() const {
  DeviceBuffer other(bytes_);
  if (bytes_ > 0) ATTNJIT_CU_CHECK(driver().cuMemcpyDtoD(other.ptr_, ptr_, bytes_));
  return other;
}

namespace {

std::uint16_t to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return static_cast<std::uint16_t>(u >> 16);
}

float from_bf16(std::uint16_t h) {
  const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

template <class T>
void put(std::vector<std::uint8_t>& out, std::size_t i, T v) {
  std::memcpy(out.data() + i * sizeof(T), &v, sizeof(T));
}

template <class T>
T get(const std::vector<std::uint8_t>& in, std::size_t i) {
  T v;
  std::memcpy(&v, in.data() + i * sizeof(T), sizeof(T));
  return v;
}

}  // namespace

std::vector<std::uint8_t> encode(DType dtype, const std::vector<double>& values) {
  std::vector<std::uint8_t> out(values.size() * size_of(dtype));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float f = static_cast<float>(values[i]);
    switch (dtype) {
      case DType::f32: put(out, i, f); break;
      case DType::f16: put(out, i, static_cast<_Float16>(f)); break;  // IEEE round to nearest even
      case DType::bf16: put(out, i, to_bf16(f)); break;
    }
  }
  return out;
}

std::vector<double> decode(DType dtype, const std::vector<std::uint8_t>& bytes) {
  const std::size_t n = bytes.size() / size_of(dtype);
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::f32: out[i] = get<float>(bytes, i); break;
      case DType::f16: out[i] = static_cast<float>(get<_Float16>(bytes, i)); break;
      case DType::bf16: out[i] = from_bf16(get<std::uint16_t>(bytes, i)); break;
    }
  }
  return out;
}

double round_to(DType dtype, double value) { return decode(dtype, encode(dtype, {value}))[0]; }

}  // namespace attnjit::detail
