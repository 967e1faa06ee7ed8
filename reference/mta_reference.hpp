// Double-precision CPU reference of the mta op (SPEC.md section 1), for tests and for verifying
// kernels. Straightforward loops, written to be read against the spec, parallel over (batch, channel).
#pragma once

#include <vector>

#include "attnjit/attnjit.hpp"

namespace attnjit::reference {

// Row-major, contiguous, as the problem's shapes say. problem.dtype is ignored: everything is double.
//   scores   (batch, in_channels, length, length)
//   weight   (out_channels, in_channels / groups, kernel_h, kernel_w)
//   bias     (out_channels), or empty when problem.bias == Bias::none
//   returns  (batch, out_channels, out_h, out_w)
std::vector<double> mta_forward(const MtaProblem& problem, const std::vector<double>& scores,
                                const std::vector<double>& weight, const std::vector<double>& bias);

// P = softmax or sparsemax of the causally masked scores, (batch, in_channels, length, length);
// future entries are 0 and never read from scores.
std::vector<double> mta_normalize(const MtaProblem& problem, const std::vector<double>& scores);

struct MtaGradients {
  std::vector<double> scores;  // (batch, in_channels, length, length), future entries 0
  std::vector<double> weight;  // weight's shape
  std::vector<double> bias;    // (out_channels), empty when the problem has no bias
};

// Gradients of sum(out * grad_out) with respect to the inputs; grad_out (batch, out_channels, out_h,
// out_w) is masked as the output is, so its future part is never read.
MtaGradients mta_backward(const MtaProblem& problem, const std::vector<double>& scores,
                          const std::vector<double>& weight, const std::vector<double>& grad_out);

}  // namespace attnjit::reference
