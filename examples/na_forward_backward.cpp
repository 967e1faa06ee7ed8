// The README's neighborhood-attention example, built with the project so that it cannot rot: B=2, H=32,
// L=4096, D=128, kernel 7 in bf16, forward and backward, checking that the gradients are finite and nonzero.
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
  attnjit::NaProblem na{.batch = 2, .heads = 32, .length = 4096, .head_dim = 128, .kernel_size = 7,
                        .dilation = 1, .window = attnjit::NaWindow::clipped, .dtype = attnjit::DType::bf16};
  const std::size_t n = static_cast<std::size_t>(na.batch) * na.heads * na.length * na.head_dim;
  std::mt19937 rng(0);
  std::normal_distribution<float> normal;
  std::vector<std::uint16_t> host(n);
  for (auto& v : host) v = to_bf16(normal(rng));

  void *q, *k, *v, *out, *grad_out, *grad_q, *grad_k, *grad_v, *workspace;
  float* logsumexp;
  for (void** p : {&q, &k, &v, &out, &grad_out, &grad_q, &grad_k, &grad_v}) CHECK_CUDA(cudaMalloc(p, n * 2));
  CHECK_CUDA(cudaMalloc(&logsumexp, attnjit::na_logsumexp_elements(na) * sizeof(float)));
  for (void* p : {q, k, v, grad_out}) CHECK_CUDA(cudaMemcpy(p, host.data(), n * 2, cudaMemcpyHostToDevice));
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreate(&stream));

  try {
    attnjit::Runtime runtime;  // kernels cached in $ATTNJIT_CACHE, else ~/.cache/attnjit/attnjit.db
    runtime.neighborhood_attention_forward(na, {q, k, v, out, logsumexp}, stream);
    CHECK_CUDA(cudaMalloc(&workspace, runtime.neighborhood_attention_workspace_bytes(na)));
    runtime.neighborhood_attention_backward(na, {q, k, v, out, logsumexp, grad_out, grad_q, grad_k, grad_v,
                                                 workspace}, stream);
  } catch (const attnjit::Error& e) {  // every attnjit error says what failed and what to do
    std::fprintf(stderr, "attnjit: %s\n", e.what());
    return 1;
  }
  CHECK_CUDA(cudaStreamSynchronize(stream));

  std::vector<std::uint16_t> result(n);
  CHECK_CUDA(cudaMemcpy(result.data(), grad_k, n * 2, cudaMemcpyDeviceToHost));
  double sum = 0;
  for (std::uint16_t x : result) {
    const std::uint32_t u = static_cast<std::uint32_t>(x) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    sum += std::abs(f);
  }
  std::printf("neighborhood attention forward + backward done: sum |grad_key| = %.4f\n", sum);
  return std::isfinite(sum) && sum > 0 ? 0 : 1;
}
