#include "runtime/driver.hpp"

#include <dlfcn.h>

#include <fmt/format.h>

namespace attnjit::detail {

namespace {

constexpr const char* kWithoutDriver =
    "Kernels cannot run here; generating and compiling for a named arch (attnjit compile --arch sm_90) "
    "and the cache commands still work";

using GetProcAddress = CUresult (*)(const char*, void**, int, cuuint64_t, CUdriverProcAddressQueryResult*);

struct Loaded {
  DriverApi api;
  std::string error;  // empty when loaded
};

Loaded load_driver() {
  Loaded loaded;
  void* handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    loaded.error = fmt::format("no CUDA driver: dlopen(libcuda.so.1) failed ({}). {}", dlerror(), kWithoutDriver);
    return loaded;
  }
  auto get_proc = reinterpret_cast<GetProcAddress>(dlsym(handle, "cuGetProcAddress_v2"));
  if (get_proc == nullptr) {
    loaded.error = "the CUDA driver is too old: it lacks cuGetProcAddress_v2 (CUDA 12.5); install a CUDA 13 driver";
    return loaded;
  }
#define ATTNJIT_FETCH(fn, abi)                                                                          \
  {                                                                                                     \
    CUdriverProcAddressQueryResult found{};                                                            \
    void* pfn = nullptr;                                                                                \
    if (get_proc(#fn, &pfn, abi, CU_GET_PROC_ADDRESS_DEFAULT, &found) != CUDA_SUCCESS || !pfn) {        \
      loaded.error = fmt::format("the CUDA driver lacks {} (ABI {}); update the driver", #fn, abi);       \
      return loaded;                                                                                      \
    }                                                                                                     \
    loaded.api.fn = reinterpret_cast<decltype(loaded.api.fn)>(pfn);                                       \
  }
  ATTNJIT_DRIVER_FUNCTIONS(ATTNJIT_FETCH)
#undef ATTNJIT_FETCH
  const CUresult init = loaded.api.cuInit(0);
  if (init != CUDA_SUCCESS) {
    const char* text = nullptr;
    loaded.api.cuGetErrorString(init, &text);
    loaded.error = fmt::format("no usable GPU: cuInit failed ({}). {}", text ? text : "unknown", kWithoutDriver);
    return loaded;
  }
  int devices = 0;
  if (loaded.api.cuDeviceGetCount(&devices) != CUDA_SUCCESS || devices == 0) {
    loaded.error = fmt::format("no GPU found (the driver reports 0 devices). {}", kWithoutDriver);
  }
  return loaded;
}

const Loaded& loaded_driver() {
  static const Loaded loaded = load_driver();  // thread-safe, once per process
  return loaded;
}

}  // namespace

const DriverApi& driver() {
  const Loaded& loaded = loaded_driver();
  if (!loaded.error.empty()) raise(ErrorCode::no_driver, loaded.error);
  return loaded.api;
}

bool driver_available(std::string* why) {
  const Loaded& loaded = loaded_driver();
  if (why != nullptr) *why = loaded.error;
  return loaded.error.empty();
}

std::string cu_error_string(CUresult status) {
  const Loaded& loaded = loaded_driver();
  const char* name = nullptr;
  const char* text = nullptr;
  if (loaded.api.cuGetErrorName != nullptr) loaded.api.cuGetErrorName(status, &name);
  if (loaded.api.cuGetErrorString != nullptr) loaded.api.cuGetErrorString(status, &text);
  return fmt::format("{} ({}): {}", name ? name : "CUDA error", static_cast<int>(status), text ? text : "no description");
}

CUcontext current_context() {
  const DriverApi& cu = driver();
  CUcontext context = nullptr;
  ATTNJIT_CU_CHECK(cu.cuCtxGetCurrent(&context));
  if (context != nullptr) return context;
  CUdevice device = 0;
  ATTNJIT_CU_CHECK(cu.cuDeviceGet(&device, 0));
  ATTNJIT_CU_CHECK(cu.cuDevicePrimaryCtxRetain(&context, device));
  ATTNJIT_CU_CHECK(cu.cuCtxSetCurrent(context));
  return context;
}

}  // namespace attnjit::detail
