// Verification of the mta kernels against the double-precision reference: fresh random normal
// inputs (rounded to the dtype, so the reference sees exactly what the kernels see), outputs and
// row statistics poisoned with NaN beforehand, NaN planted in the future part of the scores and of
// grad_out (which must never be read), every element of every output compared.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "tuner/device_memory.hpp"

namespace attnjit::detail {

// SPEC.md's tolerances. fp32: max |out - ref| / (1e-4 + 1e-4 |ref|) <= 1 (reported as that ratio);
// fp16, bf16: ||out - ref|| / ||ref|| <= 1e-2. Any NaN fails.
struct Comparison {
  double error = 0;
  double limit = 0;
  std::size_t nan_count = 0;
  std::size_t compared = 0;  // elements; 0 for a tensor the problem does not have (grad_bias without bias)
  bool passed() const { return nan_count == 0 && error <= limit; }
};

Comparison compare(DType dtype, const std::vector<double>& out, const std::vector<double>& ref);

// The same test on two encoded buffers of the dtype (the host's check of the tuner's device comparison).
Comparison compare_encoded(DType dtype, const std::vector<std::uint8_t>& out, const std::vector<std::uint8_t>& ref);
// A log-sum-exp (fp32, natural log) of a problem in `dtype`: fp32 problems as any fp32 output; for f16 and
// bf16 max|out - ref| <= u + 1e-4 + 1e-4 |ref| (reported as error / that, limit 1), u the type's unit
// roundoff (bf16 2^-8, f16 2^-11): a kernel may sum the probabilities as rounded to the type, the weights its
// output is normalized by, and rounding each of them by at most u moves the log of their sum by at most u.
Comparison compare_logsumexp(DType dtype, const std::vector<double>& out, const std::vector<double>& ref);

enum class Direction { forward, forward_backward };

// What every verification uses: n random normal values rounded to the dtype (what the device will see), a
// device copy of values in the dtype, and a buffer poisoned with NaN (0xFF bytes).
std::vector<double> random_normal(std::mt19937_64& rng, std::size_t n, DType dtype);
DeviceBuffer upload(DType dtype, const std::vector<double>& values);
DeviceBuffer poisoned(std::size_t bytes);

struct MtaVerification {
  Comparison out, grad_scores, grad_weight, grad_bias;  // gradients only with Direction::forward_backward
  Direction direction = Direction::forward;
  bool passed() const;
  std::string summary() const;  // "out 3.1e-05/1 ok, grad_scores ..." for logs and failures
};

// Runs the problem's kernels through `runtime` on the current context's legacy stream.
MtaVerification verify_mta(Runtime& runtime, const MtaProblem& problem, std::uint64_t seed, Direction direction);

}  // namespace attnjit::detail
