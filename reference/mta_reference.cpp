// Double-precision CPU reference of the mta op (SPEC.md section 1). Written to be read against the spec,
// not to be fast; the only concessions to speed are threads over (batch, channel, block of rows) items and
// skipping the output positions the causal mask zeroes (they are never computed, which is what the mask
// means).
#include "reference/mta_reference.hpp"
#include "reference/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "runtime/error.hpp"

namespace attnjit::reference {
namespace {

using std::int64_t;
using std::size_t;

// The problem's sizes as 64-bit signed values: input coordinates can be negative (padding), and flat
// indices at L = 2048 with many channels overflow 32 bits.
struct Geometry {
  int64_t batch, in_channels, out_channels, length;
  int64_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int64_t in_per_group, out_per_group, out_h, out_w;

  size_t plane() const { return size_t(length) * size_t(length); }
  size_t out_plane() const { return size_t(out_h) * size_t(out_w); }
  size_t taps() const { return size_t(in_per_group * kernel_h * kernel_w); }  // weights per out channel
};

Geometry make_geometry(const MtaProblem& p) {
  // Only what the loops need to index safely; the library's validate() owns the full rules.
  if (p.batch < 1 || p.in_channels < 1 || p.out_channels < 1 || p.length < 1 || p.kernel_h < 1 ||
      p.kernel_w < 1 || p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 || p.dilation_w < 1)
    detail::raise_invalid("mta reference: every size, stride and dilation must be >= 1: {}", describe(p));
  if (p.padding.top < 0 || p.padding.bottom < 0 || p.padding.left < 0 || p.padding.right < 0)
    detail::raise_invalid("mta reference: padding must be >= 0: {}", describe(p));
  if (p.groups < 1 || p.in_channels % p.groups != 0 || p.out_channels % p.groups != 0)
    detail::raise_invalid("mta reference: groups = {} must divide in_channels = {} and out_channels = {}",
                          p.groups, p.in_channels, p.out_channels);
  if (p.out_h() < 1 || p.out_w() < 1)
    detail::raise_invalid("mta reference: empty output {} x {}: {}", p.out_h(), p.out_w(), describe(p));
  return {p.batch,      p.in_channels, p.out_channels,           p.length,
          p.kernel_h,   p.kernel_w,    p.stride_h,               p.stride_w,
          p.dilation_h, p.dilation_w,  p.padding.top,            p.padding.left,
          p.in_channels / p.groups,    p.out_channels / p.groups, p.out_h(), p.out_w()};
}

void check_size(const char* name, size_t actual, size_t expected) {
  if (actual != expected)
    detail::raise_invalid("mta reference: {} has {} elements, the problem needs {}", name, actual, expected);
}

// Rows per work item: with few planes (L = 8192 tests have two) whole planes would leave most threads
// idle. Fixed, so that the order of every sum is the same whatever the thread count.
constexpr int64_t kRowBlock = 64;
int64_t row_blocks(int64_t rows) { return (rows + kRowBlock - 1) / kRowBlock; }

// One kernel tap (kh, kw) of one output row oi: output columns [begin, end) read input row `row`, column
// oj * stride_w + offset. begin/end exclude columns in the padding and columns oj > oi, which the
// output mask zeroes (so grad_out is never read there either).
struct TapRow {
  int64_t oi, row, offset, begin, end;
  size_t weight;  // flat index into weight (out_channels, in_per_group, kernel_h, kernel_w)
};

// Visits every tap connecting output channel oc to the input channel at index icg of its group, for the
// output rows [oi_begin, oi_end).
template <class Fn>
void for_each_tap(const Geometry& g, int64_t oc, int64_t icg, Fn&& fn, int64_t oi_begin, int64_t oi_end) {
  for (int64_t oi = oi_begin; oi < oi_end; ++oi) {
    const int64_t unmasked = std::min(oi + 1, g.out_w);
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      const int64_t row = oi * g.stride_h - g.pad_top + kh * g.dilation_h;
      if (row < 0 || row >= g.length) continue;  // zero padding contributes nothing
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const int64_t offset = kw * g.dilation_w - g.pad_left;
        // Input column oj * stride + offset must lie in [0, length).
        const int64_t begin = offset >= 0 ? 0 : (-offset + g.stride_w - 1) / g.stride_w;
        const int64_t last = g.length - 1 - offset;
        const int64_t end = last < 0 ? 0 : std::min(last / g.stride_w + 1, unmasked);
        if (begin >= end) continue;
        const size_t weight = size_t(((oc * g.in_per_group + icg) * g.kernel_h + kh) * g.kernel_w + kw);
        fn(TapRow{oi, row, offset, begin, end, weight});
      }
    }
  }
}

