#include "runtime/na_plan.hpp"

#include "runtime/driver.hpp"
#include "tuner/na_choice.hpp"

namespace attnjit::detail {

std::unique_ptr<NaPlan> make_na_plan(KernelCache& cache, const NaProblem& problem, CUcontext context,
                                     const DeviceInfo& device) {
  validate(problem);
  NaConfigChoice choice = choose_na_configs(
      problem, [&](const std::string& key, KernelKind kind) { return cache.tuned(key, kind); }, device.environment);
  auto plan = make_na_plan(cache, problem, choice.configs, context, device);
  plan->choices = std::move(choice.choices);
  return plan;
}

std::unique_ptr<NaPlan> make_na_plan(KernelCache& cache, const NaProblem& problem, const NaConfigs& configs,
                                     CUcontext context, const DeviceInfo& device) {
  validate(problem);
  auto plan = std::make_unique<NaPlan>();
  plan->problem = problem;
  plan->configs = configs;
  const NaKernelSpecs specs = na_kernel_specs(problem, configs);
  for (const KernelSpec& spec : in_launch_order(specs)) check_na_config(spec.kind, problem, spec.config);
  prefetch(cache, in_launch_order(specs), device.arch);
  const std::string text = describe(problem);
  plan->forward = resolve(cache, specs.forward, launch_shape(specs.forward, problem), text, context, device);
  if (specs.fused()) {
    plan->backward_fused =
        resolve(cache, specs.backward_fused, launch_shape(specs.backward_fused, problem), text, context, device);
  } else {
    plan->backward_query =
        resolve(cache, specs.backward_query, launch_shape(specs.backward_query, problem), text, context, device);
    plan->backward_key =
        resolve(cache, specs.backward_key, launch_shape(specs.backward_key, problem), text, context, device);
  }
  plan->workspace_bytes = na_workspace_bytes(problem);
  for (const KernelSpec& spec : in_launch_order(specs)) {
    plan->choices.push_back({step_name(spec.kind), name(spec), false, "given by the caller"});
  }
  cache.count_plan();
  return plan;
}

namespace {

void encode_tensor_map(const NaProblem& problem, int tile_j, const void* tensor, unsigned char* map) {
  const NaTensorMapShape shape =
      na_tensor_map_shape(problem.batch * problem.heads, problem.length, problem.head_dim, problem.dilation, tile_j);
  const cuuint64_t dims[3] = {shape.dims[0], shape.dims[1], shape.dims[2]}, strides[2] = {shape.strides[0], shape.strides[1]};
  const cuuint32_t box[3] = {shape.box[0], shape.box[1], shape.box[2]}, element_strides[3] = {1, 1, 1};
  ATTNJIT_CU_CHECK(driver().cuTensorMapEncodeTiled(
      reinterpret_cast<CUtensorMap*>(map),
      problem.dtype == DType::bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 3,
      const_cast<void*>(tensor), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));
}

}  // namespace

NaParams na_forward_params(const NaPlan& plan, const NaForwardArgs& a) {
  const NaProblem& problem = plan.problem;
  NaParams params{};
  params.query = a.query;
  params.key = a.key;
  params.value = a.value;
  params.out_write = a.out;
  params.logsumexp = a.logsumexp;
  params.scale = static_cast<float>(problem.softmax_scale());
  params.scale_log2 = static_cast<float>(problem.softmax_scale() * 1.4426950408889634);
  params.batch_heads = problem.batch * problem.heads;
  if (plan.configs.forward.lanes == kNaWarpgroupLanes && na_forward_wgmma_tma(problem.length, problem.dilation)) {
    encode_tensor_map(problem, plan.configs.forward.tile_j, a.key, params.key_map);
    encode_tensor_map(problem, plan.configs.forward.tile_j, a.value, params.value_map);
  }
  return params;
}

NaParams na_backward_params(const NaProblem& problem, const NaBackwardArgs& a) {
  NaParams params{};
  params.query = a.query;
  params.key = a.key;
  params.value = a.value;
  params.out = a.out;
  params.grad_out = a.grad_out;
  params.grad_query = a.grad_query;
  params.grad_key = a.grad_key;
  params.grad_value = a.grad_value;
  params.logsumexp = const_cast<float*>(a.logsumexp);
  params.delta = static_cast<float*>(a.workspace);
  params.scale = static_cast<float>(problem.softmax_scale());
  params.scale_log2 = static_cast<float>(problem.softmax_scale() * 1.4426950408889634);
  params.batch_heads = problem.batch * problem.heads;
  return params;
}

void launch(const KernelLaunch& kernel, const NaParams& params, CUstream stream) {
  void* args[] = {const_cast<NaParams*>(&params)};
  const LaunchShape& s = kernel.shape;
  ATTNJIT_CU_CHECK(driver().cuLaunchKernel(kernel.function, s.grid_x, s.grid_y, s.grid_z, s.threads, 1, 1,
                                           s.smem_bytes, stream, args, nullptr));
}

void launch_backward(const NaPlan& plan, const NaParams& params, CUstream stream) {
  if (plan.configs.fused()) {
    launch(plan.backward_fused, params, stream);
  } else {
    launch(plan.backward_query, params, stream);  // writes delta, which the key gradient reads
    launch(plan.backward_key, params, stream);
  }
}

}  // namespace attnjit::detail
