// The README's example, built with the project so that it cannot rot: the paper's MTA layer
// (6x11 depthwise convolution after the softmax, causal query padding) forward and backward in bf16.
#include <attnjit/attnjit.hpp>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#define CHECK_CUDA(call)                                                             \
  if (cudaError_t e = (call); e != cudaSuccess) {                                    \
    std::fprintf(stderr, "%s failed: %s\n", #call, cudaGetErrorString(e));           \
    return 1;                                                                        \
  }

static std::uint16_t to_bf16(float f) {  // round to nearest even
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

int main() {
  attnjit::MtaProblem problem;
  problem.batch = 2;
  problem.in_channels = problem.out_channels = problem.groups = 16;  // depthwise: one filter per head
  problem.length = 1024;
  problem.kernel_h = 6;
  problem.kernel_w = 11;
  problem.padding = {5, 0, 5, 5};  // query axis causal (Kh-1 above, 0 below), key axis centred
  problem.dtype = attnjit::DType::bf16;

  const std::size_t L = problem.length, n_scores = problem.batch * problem.in_channels * L * L;
  const std::size_t n_weight = problem.out_channels * problem.kernel_h * problem.kernel_w;
  const std::size_t n_out = problem.batch * problem.out_channels * problem.out_h() * problem.out_w();
  std::mt19937 rng(0);
  std::normal_distribution<float> normal;
  std::vector<std::uint16_t> host(n_scores);
  for (auto& v : host) v = to_bf16(normal(rng));

  void *scores, *weight, *out, *grad_out, *grad_scores, *grad_weight, *workspace;
  float* row_stats;
  CHECK_CUDA(cudaMalloc(&scores, n_scores * 2));
  CHECK_CUDA(cudaMalloc(&weight, n_weight * 2));
  CHECK_CUDA(cudaMalloc(&out, n_out * 2));
  CHECK_CUDA(cudaMalloc(&grad_out, n_out * 2));
  CHECK_CUDA(cudaMalloc(&grad_scores, n_scores * 2));
  CHECK_CUDA(cudaMalloc(&grad_weight, n_weight * 2));
  CHECK_CUDA(cudaMalloc(&row_stats, attnjit::mta_row_stats_elements(problem) * sizeof(float)));
  CHECK_CUDA(cudaMemcpy(scores, host.data(), n_scores * 2, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(weight, host.data(), n_weight * 2, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(grad_out, host.data(), n_out * 2, cudaMemcpyHostToDevice));
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreate(&stream));

  try {
    attnjit::Runtime runtime;  // kernels cached in $ATTNJIT_CACHE, else ~/.cache/attnjit/attnjit.db
    runtime.mta_forward(problem, {scores, weight, nullptr, out, row_stats}, stream);
    CHECK_CUDA(cudaMalloc(&workspace, runtime.mta_backward_workspace_bytes(problem)));
    runtime.mta_backward(problem, {scores, weight, row_stats, grad_out, grad_scores, grad_weight, nullptr, workspace},
                         stream);
  } catch (const attnjit::Error& e) {  // every attnjit error says what failed and what to do
    std::fprintf(stderr, "attnjit: %s\n", e.what());
    return 1;
  }
  CHECK_CUDA(cudaStreamSynchronize(stream));

  std::vector<std::uint16_t> result(n_weight);
  CHECK_CUDA(cudaMemcpy(result.data(), grad_weight, n_weight * 2, cudaMemcpyDeviceToHost));
  double sum = 0;
  for (std::uint16_t v : result) {
    const std::uint32_t u = static_cast<std::uint32_t>(v) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    sum += std::abs(f);
  }
  std::printf("mta forward + backward done: sum |grad_weight| = %.4f\n", sum);
  return std::isfinite(sum) && sum > 0 ? 0 : 1;
}