// ---- normalization (rows of one plane; only j <= i is read) ----------------------------------------

void softmax_row(const double* z, double* p, int64_t n) {
  const double max = *std::max_element(z, z + n);  // subtracted so exp never overflows
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += std::exp(z[j] - max);
  for (int64_t j = 0; j < n; ++j) p[j] = std::exp(z[j] - max) / sum;
}

// Martins & Astudillo 2016: with z sorted descending, the support is the largest k such that
// 1 + k * z_(k) > z_(1) + ... + z_(k); tau = (that sum - 1) / k; p = max(z - tau, 0).
void sparsemax_row(const double* z, double* p, int64_t n, std::vector<double>& sorted) {
  sorted.assign(z, z + n);
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  double prefix = 0, support_sum = 0;
  int64_t support = 0;
  for (int64_t k = 1; k <= n; ++k) {
    prefix += sorted[size_t(k - 1)];
    if (1.0 + double(k) * sorted[size_t(k - 1)] > prefix) {
      support = k;
      support_sum = prefix;
    }
  }
  const double tau = (support_sum - 1.0) / double(support);  // support >= 1: k = 1 always qualifies
  for (int64_t j = 0; j < n; ++j) p[j] = std::max(z[j] - tau, 0.0);
}

void softmax_row_backward(const double* p, const double* dp, double* dz, int64_t n) {
  double dot = 0;
  for (int64_t j = 0; j < n; ++j) dot += p[j] * dp[j];
  for (int64_t j = 0; j < n; ++j) dz[j] = p[j] * (dp[j] - dot);
}

// Sparsemax's Jacobian on the support S is I - 1 1^T / |S|, and 0 off it.
void sparsemax_row_backward(const double* p, const double* dp, double* dz, int64_t n) {
  double sum = 0;
  int64_t support = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (p[j] > 0) {
      sum += dp[j];
      ++support;
    }
  }
  const double mean = sum / double(support);
  for (int64_t j = 0; j < n; ++j) dz[j] = p[j] > 0 ? dp[j] - mean : 0.0;
}

// ---- convolution pieces ----------------------------------------------------------------------------

// dP (batch, in_channels, L, L): each input plane gathers, in a fixed order, what every output
// position of its group scatters back through the taps that read it. Exact for any stride.
std::vector<double> input_gradient(const Geometry& g, const std::vector<double>& weight,
                                   const std::vector<double>& grad_out) {
  std::vector<double> dp(size_t(g.batch * g.in_channels) * g.plane(), 0.0);
  const int64_t blocks = row_blocks(g.length);
  parallel_for(size_t(g.batch * g.in_channels * blocks), [&](size_t work) {
    const size_t item = work / size_t(blocks);  // the plane; this item writes its input rows [first, last)
    const int64_t first = int64_t(work % size_t(blocks)) * kRowBlock, last = std::min(first + kRowBlock, g.length);
    const int64_t b = int64_t(item) / g.in_channels, ic = int64_t(item) % g.in_channels;
    const int64_t group = ic / g.in_per_group, icg = ic % g.in_per_group;
    double* dst = dp.data() + item * g.plane();
    for (int64_t oc = group * g.out_per_group; oc < (group + 1) * g.out_per_group; ++oc) {
      const double* dy = grad_out.data() + size_t(b * g.out_channels + oc) * g.out_plane();
      for_each_tap(g, oc, icg, [&](const TapRow& t) {
        if (t.row < first || t.row >= last) return;
        const double w = weight[t.weight];
        double* dst_row = dst + size_t(t.row * g.length);
        const double* dy_row = dy + size_t(t.oi * g.out_w);
        for (int64_t oj = t.begin; oj < t.end; ++oj) dst_row[oj * g.stride_w + t.offset] += w * dy_row[oj];
      }, 0, g.out_h);
    }
  });
  return dp;
}

