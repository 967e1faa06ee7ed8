// What both ops' benchmarks share (cmd_bench.cpp, bench_na.cpp): the bandwidth of the memory floor, random
// device inputs, and one timing as JSON against its floor.
#pragma once

#include <nlohmann/json.hpp>

#include <random>

#include "tuner/device_memory.hpp"
#include "tuner/timing.hpp"

namespace attnjit::cli {

constexpr double kBandwidth = 3.0e12;  // bytes/s: the floor DESIGN.md measures against (H100 HBM3, measured copy)

// n random normal values in dtype on the device (a 1 Mi-value block repeated: real data, not zeros, without
// spending seconds on the host RNG).
detail::DeviceBuffer random_buffer(DType dtype, std::size_t n, std::mt19937_64& rng);

// {median_us, p20_us, p80_us, min_us, count, floor_bytes, floor_us, x_floor}, and useful_tflops when flops > 0.
nlohmann::json timing_json(const detail::TimingStats& t, double floor_bytes, double flops = 0);

}  // namespace attnjit::cli
