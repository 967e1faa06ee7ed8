// The environment a tuned winner holds for (DESIGN.md "Two scopes of validity"): the GPU, its SM count and
// arch, the driver, NVRTC and attnjit. Measured once per device; the runtime, `attnjit tune` and `attnjit
// cache explain` all ask here, so that a winner stored by one is recognized by the others.
#pragma once

#include <string>

#include "cache/store.hpp"

namespace attnjit::detail {

// The driver's version as nvidia-smi prints it ("580.159.04"), from NVML when libnvidia-ml.so.1 is there
// (it ships with every driver); else the CUDA version the driver API reports ("CUDA 13.0"). Never throws.
std::string driver_version_string();

cache::Environment make_environment(const std::string& gpu_name, int sm_count, const std::string& arch);

}  // namespace attnjit::detail
