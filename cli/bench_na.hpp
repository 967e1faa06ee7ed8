// attnjit bench's neighborhood-attention half (bench_na.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include "cli/problem_args.hpp"

namespace attnjit::cli {

struct NaBenchOptions {
  int warmup = 5, repetitions = 50;
  std::uint64_t seed = 1;
  bool verify = true;
};

nlohmann::json to_json(const NaProblem& problem);

// {"name", "problem", "verify", "forward": {median_us, ..., floor_us, x_floor, useful_tflops}, "backward": ...,
// "extra_memory_bytes"}: the same shape as an mta result, plus the FLOP rate and the extra memory.
nlohmann::json bench_na_one(Runtime& runtime, const NamedNaProblem& problem, const NaBenchOptions& options);

}  // namespace attnjit::cli
