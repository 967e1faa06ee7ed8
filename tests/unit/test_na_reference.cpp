// The neighborhood-attention reference and problem (SPEC.md section 3), checked against what the spec says in
// other words: windows against the spec's predicate (clipped), the causal definition, and the properties of
// NATTEN's shifted window; the forward against a dense masked softmax over all L keys; the backward against
// central finite differences; validation messages.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "reference/na_reference.hpp"

namespace attnjit {
namespace {

using reference::na_window;

std::vector<double> random_normal(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> v(n);
  for (double& x : v) x = normal(rng);
  return v;
}

// Whether query i attends key j, from the definitions (not from na_window's code).
bool attends(const NaProblem& p, int i, int j) {
  const int k = p.kernel_size, d = p.dilation;
  if (j < 0 || j >= p.length || (i - j) % d != 0) return false;
  switch (p.window) {
    case NaWindow::clipped: return std::abs(i - j) <= (k / 2) * d;
    case NaWindow::causal: return j <= i && (i - j) / d <= k - 1;
    case NaWindow::shifted: {
      const std::vector<int> w = na_window(p, i);  // checked by properties below, not by a formula
      return std::find(w.begin(), w.end(), j) != w.end();
    }
  }
  return false;
}

// out_i = softmax over all L keys of the masked scores (-inf outside the window) times V: a dense formulation.
std::vector<double> dense_forward(const NaProblem& p, const std::vector<double>& q, const std::vector<double>& k,
                                  const std::vector<double>& v) {
  const int L = p.length, D = p.head_dim;
  std::vector<double> out(q.size(), 0.0);
  for (int bh = 0; bh < p.batch * p.heads; ++bh) {
    const std::size_t base = static_cast<std::size_t>(bh) * L * D;
    for (int i = 0; i < L; ++i) {
      std::vector<double> s(L, -INFINITY);
      double m = -INFINITY;
      for (int j = 0; j < L; ++j) {
        if (!attends(p, i, j)) continue;
        double dot = 0;
        for (int e = 0; e < D; ++e) dot += q[base + i * D + e] * k[base + j * D + e];
        s[j] = p.softmax_scale() * dot;
        m = std::max(m, s[j]);
      }
      double sum = 0;
      for (int j = 0; j < L; ++j) sum += std::exp(s[j] - m);
      for (int j = 0; j < L; ++j) {
        const double w = std::exp(s[j] - m) / sum;
        for (int e = 0; e < D; ++e) out[base + i * D + e] += w * v[base + j * D + e];
      }
    }
  }
  return out;
}

NaProblem small(NaWindow window, int length, int kernel, int dilation, int dim = 5) {
  return {.batch = 2, .heads = 2, .length = length, .head_dim = dim, .kernel_size = kernel, .dilation = dilation,
          .window = window};
}

}  // namespace

TEST_SUITE("na_reference") {

TEST_CASE("windows: the spec's examples, and each kind by its definition") {
  NaProblem p = small(NaWindow::clipped, 10, 7, 1);
  CHECK(na_window(p, 0) == std::vector<int>{0, 1, 2, 3});  // SPEC.md: query 0 with kernel 7 sees keys 0..3
  CHECK(na_window(p, 5) == std::vector<int>{2, 3, 4, 5, 6, 7, 8});
  p.dilation = 2;
  CHECK(na_window(p, 5) == std::vector<int>{1, 3, 5, 7, 9});
  p = small(NaWindow::shifted, 10, 7, 1);
  CHECK(na_window(p, 0) == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
  CHECK(na_window(p, 9) == std::vector<int>{3, 4, 5, 6, 7, 8, 9});
  p = small(NaWindow::shifted, 20, 3, 2);
  CHECK(na_window(p, 1) == std::vector<int>{1, 3, 5});
  CHECK(na_window(p, 19) == std::vector<int>{15, 17, 19});
  CHECK(na_window(p, 8) == std::vector<int>{6, 8, 10});
  p = small(NaWindow::causal, 10, 3, 2);
  CHECK(na_window(p, 5) == std::vector<int>{1, 3, 5});
  CHECK(na_window(p, 1) == std::vector<int>{1});

  for (int L : {1, 2, 5, 9, 16, 33}) {
    for (int k : {1, 3, 5, 7, 13}) {
      for (int d : {1, 2, 3, 4, 8}) {
        for (NaWindow w : {NaWindow::clipped, NaWindow::causal}) {
          const NaProblem q = small(w, L, k, d);
          for (int i = 0; i < L; ++i) {
            std::vector<int> expected;
            for (int j = 0; j < L; ++j) {
              if (attends(q, i, j)) expected.push_back(j);
            }
            CHECK_MESSAGE(na_window(q, i) == expected, to_string(w), " L=", L, " k=", k, " d=", d, " i=", i);
          }
        }
        // NATTEN's shifted window: the query's dilation group, min(k, group length) keys, consecutive in the
        // group, containing the query, and as centred on it as the group's ends allow.
        const NaProblem q = small(NaWindow::shifted, L, k, d);
        for (int i = 0; i < L; ++i) {
          const std::vector<int> w = na_window(q, i);
          const int group_length = (L - i % d + d - 1) / d;
          INFO("L=", L, " k=", k, " d=", d, " i=", i);
          REQUIRE(static_cast<int>(w.size()) == std::min(k, group_length));
          CHECK(std::find(w.begin(), w.end(), i) != w.end());
          for (std::size_t t = 0; t < w.size(); ++t) {
            CHECK(w[t] % d == i % d);
            if (t > 0) CHECK(w[t] - w[t - 1] == d);
          }
          const int before = (i - w.front()) / d, after = (w.back() - i) / d;
          if (before != after) {  // off centre only against an end of the group
            CHECK((w.front() / d == 0 || w.back() + d >= L));
          }
        }
      }
    }
  }
}

TEST_CASE("forward matches a dense masked softmax over all keys, every window kind, with and without dilation") {
  for (NaWindow w : {NaWindow::clipped, NaWindow::shifted, NaWindow::causal}) {
    for (auto [L, k, d] : {std::tuple{1, 7, 1}, std::tuple{5, 7, 1}, std::tuple{33, 5, 2}, std::tuple{40, 3, 8},
                           std::tuple{17, 13, 3}}) {
      NaProblem p = small(w, L, k, d, 6);
      p.scale = L == 33 ? 0.3 : 0.0;
      const auto q = random_normal(p.batch * p.heads * L * p.head_dim, 1), key = random_normal(q.size(), 2),
                 v = random_normal(q.size(), 3);
      const reference::NaForward f = reference::na_forward(p, q, key, v);
      const std::vector<double> dense = dense_forward(p, q, key, v);
      double worst = 0;
      for (std::size_t e = 0; e < dense.size(); ++e) worst = std::max(worst, std::abs(f.out[e] - dense[e]));
      CHECK_MESSAGE(worst < 1e-12, describe(p));
      CHECK(f.logsumexp.size() == static_cast<std::size_t>(p.batch * p.heads * L));
    }
  }
  // kernel 1: every query sees only itself, so out = value
  const NaProblem one = small(NaWindow::clipped, 9, 1, 3);
  const auto v = random_normal(one.batch * one.heads * 9 * 5, 4);
  CHECK(reference::na_forward(one, random_normal(v.size(), 5), random_normal(v.size(), 6), v).out == v);
}

TEST_CASE("backward matches central finite differences of sum(out * grad_out)") {
  for (NaWindow w : {NaWindow::clipped, NaWindow::shifted, NaWindow::causal}) {
    const NaProblem p = small(w, 11, 5, 2, 3);
    auto q = random_normal(p.batch * p.heads * p.length * p.head_dim, 7), k = random_normal(q.size(), 8),
         v = random_normal(q.size(), 9);
    const auto go = random_normal(q.size(), 10);
    const reference::NaGradients g = reference::na_backward(p, q, k, v, go);
    auto loss = [&] {
      const auto out = reference::na_forward(p, q, k, v).out;
      double s = 0;
      for (std::size_t e = 0; e < out.size(); ++e) s += out[e] * go[e];
      return s;
    };
    for (auto [tensor, grad, name] : {std::tuple{&q, &g.query, "query"}, std::tuple{&k, &g.key, "key"},
                                      std::tuple{&v, &g.value, "value"}}) {
      double worst = 0;
      for (std::size_t e = 0; e < tensor->size(); e += 7) {
        const double saved = (*tensor)[e], h = 1e-6;
        (*tensor)[e] = saved + h;
        const double up = loss();
        (*tensor)[e] = saved - h;
        const double down = loss();
        (*tensor)[e] = saved;
        worst = std::max(worst, std::abs((up - down) / (2 * h) - (*grad)[e]));
      }
      CHECK_MESSAGE(worst < 1e-7, to_string(w), " d", name, ": worst difference ", worst);
    }
  }
}

TEST_CASE("validation names the value and what to do") {
  auto message = [](NaProblem p) {
    try {
      validate(p);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_argument);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  NaProblem p = small(NaWindow::clipped, 16, 7, 1);
  CHECK(message(p) == "accepted");
  p.kernel_size = 8;
  CHECK(message(p).find("kernel_size=8 must be odd (the window is centred on the query); use 7 or 9") != std::string::npos);
  p.kernel_size = 0;
  CHECK(message(p).find("kernel_size=0 must be positive") != std::string::npos);
  p.kernel_size = 7;
  p.dilation = 0;
  CHECK(message(p).find("dilation=0 must be positive") != std::string::npos);
  p.dilation = 1;
  p.scale = -1;
  CHECK(message(p).find("scale=-1 must be positive, or 0 for 1/sqrt(head_dim)") != std::string::npos);
  p.scale = 0;
  p.head_dim = 0;
  CHECK(message(p).find("head_dim=0") != std::string::npos);
  p.head_dim = 64;
  CHECK(p.softmax_scale() == doctest::Approx(0.125));
  NaProblem huge = p;  // rows the kernels' 32-bit indexes cannot reach, though the elements are within 2^40
  huge.batch = 1 << 16;
  huge.heads = 1 << 8;
  huge.length = 1 << 8;
  huge.head_dim = 16;
  CHECK(message(huge).find("batch*heads*length = 4294967296 rows is past the 2^31 - 1") != std::string::npos);
  huge.batch = 1 << 14;  // 2^30 rows
  CHECK(message(huge) == "accepted");
  CHECK(describe(p) == "neighborhood_attention f32 B=2 H=2 L=16 D=64 kernel_size=7 dilation=1 window=clipped scale=0.125");
}

}  // TEST_SUITE

}  // namespace attnjit