// dweight and dbias: one partial per (batch, out channel, block of output rows), then summed in order.
void parameter_gradients(const Geometry& g, const std::vector<double>& p,
                         const std::vector<double>& grad_out, MtaGradients& grads, bool has_bias) {
  const size_t planes = size_t(g.batch * g.out_channels), taps = g.taps();
  const size_t blocks = size_t(row_blocks(g.out_h)), items = planes * blocks;
  std::vector<double> partial_w(items * taps, 0.0), partial_b(items, 0.0);
  parallel_for(items, [&](size_t work) {
    const size_t item = work / blocks;  // the plane; this work item covers output rows [first, last)
    const int64_t first = int64_t(work % blocks) * kRowBlock, last = std::min(first + kRowBlock, g.out_h);
    const int64_t b = int64_t(item) / g.out_channels, oc = int64_t(item) % g.out_channels;
    const int64_t group = oc / g.out_per_group;
    const double* dy = grad_out.data() + item * g.out_plane();
    for (int64_t oi = first; oi < last; ++oi)  // masked dY: only oj <= oi counts
      for (int64_t oj = 0; oj <= std::min(oi, g.out_w - 1); ++oj) partial_b[work] += dy[oi * g.out_w + oj];
    for (int64_t icg = 0; icg < g.in_per_group; ++icg) {
      const double* src = p.data() + size_t(b * g.in_channels + group * g.in_per_group + icg) * g.plane();
      for_each_tap(g, oc, icg, [&](const TapRow& t) {
        const double* src_row = src + size_t(t.row * g.length);
        const double* dy_row = dy + size_t(t.oi * g.out_w);
        double sum = 0;
        for (int64_t oj = t.begin; oj < t.end; ++oj) sum += dy_row[oj] * src_row[oj * g.stride_w + t.offset];
        partial_w[work * taps + (t.weight - size_t(oc) * taps)] += sum;
      }, first, last);
    }
  });
  grads.weight.assign(size_t(g.out_channels) * taps, 0.0);
  grads.bias.assign(has_bias ? size_t(g.out_channels) : 0, 0.0);
  for (size_t work = 0; work < items; ++work) {
    const size_t oc = (work / blocks) % size_t(g.out_channels);
    for (size_t k = 0; k < taps; ++k) grads.weight[oc * taps + k] += partial_w[work * taps + k];
    if (has_bias) grads.bias[oc] += partial_b[work];
  }
}

}  // namespace

std::vector<double> mta_normalize(const MtaProblem& problem, const std::vector<double>& scores) {
  const Geometry g = make_geometry(problem);
  check_size("scores", scores.size(), size_t(g.batch * g.in_channels) * g.plane());
  std::vector<double> p(scores.size(), 0.0);  // future entries stay 0
  const int64_t blocks = row_blocks(g.length);
  parallel_for(size_t(g.batch * g.in_channels * blocks), [&](size_t work) {
    const size_t item = work / size_t(blocks);
    const int64_t first = int64_t(work % size_t(blocks)) * kRowBlock, last = std::min(first + kRowBlock, g.length);
    std::vector<double> sorted;
    for (int64_t i = first; i < last; ++i) {
      const size_t at = item * g.plane() + size_t(i * g.length);
      if (problem.norm == Norm::softmax)
        softmax_row(scores.data() + at, p.data() + at, i + 1);
      else
        sparsemax_row(scores.data() + at, p.data() + at, i + 1, sorted);
    }
  });
  return p;
}

