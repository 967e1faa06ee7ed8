#include "runtime/environment.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include "runtime/driver.hpp"
#include "runtime/nvrtc.hpp"

namespace attnjit::detail {

namespace {

// NVML's three entry points we need, by their C signatures (nvmlReturn_t is an int; 0 is success).
std::string nvml_driver_version() {
  void* nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (nvml == nullptr) return {};
  using Init = int (*)();
  using GetVersion = int (*)(char*, unsigned);
  auto init = reinterpret_cast<Init>(dlsym(nvml, "nvmlInit_v2"));
  auto get_version = reinterpret_cast<GetVersion>(dlsym(nvml, "nvmlSystemGetDriverVersion"));
  auto shutdown = reinterpret_cast<Init>(dlsym(nvml, "nvmlShutdown"));
  std::string version;
  if (init != nullptr && get_version != nullptr && shutdown != nullptr && init() == 0) {
    char text[96] = {};
    if (get_version(text, sizeof text) == 0) version = text;
    shutdown();
  }
  dlclose(nvml);
  return version;
}

}  // namespace

std::string driver_version_string() {
  static const std::string version = [] {
    std::string v = nvml_driver_version();
    if (!v.empty()) return v;
    int cuda = 0;
    if (!driver_available() || driver().cuDriverGetVersion(&cuda) != CUDA_SUCCESS) return std::string("unknown");
    return fmt::format("CUDA {}.{}", cuda / 1000, cuda % 1000 / 10);
  }();
  return version;
}

cache::Environment make_environment(const std::string& gpu_name, int sm_count, const std::string& arch) {
  return {gpu_name, sm_count, arch, driver_version_string(), nvrtc_version(), version()};
}

}  // namespace attnjit::detail
