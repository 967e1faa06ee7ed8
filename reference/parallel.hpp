// The references' one concession to speed: independent work items spread over the machine's threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace attnjit::reference {

// Runs fn(item) for every item in [0, count), spread over the machine's threads. Each item must write only
// its own outputs and sum in a fixed order, so that results do not depend on the thread count.
inline void parallel_for(std::size_t count, const std::function<void(std::size_t)>& fn) {
  const std::size_t threads = std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()), count);
  if (threads <= 1) {
    for (std::size_t item = 0; item < count; ++item) fn(item);
    return;
  }
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&fn, t, threads, count] {
      for (std::size_t item = t; item < count; item += threads) fn(item);
    });
  }
  for (std::thread& thread : pool) thread.join();
}

}  // namespace attnjit::reference