std::vector<double> mta_forward(const MtaProblem& problem, const std::vector<double>& scores,
                                const std::vector<double>& weight, const std::vector<double>& bias) {
  const Geometry g = make_geometry(problem);
  check_size("weight", weight.size(), size_t(g.out_channels) * g.taps());
  check_size("bias", bias.size(), problem.bias == Bias::present ? size_t(g.out_channels) : 0);
  const std::vector<double> p = mta_normalize(problem, scores);
  std::vector<double> out(size_t(g.batch * g.out_channels) * g.out_plane(), 0.0);
  const int64_t blocks = row_blocks(g.out_h);
  parallel_for(size_t(g.batch * g.out_channels * blocks), [&](size_t work) {
    const size_t item = work / size_t(blocks);  // the plane; this item writes its output rows [first, last)
    const int64_t first = int64_t(work % size_t(blocks)) * kRowBlock, last = std::min(first + kRowBlock, g.out_h);
    const int64_t b = int64_t(item) / g.out_channels, oc = int64_t(item) % g.out_channels;
    const int64_t group = oc / g.out_per_group;
    double* dst = out.data() + item * g.out_plane();
    if (!bias.empty())  // bias before the mask: only unmasked positions get it
      for (int64_t oi = first; oi < last; ++oi)
        for (int64_t oj = 0; oj <= std::min(oi, g.out_w - 1); ++oj) dst[oi * g.out_w + oj] = bias[size_t(oc)];
    for (int64_t icg = 0; icg < g.in_per_group; ++icg) {
      const double* src = p.data() + size_t(b * g.in_channels + group * g.in_per_group + icg) * g.plane();
      for_each_tap(g, oc, icg, [&](const TapRow& t) {
        const double w = weight[t.weight];
        const double* src_row = src + size_t(t.row * g.length);
        double* dst_row = dst + size_t(t.oi * g.out_w);
        for (int64_t oj = t.begin; oj < t.end; ++oj) dst_row[oj] += w * src_row[oj * g.stride_w + t.offset];
      }, first, last);
    }
  });
  return out;
}

MtaGradients mta_backward(const MtaProblem& problem, const std::vector<double>& scores,
                          const std::vector<double>& weight, const std::vector<double>& grad_out) {
  const Geometry g = make_geometry(problem);
  check_size("weight", weight.size(), size_t(g.out_channels) * g.taps());
  check_size("grad_out", grad_out.size(), size_t(g.batch * g.out_channels) * g.out_plane());
  const std::vector<double> p = mta_normalize(problem, scores);
  const std::vector<double> dp = input_gradient(g, weight, grad_out);

  MtaGradients grads;
  parameter_gradients(g, p, grad_out, grads, problem.bias == Bias::present);
  grads.scores.assign(p.size(), 0.0);  // future positions stay 0
  const int64_t blocks = row_blocks(g.length);
  parallel_for(size_t(g.batch * g.in_channels * blocks), [&](size_t work) {
    const size_t item = work / size_t(blocks);
    const int64_t first = int64_t(work % size_t(blocks)) * kRowBlock, last = std::min(first + kRowBlock, g.length);
    for (int64_t i = first; i < last; ++i) {
      const size_t at = item * g.plane() + size_t(i * g.length);
      if (problem.norm == Norm::softmax)
        softmax_row_backward(p.data() + at, dp.data() + at, grads.scores.data() + at, i + 1);
      else
        sparsemax_row_backward(p.data() + at, dp.data() + at, grads.scores.data() + at, i + 1);
    }
  });
  return grads;
}

}  // namespace attnjit::reference
