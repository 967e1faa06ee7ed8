// Resolves a KernelSpec to a binary and to a loaded CUfunction, each once:
//   memory -> SQLite store -> NVRTC compile (single-flight per key in this process) -> store.
// A key is computed only on this cold path; launches hold the CUfunction.
#pragma once

#include <cuda.h>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cache/store.hpp"
#include "generator/kernel_spec.hpp"

namespace attnjit::detail {

enum class BinarySource { memory, store, nvrtc };
const char* to_string(BinarySource source);

struct Binary {
  std::shared_ptr<const cache::KernelRecord> record;
  BinarySource source = BinarySource::memory;
};

class KernelCache {
 public:
  explicit KernelCache(const RuntimeOptions& options);
  ~KernelCache();

  // The cubin of `spec` for `arch` ("sm_90"); works without a GPU. Thread-safe.
  Binary binary(const KernelSpec& spec, const std::string& arch);

  // `spec` loaded into `context` (the current one), with its dynamic shared memory limit raised to
  // smem_bytes where that exceeds the default 48 KiB.
  CUfunction function(const KernelSpec& spec, CUcontext context, const std::string& arch, unsigned smem_bytes);

  RuntimeStats stats() const;
  void count_plan() { plans_.fetch_add(1, std::memory_order_relaxed); }
  std::string store_path() const;

  // The store's tuned winners of one kernel kind for a problem key, every environment's (none without a
  // store). Thread-safe; on the planning path only.
  std::vector<cache::TunedRecord> tuned(const std::string& problem_key, KernelKind kind);

 private:
  std::shared_ptr<const cache::KernelRecord> fetch_or_compile(const KernelSpec& spec, const std::string& arch,
                                                              BinarySource& source);

  std::unique_ptr<cache::Store> store_;  // null when options.cache_mode == off
  std::mutex mutex_;        // guards binaries_ and modules_
  std::mutex store_mutex_;  // one SQLite connection, one user at a time
  std::map<std::pair<std::string, std::string>, std::shared_future<Binary>> binaries_;  // (name, arch)
  struct Module;
  std::map<std::pair<CUcontext, std::string>, std::unique_ptr<Module>> modules_;  // (context, name)
  std::atomic<std::uint64_t> compiles_{0}, store_hits_{0}, module_loads_{0}, plans_{0};
};

}  // namespace attnjit::detail
