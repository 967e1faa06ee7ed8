// Verification of the neighborhood-attention kernels against the double-precision reference: fresh random
// normal inputs rounded to the dtype, every output (out, logsumexp, the three gradients) and the workspace
// poisoned with NaN beforehand, every element compared with SPEC.md's tolerances (tuner/mta_verify.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "tuner/mta_verify.hpp"  // Comparison, Direction

namespace attnjit::detail {

struct NaVerification {
  Comparison out, logsumexp, grad_query, grad_key, grad_value;  // gradients with Direction::forward_backward
  Direction direction = Direction::forward;
  bool passed() const;
  std::string summary() const;  // "out 3.1e-05/1 ok, lse ..., grad_query ..."
};

// Runs the problem through `runtime` on the current context's legacy stream. The log-sum-exp is compared
// with the fp32 rule whatever the dtype: it is computed in fp32 from the same rounded inputs.
NaVerification verify_na(Runtime& runtime, const NaProblem& problem, std::uint64_t seed, Direction direction);

}  // namespace attnjit::detail
