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
  bool forward_tma = false;  // the forward takes tensor maps of key and value (na_forward_wgmma_tma)
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

NaParams na_forward_params(const NaProblem& problem, const NaForwardArgs& args);
NaParams na_backward_params(const NaProblem& problem, const NaBackwardArgs& args);

void launch(const KernelLaunch& kernel, const NaParams& params, CUstream stream);
// The forward: where it takes tensor maps, encodes those of params.key and params.value first (two
// cuTensorMapEncodeTiled calls, host-side only; a map holds the tensor's address, so it is made per call).
void launch_forward(const NaPlan& plan, NaParams params, CUstream stream);
// The backward: the fused kernel, or the query gradient (which writes delta) and then the key gradient.
void launch_backward(const NaPlan& plan, const NaParams& params, CUstream stream);

}  // namespace attnjit::detail
