// The neighborhood-attention problem of the public API: names and validation with the values and what to do.
#include <fmt/format.h>

#include <cmath>

#include "attnjit/attnjit.hpp"
#include "runtime/error.hpp"

namespace attnjit {

const char* to_string(NaWindow window) {
  switch (window) {
    case NaWindow::clipped: return "clipped";
    case NaWindow::shifted: return "shifted";
    case NaWindow::causal: return "causal";
  }
  return "?";
}

double NaProblem::softmax_scale() const { return scale != 0 ? scale : 1.0 / std::sqrt(static_cast<double>(head_dim)); }

std::string describe(const NaProblem& p) {
  return fmt::format("neighborhood_attention {} B={} H={} L={} D={} kernel_size={} dilation={} window={} scale={:g}",
                     to_string(p.dtype), p.batch, p.heads, p.length, p.head_dim, p.kernel_size, p.dilation,
                     to_string(p.window), p.softmax_scale());
}

constexpr int kMaxHeadDim = 1024;

void validate(const NaProblem& p) {
  auto fail = [&](const std::string& what) { detail::raise_invalid("{}: {}", describe(p), what); };
  if (p.batch < 1 || p.heads < 1 || p.length < 1) {
    fail(fmt::format("batch={}, heads={} and length={} must each be at least 1", p.batch, p.heads, p.length));
  }
  if (p.head_dim < 1 || p.head_dim > kMaxHeadDim) {
    fail(fmt::format("head_dim={} must be 1 to {} (a row of each tensor is held by one warp at most)", p.head_dim,
                     kMaxHeadDim));
  }
  if (p.kernel_size <= 0) fail(fmt::format("kernel_size={} must be positive", p.kernel_size));
  if (p.kernel_size % 2 == 0) {
    fail(fmt::format("kernel_size={} must be odd (the window is centred on the query); use {} or {}", p.kernel_size,
                     p.kernel_size - 1, p.kernel_size + 1));
  }
  if (p.dilation <= 0) fail(fmt::format("dilation={} must be positive", p.dilation));
  if (!std::isfinite(p.scale) || p.scale < 0) {
    fail(fmt::format("scale={} must be positive, or 0 for 1/sqrt(head_dim)", p.scale));
  }
  const long long elements = static_cast<long long>(p.batch) * p.heads * p.length * p.head_dim;
  if (elements > (1ll << 40)) {
    fail(fmt::format("{} elements per tensor is past the 2^40 attnjit indexes; split the batch", elements));
  }
  // The kernels index rows (the log-sum-exp, delta, a block per tile of rows) with 32-bit integers.
  const long long rows = static_cast<long long>(p.batch) * p.heads * p.length;
  if (rows >= (1ll << 31)) {
    fail(fmt::format("batch*heads*length = {} rows is past the 2^31 - 1 the kernels index; split the batch", rows));
  }
}

std::size_t na_logsumexp_elements(const NaProblem& p) {
  return static_cast<std::size_t>(p.batch) * p.heads * p.length;
}

}  // namespace attnjit
