// Device timing the way DESIGN.md asks: events around the work only, warm-up first, L2 flushed
// before every repetition (a memset over twice the L2), median and spread over many repetitions.
#pragma once

#include <cuda.h>

#include <functional>
#include <vector>

namespace attnjit::detail {

struct TimingOptions {
  int warmup = 5;
  int repetitions = 50;
  bool flush_l2 = true;
};

struct TimingStats {
  double median_us = 0, p20_us = 0, p80_us = 0, min_us = 0;
  int count = 0;
  std::vector<double> samples;  // every repetition, sorted (the tuner pools them across rounds)
};

// Median, p20, p80 and min of samples in microseconds.
TimingStats summarize(std::vector<double> samples);

// Times run(stream) on `stream` (a stream of the current context).
TimingStats time_on_device(const std::function<void(CUstream)>& run, CUstream stream, const TimingOptions& options = {});

}  // namespace attnjit::detail
