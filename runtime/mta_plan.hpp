// An MtaPlan is a problem resolved once: its kernels (four or five) loaded in one context, with their
// launch shapes and the backward's workspace size. Launching a plan is building MtaParams and cuLaunchKernel.
#pragma once

#include <cuda.h>

#include <memory>
#include <string>
#include <vector>

#include "generator/kernel_spec.hpp"
#include "mta_params.h"
#include "runtime/kernel_cache.hpp"
#include "tuner/mta_heuristics.hpp"

namespace attnjit::detail {

struct DeviceInfo {
  std::string name;
  std::string arch;  // "sm_90"
  int sm_count = 0;
  int max_smem_per_block = 0;  // with opt-in
};

DeviceInfo device_info(CUcontext context);

struct KernelLaunch {
  CUfunction function = nullptr;
  LaunchShape shape;
};

struct MtaPlan {
  MtaProblem problem;
  MtaConfigs configs;
  KernelLaunch row_stats, forward, backward_input, reduce_weight;
  KernelLaunch backward_weight;  // function null when the input-gradient kernel computes the partials
  int weight_slots = 0;          // slots of weight-gradient partials (MtaParams::weight_slots)
  std::size_t workspace_bytes = 0;
  std::size_t partial_bias_offset = 0;  // floats into the workspace: weight partials first, then bias
};

// Validates the problem, then compiles or loads every kernel (throws Error with the reason).
std::unique_ptr<MtaPlan> make_mta_plan(KernelCache& cache, const MtaProblem& problem, CUcontext context,
                                       const DeviceInfo& device);

// Fetches or compiles the binaries of `specs` in parallel (NVRTC is thread-safe); a cold plan's
// kernels then cost one compile's latency, not four or five.
void prefetch(KernelCache& cache, const std::vector<KernelSpec>& specs, const std::string& arch);

// The forward's kernel parameters for `args` (no checks: Runtime::mta_forward checks the pointers).
MtaParams forward_params(const MtaProblem& problem, const MtaForwardArgs& args);

void launch(const KernelLaunch& kernel, const MtaParams& params, CUstream stream);

}  // namespace attnjit::detail
