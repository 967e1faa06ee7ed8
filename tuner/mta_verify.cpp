#include "tuner/mta_verify.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <random>

#include "reference/mta_reference.hpp"
#include "runtime/driver.hpp"
#include "tuner/device_memory.hpp"

namespace attnjit::detail {

Comparison compare(DType dtype, const std::vector<double>& out, const std::vector<double>& ref) {
  Comparison c;
  if (out.size() != ref.size()) raise(ErrorCode::internal, "compare: sizes differ");
  c.compared = out.size();
  double diff2 = 0, ref2 = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(out[i]) || std::isinf(out[i])) {
      ++c.nan_count;
      continue;
    }
    const double d = std::abs(out[i] - ref[i]);
    diff2 += d * d;
    ref2 += ref[i] * ref[i];
    if (dtype == DType::f32) c.error = std::max(c.error, d / (1e-4 + 1e-4 * std::abs(ref[i])));
  }
  if (dtype == DType::f32) {
    c.limit = 1.0;
  } else {
    c.error = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
    c.limit = 1e-2;
  }
  return c;
}

Comparison compare_logsumexp(DType dtype, const std::vector<double>& out, const std::vector<double>& ref) {
  Comparison c = compare(DType::f32, out, ref);
  if (dtype == DType::f32) return c;
  const double unit = dtype == DType::bf16 ? 0x1p-8 : 0x1p-11;
  c.error = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(out[i]) || std::isinf(out[i])) continue;  // counted by compare
    c.error = std::max(c.error, std::abs(out[i] - ref[i]) / (unit + 1e-4 + 1e-4 * std::abs(ref[i])));
  }
  return c;
}

Comparison compare_encoded(DType dtype, const std::vector<std::uint8_t>& out, const std::vector<std::uint8_t>& ref) {
  return compare(dtype, decode(dtype, out), decode(dtype, ref));
}

bool MtaVerification::passed() const {
  if (!out.passed()) return false;
  if (direction == Direction::forward) return true;
  return grad_scores.passed() && grad_weight.passed() && grad_bias.passed();
}

std::string MtaVerification::summary() const {
  auto one = [](const char* what, const Comparison& c) {
    if (c.compared == 0) return fmt::format("{} -", what);
    return fmt::format("{} {:.2e}/{:g}{}{}", what, c.error, c.limit, c.nan_count ? fmt::format(" {} NaN", c.nan_count) : "",
                       c.passed() ? " ok" : " FAIL");
  };
  std::string s = one("out", out);
  if (direction == Direction::forward_backward) {
    s += ", " + one("grad_scores", grad_scores) + ", " + one("grad_weight", grad_weight) + ", " + one("grad_bias", grad_bias);
  }
  return s;
}

std::vector<double> random_normal(std::mt19937_64& rng, std::size_t n, DType dtype) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> v(n);
  for (double& x : v) x = round_to(dtype, normal(rng));
  return v;
}

namespace {

// The device copy: future entries (column > row) of every rows x cols plane replaced by NaN.
std::vector<double> with_nan_future(std::vector<double> v, std::size_t rows, std::size_t cols) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t base = 0; base < v.size(); base += rows * cols) {
    for (std::size_t i = 0; i < rows; ++i) {
      for (std::size_t j = i + 1; j < cols; ++j) v[base + i * cols + j] = nan;
    }
  }
  return v;
}

}  // namespace

DeviceBuffer upload(DType dtype, const std::vector<double>& values) {
  DeviceBuffer buffer(values.size() * size_of(dtype));
  buffer.upload(encode(dtype, values));
  return buffer;
}

DeviceBuffer poisoned(std::size_t bytes) {
  DeviceBuffer buffer(bytes);
  buffer.fill(0xFF);
  return buffer;
}

MtaVerification verify_mta(Runtime& runtime, const MtaProblem& p, std::uint64_t seed, Direction direction) {
  validate(p);
  const DType t = p.dtype;
  const std::size_t L = p.length, oh = p.out_h(), ow = p.out_w();
  const std::size_t n_scores = p.batch * p.in_channels * L * L, n_out = p.batch * p.out_channels * oh * ow;
  std::mt19937_64 rng(seed);
  const auto scores = random_normal(rng, n_scores, t);
  const auto weight = random_normal(rng, p.out_channels * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w, t);
  const auto bias = p.bias == Bias::present ? random_normal(rng, p.out_channels, t) : std::vector<double>{};
  const auto grad_out = random_normal(rng, n_out, t);

  DeviceBuffer d_scores = upload(t, with_nan_future(scores, L, L)), d_weight = upload(t, weight);
  DeviceBuffer d_bias = upload(t, bias), d_grad_out = upload(t, with_nan_future(grad_out, oh, ow));
  DeviceBuffer d_out = poisoned(n_out * size_of(t)), d_stats = poisoned(mta_row_stats_elements(p) * 4);
  MtaForwardArgs fwd{d_scores.get(), d_weight.get(), bias.empty() ? nullptr : d_bias.get(), d_out.get(),
                     static_cast<float*>(d_stats.get())};
  runtime.mta_forward(p, fwd, nullptr);
  ATTNJIT_CU_CHECK(driver().cuCtxSynchronize());

  MtaVerification v;
  v.direction = direction;
  v.out = compare(t, decode(t, d_out.download()), reference::mta_forward(p, scores, weight, bias));
  if (direction == Direction::forward) return v;

  DeviceBuffer d_grad_scores = poisoned(n_scores * size_of(t)), d_grad_weight = poisoned(weight.size() * size_of(t));
  DeviceBuffer d_grad_bias = poisoned(bias.size() * size_of(t));
  DeviceBuffer workspace = poisoned(runtime.mta_backward_workspace_bytes(p));
  MtaBackwardArgs bwd{d_scores.get(), d_weight.get(), static_cast<const float*>(d_stats.get()), d_grad_out.get(),
                      d_grad_scores.get(), d_grad_weight.get(), bias.empty() ? nullptr : d_grad_bias.get(),
                      workspace.get()};
  runtime.mta_backward(p, bwd, nullptr);
  ATTNJIT_CU_CHECK(driver().cuCtxSynchronize());
  const reference::MtaGradients ref = reference::mta_backward(p, scores, weight, grad_out);
  v.grad_scores = compare(t, decode(t, d_grad_scores.download()), ref.scores);
  v.grad_weight = compare(t, decode(t, d_grad_weight.download()), ref.weight);
  v.grad_bias = compare(t, decode(t, d_grad_bias.download()), ref.bias);
  return v;
}

}  // namespace attnjit::detail
