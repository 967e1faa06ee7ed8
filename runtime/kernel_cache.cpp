#include "runtime/kernel_cache.hpp"

#include <fmt/format.h>

#include <chrono>

#include "generator/render.hpp"
#include "runtime/driver.hpp"
#include "runtime/log.hpp"
#include "runtime/nvrtc.hpp"

namespace attnjit::detail {

const char* to_string(BinarySource source) {
  switch (source) {
    case BinarySource::memory: return "memory";
    case BinarySource::store: return "store";
    case BinarySource::nvrtc: return "nvrtc";
  }
  return "?";
}

struct KernelCache::Module {
  CUmodule module = nullptr;
  CUfunction function = nullptr;
  ~Module() {
    if (module != nullptr && driver_available()) driver().cuModuleUnload(module);  // errors at exit are moot
  }
};

KernelCache::KernelCache(const RuntimeOptions& options) {
  if (options.cache_mode == CacheMode::off) return;
  const std::string path = cache::Store::path_or_default(options.cache_path);
  const auto mode = options.cache_mode == CacheMode::read_only ? cache::OpenMode::read_only : cache::OpenMode::read_write;
  store_ = std::make_unique<cache::Store>(path, mode);
}

KernelCache::~KernelCache() = default;

std::string KernelCache::store_path() const { return store_ ? store_->path() : std::string(); }

RuntimeStats KernelCache::stats() const {
  return {compiles_.load(), store_hits_.load(), module_loads_.load(), plans_.load()};
}

Binary KernelCache::binary(const KernelSpec& spec, const std::string& arch) {
  const auto id = std::make_pair(name(spec), arch);
  std::promise<Binary> promise;
  std::shared_future<Binary> future;
  bool builder = false;
  {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = binaries_.try_emplace(id);
    if (inserted) it->second = promise.get_future().share();
    builder = inserted;
    future = it->second;
  }
  if (!builder) {  // another caller has it or is building it: wait, and share its result or its error
    Binary binary = future.get();
    binary.source = BinarySource::memory;
    return binary;
  }
  try {
    BinarySource source = BinarySource::nvrtc;
    auto record = fetch_or_compile(spec, arch, source);
    promise.set_value({std::move(record), source});
  } catch (...) {
    promise.set_exception(std::current_exception());
    std::lock_guard lock(mutex_);
    binaries_.erase(id);  // waiters already hold the error; a later call tries again
  }
  return future.get();
}

std::shared_ptr<const cache::KernelRecord> KernelCache::fetch_or_compile(const KernelSpec& spec,
                                                                         const std::string& arch,
                                                                         BinarySource& source) {
  const RenderedKernel rendered = render(spec);
  const TemplateSet& set = templates();
  std::string why;
  const std::string nvrtc = nvrtc_version(&why);
  if (nvrtc.empty()) {  // no toolkit: any NVRTC's binary of this very source will do
    if (store_) {
      std::lock_guard lock(store_mutex_);
      if (auto record = store_->find_kernel_compiled_elsewhere(rendered.name, arch, version(), source_sha256(rendered, set))) {
        store_hits_.fetch_add(1);
        source = BinarySource::store;
        return std::make_shared<const cache::KernelRecord>(std::move(*record));
      }
    }
    raise(ErrorCode::no_compiler, fmt::format("{} for {} is not in the store ({}) and cannot be compiled: {}", rendered.name,
                                              arch, store_ ? store_->path() : "disabled", why));
  }
  const CompileTarget target{arch, nvrtc};
  const std::string kernel_key = key(rendered, target, set);
  if (store_) {
    std::lock_guard lock(store_mutex_);
    if (auto record = store_->find_kernel(kernel_key)) {
      store_hits_.fetch_add(1);
      source = BinarySource::store;
      return std::make_shared<const cache::KernelRecord>(std::move(*record));
    }
  }
  CompiledKernel compiled = compile(rendered, target, set);  // outside every lock: compiles run in parallel
  compiles_.fetch_add(1);
  source = BinarySource::nvrtc;
  cache::KernelRecord record;
  record.key = kernel_key;
  record.name = rendered.name;
  record.lowered_name = compiled.lowered_name;
  record.arch = arch;
  record.nvrtc_version = nvrtc;
  record.attnjit_version = version();
  record.source_sha256 = source_sha256(rendered, set);
  record.spec_json = rendered.spec_json;
  record.options = fmt::format("{}", fmt::join(nvrtc_options(rendered, target), " "));
  record.cubin = std::move(compiled.cubin);
  record.compile_seconds = compiled.seconds;
  if (store_) {
    std::lock_guard lock(store_mutex_);
    store_->put_kernel(record);  // insert-or-ignore: a racing process's identical binary is kept
  }
  return std::make_shared<const cache::KernelRecord>(std::move(record));
}

CUfunction KernelCache::function(const KernelSpec& spec, CUcontext context, const std::string& arch,
                                 unsigned smem_bytes) {
  const auto id = std::make_pair(context, name(spec));
  {
    std::lock_guard lock(mutex_);
    if (auto it = modules_.find(id); it != modules_.end()) return it->second->function;
  }
  const Binary binary = this->binary(spec, arch);
  std::lock_guard lock(mutex_);
  if (auto it = modules_.find(id); it != modules_.end()) return it->second->function;
  const DriverApi& cu = driver();
  auto module = std::make_unique<Module>();
  ATTNJIT_CU_CHECK(cu.cuModuleLoadData(&module->module, binary.record->cubin.data()));
  module_loads_.fetch_add(1);
  ATTNJIT_CU_CHECK(cu.cuModuleGetFunction(&module->function, module->module, binary.record->lowered_name.c_str()));
  constexpr unsigned kDefaultSmemLimit = 48 * 1024;  // above this a kernel must opt in
  if (smem_bytes > kDefaultSmemLimit) {
    ATTNJIT_CU_CHECK(cu.cuFuncSetAttribute(module->function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                           static_cast<int>(smem_bytes)));
  }
  CUfunction function = module->function;
  modules_.emplace(id, std::move(module));
  return function;
}

std::vector<cache::TunedRecord> KernelCache::tuned(const std::string& problem_key, KernelKind kind) {
  if (!store_) return {};
  std::lock_guard lock(store_mutex_);
  return store_->find_tuned(problem_key, to_string(kind));
}

}  // namespace attnjit::detail
