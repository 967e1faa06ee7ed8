// An NaPlan is a neighborhood-attention problem resolved once: its three kernels loaded in one context with
// their launch shapes. Launching is filling NaParams and cuLaunchKernel.
#pragma once

#include <memory>
#include <vector>

#include "na_params.h"
#include "runtime/mta_plan.hpp"  // DeviceInfo, KernelLaunch, resolve, prefetch
#include "tuner/na_heuristics.hpp"

namespace attnjit::detail {

struct NaPlan {
  NaProblem problem;
  NaConfigs configs;
  KernelLaunch forward, backward_query, backward_key, backward_fused;  // only those configs.fused() runs
  std::size_t workspace_bytes = 0;
  std::vector<KernelChoice> choices;  // which kernel runs at each step, and why
};

// Validates the problem, chooses its configs (choose_na_configs: a pin, else the current environment's tuned
// winner, else the heuristic), then loads its kernels.
std::unique_ptr<NaPlan> make_na_plan(KernelCache& cache, const NaProblem& problem, CUcontext context,
                                     const DeviceInfo& device);
// The same with the configs given (each checked with check_na_config).
std::unique_ptr<NaPlan> make_na_plan(KernelCache& cache, const NaProblem& problem, const NaConfigs& configs,
                                     CUcontext context, const DeviceInfo& device);

// The forward's parameters under `plan`. Where its kernel takes tensor maps (the warpgroup forward where
// na_forward_wgmma_tma holds), those of args.key and args.value too: two cuTensorMapEncodeTiled calls,
// host-side only; a map holds the tensor's address, so it is made per call.
NaParams na_forward_params(const NaPlan& plan, const NaForwardArgs& args);
NaParams na_backward_params(const NaProblem& problem, const NaBackwardArgs& args);

void launch(const KernelLaunch& kernel, const NaParams& params, CUstream stream);
// The backward: the fused kernel, or the query gradient (which writes delta) and then the key gradient.
void launch_backward(const NaPlan& plan, const NaParams& params, CUstream stream);

}  // namespace attnjit::detail
