#include "tuner/na_verify.hpp"

#include <fmt/format.h>

#include <random>

#include "reference/na_reference.hpp"
#include "runtime/driver.hpp"
#include "tuner/device_memory.hpp"

namespace attnjit::detail {

bool NaVerification::passed() const {
  if (!out.passed() || !logsumexp.passed()) return false;
  return direction == Direction::forward || (grad_query.passed() && grad_key.passed() && grad_value.passed());
}

std::string NaVerification::summary() const {
  auto one = [](const char* what, const Comparison& c) {
    return fmt::format("{} {:.2e}/{:g}{}{}", what, c.error, c.limit, c.nan_count ? fmt::format(" {} NaN", c.nan_count) : "",
                       c.passed() ? " ok" : " FAIL");
  };
  std::string s = one("out", out) + ", " + one("lse", logsumexp);
  if (direction == Direction::forward_backward) {
    s += ", " + one("grad_q", grad_query) + ", " + one("grad_k", grad_key) + ", " + one("grad_v", grad_value);
  }
  return s;
}

NaVerification verify_na(Runtime& runtime, const NaProblem& p, std::uint64_t seed, Direction direction) {
  validate(p);
  const DType t = p.dtype;
  const std::size_t n = static_cast<std::size_t>(p.batch) * p.heads * p.length * p.head_dim;
  const std::size_t rows = na_logsumexp_elements(p);
  std::mt19937_64 rng(seed);
  const auto query = random_normal(rng, n, t), key = random_normal(rng, n, t), value = random_normal(rng, n, t);
  const auto grad_out = random_normal(rng, n, t);

  DeviceBuffer d_query = upload(t, query), d_key = upload(t, key), d_value = upload(t, value);
  DeviceBuffer d_out = poisoned(n * size_of(t)), d_lse = poisoned(rows * 4);
  runtime.neighborhood_attention_forward(
      p, {d_query.get(), d_key.get(), d_value.get(), d_out.get(), static_cast<float*>(d_lse.get())}, nullptr);
  ATTNJIT_CU_CHECK(driver().cuCtxSynchronize());

  const reference::NaForward ref = reference::na_forward(p, query, key, value);
  NaVerification v;
  v.direction = direction;
  v.out = compare(t, decode(t, d_out.download()), ref.out);
  v.logsumexp = compare_logsumexp(t, decode(DType::f32, d_lse.download()), ref.logsumexp);
  if (direction == Direction::forward) return v;

  // The backward reads the forward's output as the device wrote it (delta = grad_out . out).
  DeviceBuffer d_grad_out = upload(t, grad_out);
  DeviceBuffer d_grad_query = poisoned(n * size_of(t)), d_grad_key = poisoned(n * size_of(t));
  DeviceBuffer d_grad_value = poisoned(n * size_of(t));
  DeviceBuffer workspace = poisoned(runtime.neighborhood_attention_workspace_bytes(p));
  runtime.neighborhood_attention_backward(
      p, {d_query.get(), d_key.get(), d_value.get(), d_out.get(), static_cast<const float*>(d_lse.get()),
          d_grad_out.get(), d_grad_query.get(), d_grad_key.get(), d_grad_value.get(), workspace.get()},
      nullptr);
  ATTNJIT_CU_CHECK(driver().cuCtxSynchronize());
  const reference::NaGradients g = reference::na_backward(p, query, key, value, grad_out);
  v.grad_query = compare(t, decode(t, d_grad_query.download()), g.query);
  v.grad_key = compare(t, decode(t, d_grad_key.download()), g.key);
  v.grad_value = compare(t, decode(t, d_grad_value.download()), g.value);
  return v;
}

}  // namespace attnjit::detail
