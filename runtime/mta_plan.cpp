#include "runtime/mta_plan.hpp"

#include <fmt/format.h>

#include <future>
#include <vector>

#include "runtime/driver.hpp"
#include "runtime/environment.hpp"
#include "tuner/mta_choice.hpp"

namespace attnjit::detail {

DeviceInfo device_info(CUcontext context) {
  const DriverApi& cu = driver();
  ATTNJIT_CU_CHECK(cu.cuCtxSetCurrent(context));
  CUdevice device = 0;
  ATTNJIT_CU_CHECK(cu.cuCtxGetDevice(&device));
  auto attribute = [&](CUdevice_attribute a) {
    int value = 0;
    ATTNJIT_CU_CHECK(cu.cuDeviceGetAttribute(&value, a, device));
    return value;
  };
  DeviceInfo info;
  char name[256] = {};
  ATTNJIT_CU_CHECK(cu.cuDeviceGetName(name, sizeof name, device));
  info.name = name;
  info.arch = fmt::format("sm_{}{}", attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                          attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));
  info.sm_count = attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
  info.max_smem_per_block = attribute(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
  info.environment = make_environment(info.name, info.sm_count, info.arch);
  return info;
}

KernelLaunch resolve(KernelCache& cache, const KernelSpec& spec, const LaunchShape& shape,
                     const std::string& problem, CUcontext context, const DeviceInfo& device) {
  if (shape.smem_bytes > static_cast<unsigned>(device.max_smem_per_block)) {
    raise_invalid("{}: {} needs {} bytes of shared memory per block; {} allows {}. Use a smaller kernel, "
                  "stride or dilation", problem, name(spec), shape.smem_bytes, device.name,
                  device.max_smem_per_block);
  }
  return {cache.function(spec, context, device.arch, shape.smem_bytes), shape};
}

namespace {

KernelLaunch resolve(KernelCache& cache, const KernelSpec& spec, const MtaProblem& problem, CUcontext context,
                     const DeviceInfo& device) {
  return resolve(cache, spec, launch_shape(spec, problem), describe(problem), context, device);
}

}  // namespace

void prefetch(KernelCache& cache, const std::vector<KernelSpec>& specs, const std::string& arch) {
  std::vector<std::future<Binary>> pending;
  for (const KernelSpec& spec : specs) {
    pending.push_back(std::async(std::launch::async, [&cache, &arch, spec] { return cache.binary(spec, arch); }));
  }
  for (auto& binary : pending) binary.get();  // rethrows the first compile error
}

std::unique_ptr<MtaPlan> make_mta_plan(KernelCache& cache, const MtaProblem& problem, CUcontext context,
                                       const DeviceInfo& device) {
  validate(problem);
  MtaConfigChoice choice = choose_mta_configs(
      problem, [&](const std::string& key, KernelKind kind) { return cache.tuned(key, kind); }, device.environment);
  auto plan = make_mta_plan(cache, problem, choice.configs, context, device);
  plan->choices = std::move(choice.choices);
  return plan;
}

std::unique_ptr<MtaPlan> make_mta_plan(KernelCache& cache, const MtaProblem& problem, const MtaConfigs& configs,
                                       CUcontext context, const DeviceInfo& device) {
  validate(problem);
  auto plan = std::make_unique<MtaPlan>();
  plan->problem = problem;
  plan->configs = configs;
  const MtaKernelSpecs specs = mta_kernel_specs(problem, plan->configs);
  prefetch(cache, in_launch_order(specs), device.arch);
  plan->row_stats = resolve(cache, specs.row_stats, problem, context, device);
  plan->forward = resolve(cache, specs.forward, problem, context, device);
  plan->backward_input = resolve(cache, specs.backward_input, problem, context, device);
  if (!mta_weight_grad_fused(problem)) {
    plan->backward_weight = resolve(cache, specs.backward_weight, problem, context, device);
  }
  plan->reduce_weight = resolve(cache, specs.reduce_weight, problem, context, device);
  plan->weight_slots = mta_weight_slots(problem, plan->configs);
  plan->workspace_bytes = mta_workspace_bytes(problem, plan->configs);
  plan->partial_bias_offset =
      plan->workspace_bytes / 4 - static_cast<std::size_t>(plan->weight_slots) * problem.out_channels;
  cache.count_plan();
  return plan;
}

MtaParams forward_params(const MtaProblem& problem, const MtaForwardArgs& a) {
  MtaParams params{};
  params.scores = a.scores;
  params.weight = a.weight;
  params.bias = a.bias;
  params.out = a.out;
  params.row_stats = a.row_stats;
  params.batch = problem.batch;
  params.rows = static_cast<int>(mta_row_stats_elements(problem));
  return params;
}

MtaParams backward_params(const MtaPlan& plan, const MtaBackwardArgs& a) {
  MtaParams params{};
  params.scores = a.scores;
  params.weight = a.weight;
  params.row_stats = const_cast<float*>(a.row_stats);
  params.grad_out = a.grad_out;
  params.grad_scores = a.grad_scores;
  params.grad_weight = a.grad_weight;
  params.grad_bias = a.grad_bias;
  params.partial_weight = static_cast<float*>(a.workspace);
  params.partial_bias = params.partial_weight + plan.partial_bias_offset;
  params.batch = plan.problem.batch;
  params.rows = static_cast<int>(mta_row_stats_elements(plan.problem));
  params.weight_slots = plan.weight_slots;
  return params;
}

const KernelLaunch& launch_of(const MtaPlan& plan, KernelKind kind) {
  switch (kind) {
    case KernelKind::mta_row_stats: return plan.row_stats;
    case KernelKind::mta_forward: return plan.forward;
    case KernelKind::mta_backward_input: return plan.backward_input;
    case KernelKind::mta_backward_weight: return plan.backward_weight;
    case KernelKind::mta_reduce_weight: return plan.reduce_weight;
    default: break;  // not an mta kernel
  }
  return plan.forward;
}

void launch(const KernelLaunch& kernel, const MtaParams& params, CUstream stream) {
  void* args[] = {const_cast<MtaParams*>(&params)};
  const LaunchShape& s = kernel.shape;
  ATTNJIT_CU_CHECK(driver().cuLaunchKernel(kernel.function, s.grid_x, s.grid_y, s.grid_z, s.threads, 1, 1,
                                           s.smem_bytes, stream, args, nullptr));
}

}  // namespace attnjit::detail
