// The CUDA driver, opened with dlopen("libcuda.so.1") at first use and its entry points fetched with
// cuGetProcAddress: nothing links libcuda, so every binary starts on a machine without a GPU, and a
// launch there fails with a clear Error{no_driver}.
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>

#include <string>

#include "runtime/error.hpp"

namespace attnjit::detail {

// Each entry point with the ABI version whose prototype we call. Versions are pinned, never "the
// newest": asked for version 13000, the driver returns cuCtxGetDevice's two-argument CUDA 13 variant
// (PFN_cuCtxGetDevice_v13000) although cuda.h still declares the one-argument one.
#define ATTNJIT_DRIVER_FUNCTIONS(X)                                                                        \
  X(cuInit, 2000) X(cuDriverGetVersion, 2020) X(cuDeviceGetCount, 2000) X(cuDeviceGet, 2000)              \
  X(cuDeviceGetName, 2000) X(cuDeviceGetAttribute, 2000) X(cuDeviceTotalMem, 3020)                        \
  X(cuCtxGetCurrent, 4000) X(cuCtxSetCurrent, 4000) X(cuCtxGetDevice, 2000) X(cuCtxSynchronize, 2000)     \
  X(cuDevicePrimaryCtxRetain, 7000) X(cuModuleLoadData, 2000) X(cuModuleUnload, 2000)                     \
  X(cuModuleGetFunction, 2000) X(cuFuncSetAttribute, 9000) X(cuFuncGetAttribute, 2020)                    \
  X(cuLaunchKernel, 4000) X(cuGetErrorName, 6000) X(cuGetErrorString, 6000) X(cuMemAlloc, 3020)           \
  X(cuMemFree, 3020) X(cuMemcpyHtoD, 3020) X(cuMemcpyDtoH, 3020) X(cuMemcpyDtoD, 3020) X(cuMemsetD8, 3020)                      \
  X(cuMemsetD8Async, 3020) X(cuMemGetInfo, 3020) X(cuStreamCreate, 2000) X(cuStreamDestroy, 4000)         \
  X(cuStreamSynchronize, 2000) X(cuEventCreate, 2000) X(cuEventDestroy, 4000) X(cuEventRecord, 2000)      \
  X(cuEventSynchronize, 2000) X(cuEventElapsedTime, 2000) X(cuTensorMapEncodeTiled, 12000)

struct DriverApi {
#define ATTNJIT_DECLARE(fn, abi) PFN_##fn##_v##abi fn = nullptr;
  ATTNJIT_DRIVER_FUNCTIONS(ATTNJIT_DECLARE)
#undef ATTNJIT_DECLARE
};

// Loads and initializes the driver once per process. Throws Error{no_driver} saying why (no libcuda,
// no GPU, a driver too old) and what still works without one.
const DriverApi& driver();

// Whether driver() would succeed; `why` gets the reason when it would not. Never throws.
bool driver_available(std::string* why = nullptr);

std::string cu_error_string(CUresult status);

// The calling thread's current context; if it has none, device 0's primary context (what the CUDA
// runtime and PyTorch use) is retained and made current.
CUcontext current_context();

}  // namespace attnjit::detail

#define ATTNJIT_CU_CHECK(call) \
  ATTNJIT_CHECK_GEN(call, CUDA_SUCCESS, ::attnjit::detail::cu_error_string, ::attnjit::ErrorCode::driver)
