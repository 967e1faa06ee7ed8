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
#include "cache/store.hpp"

namespace attnjit::detail {

struct DeviceInfo {
  std::string name;
  std::string arch;  // "sm_90"
  int sm_count = 0;
  int max_smem_per_block = 0;  // with opt-in
  cache::Environment environment;  // what a tuned winner must match to be used here
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
  std::vector<KernelChoice> choices;    // which kernel runs at each step, and why
};

// `spec` loaded in `context` with its launch shape; invalid_argument naming `problem` (a description) when
// the kernel needs more shared memory than the device has.
KernelLaunch resolve(KernelCache& cache, const KernelSpec& spec, const LaunchShape& shape, const std::string& problem,
                     CUcontext context, const DeviceInfo& device);

// Validates the problem, chooses its configs (choose_mta_configs: a pin, else the current environment's
// tuned winner, else the heuristic), then compiles or loads every kernel (throws Error with the reason).
std::unique_ptr<MtaPlan> make_mta_plan(KernelCache& cache, const MtaProblem& problem, CUcontext context,
                                       const DeviceInfo& device);
// The same with the configs given (the tuner's worker runs its candidates this way).
std::unique_ptr<MtaPlan> make_mta_plan(KernelCache& cache, const MtaProblem& problem, const MtaConfigs& configs,
                                       CUcontext context, const DeviceInfo& device);

// Fetches or compiles the binaries of `specs` in parallel (NVRTC is thread-safe); a cold plan's
// kernels then cost one compile's latency, not four or five.
void prefetch(KernelCache& cache, const std::vector<KernelSpec>& specs, const std::string& arch);

// The forward's kernel parameters for `args` (no checks: Runtime::mta_forward checks the pointers).
MtaParams forward_params(const MtaProblem& problem, const MtaForwardArgs& args);

// The backward's kernel parameters for `args` under `plan` (its weight slots and workspace layout).
MtaParams backward_params(const MtaPlan& plan, const MtaBackwardArgs& args);

// The loaded kernel of `kind` in the plan (the tuner times one kernel at a time).
const KernelLaunch& launch_of(const MtaPlan& plan, KernelKind kind);

void launch(const KernelLaunch& kernel, const MtaParams& params, CUstream stream);

}  // namespace attnjit::detail
