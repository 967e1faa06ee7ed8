// Problem-level helpers of the public API: names, output extents, validation with messages that say
// what is wrong, with the values, and what to do.
#include <fmt/format.h>

#include "attnjit/attnjit.hpp"
#include "runtime/error.hpp"

namespace attnjit {

const char* version() { return ATTNJIT_VERSION; }

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::no_driver: return "no_driver";
    case ErrorCode::driver: return "driver";
    case ErrorCode::no_compiler: return "no_compiler";
    case ErrorCode::compile: return "compile";
    case ErrorCode::store: return "store";
    case ErrorCode::internal: return "internal";
  }
  return "?";
}

const char* to_string(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
  }
  return "?";
}

const char* to_string(Norm norm) { return norm == Norm::softmax ? "softmax" : "sparsemax"; }

std::size_t size_of(DType dtype) { return dtype == DType::f32 ? 4 : 2; }

namespace {
int out_extent(int length, int pad_before, int pad_after, int kernel, int stride, int dilation) {
  const long long span = static_cast<long long>(length) + pad_before + pad_after - static_cast<long long>(dilation) * (kernel - 1) - 1;
  if (span < 0 || stride < 1) return 0;
  return static_cast<int>(span / stride + 1);
}
}  // namespace

int MtaProblem::out_h() const { return out_extent(length, padding.top, padding.bottom, kernel_h, stride_h, dilation_h); }
int MtaProblem::out_w() const { return out_extent(length, padding.left, padding.right, kernel_w, stride_w, dilation_w); }

std::string describe(const MtaProblem& p) {
  return fmt::format(
      "mta {} {} B={} C_in={} C_out={} L={} kernel={}x{} stride={}x{} padding=(top {}, bottom {}, left {}, right {}) "
      "dilation={}x{} groups={} bias={}",
      to_string(p.dtype), to_string(p.norm), p.batch, p.in_channels, p.out_channels, p.length, p.kernel_h, p.kernel_w,
      p.stride_h, p.stride_w, p.padding.top, p.padding.bottom, p.padding.left, p.padding.right, p.dilation_h,
      p.dilation_w, p.groups, p.bias == Bias::present ? "yes" : "no");
}

// Limits the kernels are written for; each says why.
constexpr int kMaxTaps = 256;                  // the weight-gradient kernel keeps one register per tap
constexpr long long kMaxRows = 2147483647LL;   // row-statistics grid: one block per row, grid.x < 2^31
constexpr int kMaxGridYZ = 65535;              // CUDA's limit on grid.y and grid.z

void validate(const MtaProblem& p) {
  using detail::raise_invalid;
  if (p.batch < 1 || p.in_channels < 1 || p.out_channels < 1 || p.length < 1) {
    raise_invalid("mta: batch={}, in_channels={}, out_channels={}, length={}: each must be at least 1", p.batch,
                  p.in_channels, p.out_channels, p.length);
  }
  if (p.kernel_h < 1 || p.kernel_w < 1) raise_invalid("mta: kernel size {}x{}: both must be at least 1", p.kernel_h, p.kernel_w);
  const long long taps = static_cast<long long>(p.kernel_h) * p.kernel_w;  // int would overflow at 65536^2
  if (taps > kMaxTaps) {
    raise_invalid("mta: kernel {}x{} has {} taps; attnjit supports up to {} taps per filter", p.kernel_h, p.kernel_w,
                  taps, kMaxTaps);
  }
  if (p.stride_h < 1 || p.stride_w < 1) raise_invalid("mta: stride={}x{}: both must be at least 1", p.stride_h, p.stride_w);
  if (p.dilation_h < 1 || p.dilation_w < 1) {
    raise_invalid("mta: dilation={}x{}: both must be at least 1", p.dilation_h, p.dilation_w);
  }
  const Padding& pad = p.padding;
  if (pad.top < 0 || pad.bottom < 0 || pad.left < 0 || pad.right < 0) {
    raise_invalid("mta: padding (top {}, bottom {}, left {}, right {}): none may be negative", pad.top, pad.bottom,
                  pad.left, pad.right);
  }
  if (p.groups < 1) raise_invalid("mta: groups={} must be at least 1", p.groups);
  if (p.in_channels % p.groups != 0) raise_invalid("mta: groups={} does not divide in_channels={}", p.groups, p.in_channels);
  if (p.out_channels % p.groups != 0) raise_invalid("mta: groups={} does not divide out_channels={}", p.groups, p.out_channels);
  if (p.out_h() < 1 || p.out_w() < 1) {
    raise_invalid("mta: the output is empty (out_h={}, out_w={}): length={} with padding (top {}, bottom {}, left {}, "
                  "right {}) is shorter than the dilated kernel ({}x{}, dilation {}x{}); pad more or use a smaller kernel",
                  p.out_h(), p.out_w(), p.length, pad.top, pad.bottom, pad.left, pad.right, p.kernel_h, p.kernel_w,
                  p.dilation_h, p.dilation_w);
  }
  if (static_cast<long long>(p.batch) * p.in_channels * p.length > kMaxRows) {
    raise_invalid("mta: batch*in_channels*length={} rows exceeds {}; split the batch", 
                  static_cast<long long>(p.batch) * p.in_channels * p.length, kMaxRows);
  }
  if (p.batch > kMaxGridYZ || p.out_channels > kMaxGridYZ) {
    raise_invalid("mta: batch={} and out_channels={} must each be at most {}; split the batch", p.batch,
                  p.out_channels, kMaxGridYZ);
  }
}

std::size_t mta_row_stats_elements(const MtaProblem& p) {
  return static_cast<std::size_t>(p.batch) * p.in_channels * p.length;
}

}  // namespace attnjit
