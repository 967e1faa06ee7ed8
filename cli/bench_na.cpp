// attnjit bench for neighborhood attention: verify against the double-precision reference, then time the
// forward and the backward on the device against the memory floor (Q, K, V read once and the output written
// once, at 3.0 TB/s; the backward's floor reads Q, K, V, out, grad_out and writes the three gradients), with
// the useful FLOP rate (in-window pairs only) and attnjit's extra memory (log-sum-exp and workspace).
#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/bench_common.hpp"
#include "cli/bench_na.hpp"
#include "reference/na_reference.hpp"
#include "runtime/driver.hpp"
#include "tuner/device_memory.hpp"
#include "tuner/na_verify.hpp"
#include "tuner/timing.hpp"

namespace attnjit::cli {

namespace {

// In-window (query, key) pairs of one (batch, head): the work that counts.
double window_pairs(const NaProblem& p) {
  double pairs = 0;
  for (int i = 0; i < p.length; ++i) pairs += static_cast<double>(reference::na_window(p, i).size());
  return pairs;
}

}  // namespace

nlohmann::json to_json(const NaProblem& p) {
  return {{"op", "na"},           {"batch", p.batch},       {"heads", p.heads},
          {"length", p.length},   {"head_dim", p.head_dim}, {"kernel_size", p.kernel_size},
          {"dilation", p.dilation}, {"window", to_string(p.window)}, {"scale", p.scale},
          {"dtype", to_string(p.dtype)}};
}

nlohmann::json bench_na_one(Runtime& runtime, const NamedNaProblem& named, const NaBenchOptions& options) {
  const NaProblem& p = named.problem;
  nlohmann::json r = {{"name", named.name.empty() ? describe(p) : named.name}, {"problem", to_json(p)}, {"describe", describe(p)}};
  const auto start = std::chrono::steady_clock::now();
  runtime.prepare_neighborhood_attention(p);
  r["plan_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options.verify && named.verify) {
    const detail::NaVerification v = detail::verify_na(runtime, p, options.seed, detail::Direction::forward_backward);
    r["verify"] = {{"passed", v.passed()}, {"summary", v.summary()}};
  }
  std::mt19937_64 rng(options.seed + 1);
  const std::size_t n = static_cast<std::size_t>(p.batch) * p.heads * p.length * p.head_dim;
  const std::size_t rows = na_logsumexp_elements(p), es = size_of(p.dtype);
  detail::DeviceBuffer q = random_buffer(p.dtype, n, rng), k = random_buffer(p.dtype, n, rng),
                       v = random_buffer(p.dtype, n, rng), dout = random_buffer(p.dtype, n, rng);
  detail::DeviceBuffer out(n * es), lse(rows * 4), dq(n * es), dk(n * es), dv(n * es),
      workspace(runtime.neighborhood_attention_workspace_bytes(p));
  const NaForwardArgs fwd{q.get(), k.get(), v.get(), out.get(), static_cast<float*>(lse.get())};
  const NaBackwardArgs bwd{q.get(), k.get(), v.get(), out.get(), static_cast<const float*>(lse.get()), dout.get(),
                           dq.get(), dk.get(), dv.get(), workspace.get()};
  const detail::TimingOptions timing{options.warmup, options.repetitions, true};
  const double tensor = static_cast<double>(n * es), stats = 4.0 * static_cast<double>(rows);
  const double pairs = window_pairs(p) * p.batch * p.heads;
  r["forward"] = timing_json(
      detail::time_on_device([&](CUstream s) { runtime.neighborhood_attention_forward(p, fwd, s); }, nullptr, timing),
      4 * tensor + stats, 4.0 * p.head_dim * pairs);  // q.k and p.v: 2 FLOPs per element each
  runtime.neighborhood_attention_forward(p, fwd, nullptr);  // out and the log-sum-exp the backward reads
  r["backward"] = timing_json(
      detail::time_on_device([&](CUstream s) { runtime.neighborhood_attention_backward(p, bwd, s); }, nullptr, timing),
      8 * tensor + 3 * stats, 10.0 * p.head_dim * pairs);  // q.k, dout.v, grad_q, grad_k, grad_v
  r["extra_memory_bytes"] = stats + runtime.neighborhood_attention_workspace_bytes(p);  // beyond inputs and outputs
  ATTNJIT_CU_CHECK(detail::driver().cuCtxSynchronize());
  return r;
}

}  // namespace attnjit::cli
