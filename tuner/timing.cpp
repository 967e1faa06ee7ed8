#include "tuner/timing.hpp"

#include <algorithm>
#include <memory>
#include <vector>

#include "runtime/driver.hpp"
#include "tuner/device_memory.hpp"

namespace attnjit::detail {

namespace {

struct EventDeleter {
  void operator()(CUevent event) const noexcept { driver().cuEventDestroy(event); }
};
using Event = std::unique_ptr<std::remove_pointer_t<CUevent>, EventDeleter>;

Event make_event() {
  CUevent event = nullptr;
  ATTNJIT_CU_CHECK(driver().cuEventCreate(&event, CU_EVENT_DEFAULT));
  return Event(event);
}

std::size_t l2_bytes() {
  const DriverApi& cu = driver();
  CUdevice device = 0;
  ATTNJIT_CU_CHECK(cu.cuCtxGetDevice(&device));
  int bytes = 0;
  ATTNJIT_CU_CHECK(cu.cuDeviceGetAttribute(&bytes, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, device));
  return static_cast<std::size_t>(bytes);
}

double percentile(const std::vector<double>& sorted, double q) {
  const std::size_t i = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

TimingStats time_on_device(const std::function<void(CUstream)>& run, CUstream stream, const TimingOptions& options) {
  const DriverApi& cu = driver();
  DeviceBuffer flush(options.flush_l2 ? 2 * l2_bytes() : 0);
  for (int i = 0; i < options.warmup; ++i) run(stream);
  Event start = make_event(), stop = make_event();
  std::vector<double> samples;
  for (int i = 0; i < options.repetitions; ++i) {
    if (flush.bytes() > 0) ATTNJIT_CU_CHECK(cu.cuMemsetD8Async(reinterpret_cast<CUdeviceptr>(flush.get()), i & 0xff, flush.bytes(), stream));
    ATTNJIT_CU_CHECK(cu.cuEventRecord(start.get(), stream));
    run(stream);
    ATTNJIT_CU_CHECK(cu.cuEventRecord(stop.get(), stream));
    ATTNJIT_CU_CHECK(cu.cuEventSynchronize(stop.get()));
    float ms = 0;
    ATTNJIT_CU_CHECK(cu.cuEventElapsedTime(&ms, start.get(), stop.get()));
    samples.push_back(1000.0 * ms);
  }
  return summarize(std::move(samples));
}

TimingStats summarize(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  TimingStats stats;
  stats.count = static_cast<int>(samples.size());
  if (!samples.empty()) {
    stats.median_us = percentile(samples, 0.5);
    stats.p20_us = percentile(samples, 0.2);
    stats.p80_us = percentile(samples, 0.8);
    stats.min_us = samples.front();
  }
  stats.samples = std::move(samples);
  return stats;
}

}  // namespace attnjit::detail
