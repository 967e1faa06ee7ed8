// NVRTC, opened with dlopen at first use (like the driver): a deployment whose store already holds
// its kernels needs no CUDA toolkit. Compiles a rendered kernel straight to CUBIN for one sm_XX, with
// the templates supplied as in-memory headers: no CUDA include directory is read at run time.
#pragma once

#include <nvrtc.h>

#include <string>
#include <vector>

#include "generator/render.hpp"
#include "generator/templates.hpp"

namespace attnjit::detail {

// "13.0", or empty with `why` set when NVRTC cannot be loaded. Never throws.
std::string nvrtc_version(std::string* why = nullptr);

// Where libnvrtc was found ("libnvrtc.so.13" via the loader path, or a full path).
std::string nvrtc_library();

// The CUDA toolkit folders looked in, in order: $CUDA_HOME, $CUDA_PATH, /usr/local/cuda, /usr/local/cuda-13.0
// (NVRTC is searched in their lib64/ after the loader path).
std::vector<std::string> cuda_toolkit_roots();

struct CompiledKernel {
  std::vector<char> cubin;
  std::string lowered_name;
  std::string log;  // NVRTC's warnings, if any
  double seconds = 0;
};

// Throws Error{no_compiler} when NVRTC is missing and Error{compile} with the log, the options and
// the kernel name when NVRTC rejects the source.
CompiledKernel compile(const RenderedKernel& kernel, const CompileTarget& target, const TemplateSet& templates);

}  // namespace attnjit::detail
