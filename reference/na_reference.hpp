// Double-precision CPU reference of neighborhood attention (SPEC.md section 3), for tests and for verifying
// kernels: loops over each query's window, written to be read against the spec, parallel over (batch, head).
#pragma once

#include <vector>

#include "attnjit/attnjit.hpp"

namespace attnjit::reference {

// The keys query i attends under problem.window, in increasing order (see NaWindow).
std::vector<int> na_window(const NaProblem& problem, int i);

// Row-major, contiguous: query, key, value, out and the gradients (batch, heads, length, head_dim);
// problem.dtype is ignored (everything is double).
struct NaForward {
  std::vector<double> out;
  std::vector<double> logsumexp;  // (batch, heads, length): log of sum_j exp(scale q_i . k_j) over the window
};
NaForward na_forward(const NaProblem& problem, const std::vector<double>& query, const std::vector<double>& key,
                     const std::vector<double>& value);

struct NaGradients {
  std::vector<double> query, key, value;
};
// Gradients of sum(out * grad_out) with respect to query, key and value.
NaGradients na_backward(const NaProblem& problem, const std::vector<double>& query, const std::vector<double>& key,
                        const std::vector<double>& value, const std::vector<double>& grad_out);

}  // namespace attnjit::reference
