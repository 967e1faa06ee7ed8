// What the emulated suites share: tensors converted to and from a kernel's storage type, and buffers poisoned
// with NaN. Include after the templates (it uses their from_float / to_float).
#pragma once

#include <cstring>
#include <vector>

namespace attnjit::testing {

template <class T>
std::vector<T> to_device(const std::vector<double>& v) {
  std::vector<T> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = from_float<T>(static_cast<float>(v[i]));
  return out;
}

template <class T>
std::vector<double> to_host(const std::vector<T>& v) {
  std::vector<double> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = to_float(v[i]);
  return out;
}

template <class T>
std::vector<T> poisoned(std::size_t n) {
  std::vector<T> v(n);
  std::memset(v.data(), 0xFF, n * sizeof(T));  // NaN in every float type
  return v;
}

}  // namespace attnjit::testing
