#include "cli/bench_common.hpp"

#include <algorithm>

namespace attnjit::cli {

detail::DeviceBuffer random_buffer(DType dtype, std::size_t n, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> block(std::min<std::size_t>(n, 1 << 20));
  for (double& v : block) v = normal(rng);
  std::vector<double> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = block[i % block.size()];
  detail::DeviceBuffer buffer(n * size_of(dtype));
  buffer.upload(detail::encode(dtype, values));
  return buffer;
}

nlohmann::json timing_json(const detail::TimingStats& t, double floor_bytes, double flops) {
  const double floor_us = floor_bytes / kBandwidth * 1e6;
  nlohmann::json j = {{"median_us", t.median_us}, {"p20_us", t.p20_us},         {"p80_us", t.p80_us},
                      {"min_us", t.min_us},       {"count", t.count},           {"floor_bytes", floor_bytes},
                      {"floor_us", floor_us},     {"x_floor", t.median_us / floor_us}};
  if (flops > 0) j["useful_tflops"] = flops / (t.median_us * 1e-6) / 1e12;
  return j;
}

}  // namespace attnjit::cli
