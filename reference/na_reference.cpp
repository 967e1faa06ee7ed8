// Neighborhood attention in double precision: per (batch, head), per query, the scores of its window, their
// softmax, and the weighted sum of values; the backward through the same window. Not fast, only clear.
#include "reference/na_reference.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "reference/parallel.hpp"
#include "runtime/error.hpp"

namespace attnjit::reference {

std::vector<int> na_window(const NaProblem& p, int i) {
  const int k = p.kernel_size, d = p.dilation, half = k / 2;
  std::vector<int> keys;
  switch (p.window) {
    case NaWindow::clipped:
      for (int j = i - half * d; j <= i + half * d; j += d) {
        if (j >= 0 && j < p.length) keys.push_back(j);
      }
      break;
    case NaWindow::shifted: {
      // Within the query's dilation group (positions g, g + d, ...), a window of k group positions centred on
      // the query's, moved inward at the group's ends; the whole group when it is shorter than k.
      const int g = i % d, group_length = (p.length - g + d - 1) / d, q = i / d;
      const int start = group_length <= k ? 0 : std::clamp(q - half, 0, group_length - k);
      const int end = std::min(group_length, start + k);
      for (int t = start; t < end; ++t) keys.push_back(g + t * d);
      break;
    }
    case NaWindow::causal:
      for (int t = k - 1; t >= 0; --t) {
        if (i - t * d >= 0) keys.push_back(i - t * d);
      }
      break;
  }
  return keys;
}

namespace {

struct Plane {  // the (batch, head) slice of every tensor
  std::size_t offset;
  int length, dim;
  const double* at(const std::vector<double>& x, int row) const { return x.data() + offset + static_cast<std::size_t>(row) * dim; }
  double* at(std::vector<double>& x, int row) const { return x.data() + offset + static_cast<std::size_t>(row) * dim; }
};

double dot(const double* a, const double* b, int n) {
  double s = 0;
  for (int e = 0; e < n; ++e) s += a[e] * b[e];
  return s;
}

// The window's keys and their probabilities for query i.
void probabilities(const NaProblem& p, const Plane& plane, const std::vector<double>& query,
                   const std::vector<double>& key, int i, std::vector<int>& keys, std::vector<double>& prob,
                   double& logsumexp) {
  keys = na_window(p, i);
  prob.resize(keys.size());
  const double scale = p.softmax_scale();
  double m = -INFINITY;
  for (std::size_t t = 0; t < keys.size(); ++t) {
    prob[t] = scale * dot(plane.at(query, i), plane.at(key, keys[t]), p.head_dim);
    m = std::max(m, prob[t]);
  }
  double sum = 0;
  for (double& s : prob) sum += (s = std::exp(s - m));
  for (double& s : prob) s /= sum;
  logsumexp = m + std::log(sum);
}

void check_sizes(const NaProblem& p, std::initializer_list<const std::vector<double>*> tensors) {
  validate(p);
  const std::size_t n = static_cast<std::size_t>(p.batch) * p.heads * p.length * p.head_dim;
  for (const auto* t : tensors) {
    if (t->size() != n) detail::raise_invalid("{}: a tensor has {} values, not {}", describe(p), t->size(), n);
  }
}

}  // namespace

NaForward na_forward(const NaProblem& p, const std::vector<double>& query, const std::vector<double>& key,
                     const std::vector<double>& value) {
  check_sizes(p, {&query, &key, &value});
  NaForward r{std::vector<double>(query.size(), 0.0), std::vector<double>(static_cast<std::size_t>(p.batch) * p.heads * p.length)};
  parallel_for(static_cast<std::size_t>(p.batch) * p.heads, [&](std::size_t bh) {
    const Plane plane{bh * p.length * p.head_dim, p.length, p.head_dim};
    std::vector<int> keys;
    std::vector<double> prob;
    for (int i = 0; i < p.length; ++i) {
      probabilities(p, plane, query, key, i, keys, prob, r.logsumexp[bh * p.length + i]);
      double* out = plane.at(r.out, i);
      for (std::size_t t = 0; t < keys.size(); ++t) {
        const double* v = plane.at(value, keys[t]);
        for (int e = 0; e < p.head_dim; ++e) out[e] += prob[t] * v[e];
      }
    }
  });
  return r;
}

NaGradients na_backward(const NaProblem& p, const std::vector<double>& query, const std::vector<double>& key,
                        const std::vector<double>& value, const std::vector<double>& grad_out) {
  check_sizes(p, {&query, &key, &value, &grad_out});
  NaGradients g{std::vector<double>(query.size(), 0.0), std::vector<double>(query.size(), 0.0),
                std::vector<double>(query.size(), 0.0)};
  const double scale = p.softmax_scale();
  parallel_for(static_cast<std::size_t>(p.batch) * p.heads, [&](std::size_t bh) {
    const Plane plane{bh * p.length * p.head_dim, p.length, p.head_dim};
    std::vector<int> keys;
    std::vector<double> prob, dprob;
    double lse = 0;
    for (int i = 0; i < p.length; ++i) {
      probabilities(p, plane, query, key, i, keys, prob, lse);
      const double* go = plane.at(grad_out, i);
      dprob.resize(keys.size());
      double row = 0;  // sum_j P_ij dP_ij
      for (std::size_t t = 0; t < keys.size(); ++t) {
        dprob[t] = dot(go, plane.at(value, keys[t]), p.head_dim);
        row += prob[t] * dprob[t];
        double* dv = plane.at(g.value, keys[t]);
        for (int e = 0; e < p.head_dim; ++e) dv[e] += prob[t] * go[e];
      }
      double* dq = plane.at(g.query, i);
      for (std::size_t t = 0; t < keys.size(); ++t) {
        const double ds = scale * prob[t] * (dprob[t] - row);  // d loss / d (q_i . k_j)
        const double* k = plane.at(key, keys[t]);
        const double* q = plane.at(query, i);
        double* dk = plane.at(g.key, keys[t]);
        for (int e = 0; e < p.head_dim; ++e) {
          dq[e] += ds * k[e];
          dk[e] += ds * q[e];
        }
      }
    }
  });
  return g;
}

}  // namespace attnjit::reference
