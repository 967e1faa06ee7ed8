// The double-precision mta reference (reference/mta_reference.hpp) against hand-computed values, finite
// differences and the invariants of SPEC.md section 1. Everything the GPU kernels are checked against
// rests on these tests, so each one is written to fail on a plausible mistake.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <vector>

#include "reference/mta_reference.hpp"

namespace {

using attnjit::Bias;
using attnjit::MtaProblem;
using attnjit::Norm;
using attnjit::Padding;
namespace ref = attnjit::reference;

constexpr double kExact = 1e-14;  // hand-computed values: only rounding differs

std::size_t scores_size(const MtaProblem& p) {
  return std::size_t(p.batch) * p.in_channels * p.length * p.length;
}
std::size_t weight_size(const MtaProblem& p) {
  return std::size_t(p.out_channels) * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
}
std::size_t out_size(const MtaProblem& p) {
  return std::size_t(p.batch) * p.out_channels * p.out_h() * p.out_w();
}

std::vector<double> random_normal(std::size_t n, std::mt19937_64& rng, double stddev = 1.0) {
  std::normal_distribution<double> dist(0.0, stddev);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

const char* norm_name(Norm norm) { return norm == Norm::softmax ? "softmax" : "sparsemax"; }

// A one-plane problem whose output is W * P + bias for a 1x1 kernel.
MtaProblem single_plane(int length, Norm norm) {
  MtaProblem p;
  p.length = length;
  p.norm = norm;
  return p;
}

// sum(out * grad_out): the scalar whose gradients mta_backward returns.
double loss(const MtaProblem& p, const std::vector<double>& scores, const std::vector<double>& weight,
            const std::vector<double>& bias, const std::vector<double>& grad_out) {
  const std::vector<double> out = ref::mta_forward(p, scores, weight, bias);
  double sum = 0;
  for (std::size_t k = 0; k < out.size(); ++k) sum += out[k] * grad_out[k];
  return sum;
}

std::vector<bool> support_of(const MtaProblem& p, const std::vector<double>& scores) {
  const std::vector<double> probs = ref::mta_normalize(p, scores);
  std::vector<bool> support(probs.size());
  for (std::size_t k = 0; k < probs.size(); ++k) support[k] = probs[k] > 0;
  return support;
}

bool close(double analytic, double numeric) {
  return std::abs(analytic - numeric) <= 1e-7 + 1e-5 * std::abs(numeric);
}

// Checks every gradient mta_backward returns against central differences of `loss`.
void check_gradients(const MtaProblem& p, std::uint64_t seed) {
  constexpr double kEps = 1e-6;
  std::mt19937_64 rng(seed);
  // Sparsemax on unit-variance scores mostly keeps one entry per row, where the gradient is 0; a
  // smaller spread gives larger supports and so a test with something to check.
  std::vector<double> scores = random_normal(scores_size(p), rng, p.norm == Norm::sparsemax ? 0.3 : 1.0);
  std::vector<double> weight = random_normal(weight_size(p), rng);
  std::vector<double> bias =
      p.bias == Bias::present ? random_normal(p.out_channels, rng) : std::vector<double>{};
  const std::vector<double> grad_out = random_normal(out_size(p), rng);  // future part too: must be ignored
  const ref::MtaGradients grads = ref::mta_backward(p, scores, weight, grad_out);
  REQUIRE(grads.scores.size() == scores.size());
  REQUIRE(grads.weight.size() == weight.size());
  REQUIRE(grads.bias.size() == bias.size());

  const std::vector<bool> support = support_of(p, scores);
  int checked = 0, skipped = 0, nonzero = 0;
  for (std::size_t k = 0; k < scores.size(); ++k) {
    const std::size_t i = (k / p.length) % p.length, j = k % p.length;
    if (j > i) {
      CHECK(grads.scores[k] == 0.0);  // future positions: exactly 0
      continue;
    }
    const double saved = scores[k];
    scores[k] = saved + kEps;
    const double plus = loss(p, scores, weight, bias, grad_out);
    const bool kink_plus = support_of(p, scores) != support;
    scores[k] = saved - kEps;
    const double minus = loss(p, scores, weight, bias, grad_out);
    const bool kink_minus = support_of(p, scores) != support;
    scores[k] = saved;
    if (kink_plus || kink_minus) {  // a sparsemax support boundary within eps: not differentiable here
      ++skipped;
      continue;
    }
    const double numeric = (plus - minus) / (2 * kEps);
    INFO("dscores at ", k, " (row ", i, ", col ", j, ")");
    CHECK(close(grads.scores[k], numeric));
    ++checked;
    nonzero += std::abs(numeric) > 1e-6;
  }
  CHECK(skipped * 10 <= checked);  // the check above must not have been skipped wholesale
  CHECK(nonzero * 2 >= checked);   // nor have compared mostly zeros

  for (std::size_t k = 0; k < weight.size(); ++k) {
    const double saved = weight[k];
    weight[k] = saved + kEps;
    const double plus = loss(p, scores, weight, bias, grad_out);
    weight[k] = saved - kEps;
    const double minus = loss(p, scores, weight, bias, grad_out);
    weight[k] = saved;
    INFO("dweight at ", k);
    CHECK(close(grads.weight[k], (plus - minus) / (2 * kEps)));
  }
  for (std::size_t k = 0; k < bias.size(); ++k) {
    const double saved = bias[k];
    bias[k] = saved + kEps;
    const double plus = loss(p, scores, weight, bias, grad_out);
    bias[k] = saved - kEps;
    const double minus = loss(p, scores, weight, bias, grad_out);
    bias[k] = saved;
    INFO("dbias at ", k);
    CHECK(close(grads.bias[k], (plus - minus) / (2 * kEps)));
  }
}

// Geometries for the finite-difference test; each run with both norms.
std::vector<MtaProblem> gradient_problems() {
  std::vector<MtaProblem> problems;
  MtaProblem p;
  // Stride 2 with rows not divisible (7 + 2 - 1 - 1 = 7), groups 2, C_in != C_out, bias.
  p = {.batch = 2, .in_channels = 2, .out_channels = 4, .length = 7, .kernel_h = 2, .kernel_w = 3,
       .stride_h = 2, .stride_w = 2, .padding = Padding::symmetric(1), .groups = 2, .bias = Bias::present};
  problems.push_back(p);
  // Dilation 2, causal padding (top = Kh-1, bottom 0, key axis centred), groups 2, no bias.
  p = {.batch = 1, .in_channels = 4, .out_channels = 2, .length = 6, .kernel_h = 3, .kernel_w = 3,
       .padding = {2, 0, 1, 1}, .dilation_h = 2, .dilation_w = 2, .groups = 2};
  problems.push_back(p);
  // Kh != Kw, asymmetric padding and strides, out_h != out_w, bias.
  p = {.batch = 1, .in_channels = 3, .out_channels = 2, .length = 6, .kernel_h = 3, .kernel_w = 2,
       .stride_h = 1, .stride_w = 2, .padding = {1, 0, 0, 1}, .dilation_w = 2, .bias = Bias::present};
  problems.push_back(p);
  // The paper's layout, scaled down: depthwise, causal query padding, Kh x Kw = 3 x 5.
  p = {.batch = 1, .in_channels = 2, .out_channels = 2, .length = 7, .kernel_h = 3, .kernel_w = 5,
       .padding = {2, 0, 2, 2}, .groups = 2, .bias = Bias::present};
  problems.push_back(p);
  return problems;
}

// SPEC.md section 1, steps 3 and 4, written out literally one output element at a time: an
// independent check of the reference's strides, padding, dilation, groups, bias and mask. (Finite
// differences cannot catch a wrong tap position, since forward and backward would share it.)
std::vector<double> direct_conv(const MtaProblem& p, const std::vector<double>& probs,
                                const std::vector<double>& weight, const std::vector<double>& bias) {
  const int cin_g = p.in_channels / p.groups, cout_g = p.out_channels / p.groups, L = p.length;
  std::vector<double> out(out_size(p), 0.0);
  std::size_t at = 0;
  for (int b = 0; b < p.batch; ++b)
    for (int oc = 0; oc < p.out_channels; ++oc)
      for (int oi = 0; oi < p.out_h(); ++oi)
        for (int oj = 0; oj < p.out_w(); ++oj, ++at) {
          if (oj > oi) continue;  // masked: stays 0
          double y = bias.empty() ? 0.0 : bias[oc];
          for (int icg = 0; icg < cin_g; ++icg)
            for (int kh = 0; kh < p.kernel_h; ++kh)
              for (int kw = 0; kw < p.kernel_w; ++kw) {
                const int r = oi * p.stride_h - p.padding.top + kh * p.dilation_h;
                const int c = oj * p.stride_w - p.padding.left + kw * p.dilation_w;
                if (r < 0 || r >= L || c < 0 || c >= L) continue;
                const int ic = (oc / cout_g) * cin_g + icg;
                y += weight[((std::size_t(oc) * cin_g + icg) * p.kernel_h + kh) * p.kernel_w + kw] *
                     probs[((std::size_t(b) * p.in_channels + ic) * L + r) * L + c];
              }
          out[at] = y;
        }
  return out;
}

// Spans several of the reference's 64-row work blocks (L = 150), grouped, with a bias.
MtaProblem direct_backward_problem() {
  return {.batch = 2, .in_channels = 4, .out_channels = 4, .length = 150, .kernel_h = 3, .kernel_w = 5,
          .padding = {2, 0, 2, 2}, .dilation_w = 2, .groups = 2, .bias = Bias::present};
}

// The softmax backward written out directly: dP by scattering every unmasked grad_out element through
// every tap (SPEC.md's transposed convolution), then dZ = P (dP - sum_j P dP) on each causal row; the
// weight and bias gradients as literal sums over the unmasked outputs.
ref::MtaGradients direct_backward(const MtaProblem& p, const std::vector<double>& probs,
                                  const std::vector<double>& weight, const std::vector<double>& grad_out) {
  const int cin_g = p.in_channels / p.groups, cout_g = p.out_channels / p.groups, L = p.length;
  ref::MtaGradients g;
  std::vector<double> dp(probs.size(), 0.0);
  g.weight.assign(weight.size(), 0.0);
  g.bias.assign(p.bias == Bias::present ? p.out_channels : 0, 0.0);
  for (int b = 0; b < p.batch; ++b)
    for (int oc = 0; oc < p.out_channels; ++oc)
      for (int oi = 0; oi < p.out_h(); ++oi)
        for (int oj = 0; oj <= std::min(oi, p.out_w() - 1); ++oj) {
          const double dy = grad_out[((std::size_t(b) * p.out_channels + oc) * p.out_h() + oi) * p.out_w() + oj];
          if (!g.bias.empty()) g.bias[oc] += dy;
          for (int icg = 0; icg < cin_g; ++icg)
            for (int kh = 0; kh < p.kernel_h; ++kh)
              for (int kw = 0; kw < p.kernel_w; ++kw) {
                const int r = oi * p.stride_h - p.padding.top + kh * p.dilation_h;
                const int c = oj * p.stride_w - p.padding.left + kw * p.dilation_w;
                if (r < 0 || r >= L || c < 0 || c >= L) continue;
                const std::size_t w = ((std::size_t(oc) * cin_g + icg) * p.kernel_h + kh) * p.kernel_w + kw;
                const std::size_t at = ((std::size_t(b) * p.in_channels + (oc / cout_g) * cin_g + icg) * L + r) * L + c;
                dp[at] += weight[w] * dy;
                g.weight[w] += dy * probs[at];
              }
        }
  g.scores.assign(probs.size(), 0.0);
  for (std::size_t row = 0; row < probs.size() / L; ++row) {
    const std::size_t i = row % L, at = row * L;
    double dot = 0;
    for (std::size_t j = 0; j <= i; ++j) dot += probs[at + j] * dp[at + j];
    for (std::size_t j = 0; j <= i; ++j) g.scores[at + j] = probs[at + j] * (dp[at + j] - dot);
  }
  return g;
}

}  // namespace

TEST_SUITE("reference") {
  TEST_CASE("backward equals the softmax backward written out directly, over several row blocks") {
    const MtaProblem p = direct_backward_problem();
    std::mt19937_64 rng(11);
    const std::vector<double> scores = random_normal(scores_size(p), rng);
    const std::vector<double> weight = random_normal(weight_size(p), rng);
    const std::vector<double> grad_out = random_normal(out_size(p), rng);
    const ref::MtaGradients got = ref::mta_backward(p, scores, weight, grad_out);
    const ref::MtaGradients expected = direct_backward(p, ref::mta_normalize(p, scores), weight, grad_out);
    REQUIRE(got.scores.size() == expected.scores.size());
    for (std::size_t k = 0; k < got.scores.size(); ++k) {
      INFO("grad_scores element ", k);
      REQUIRE(got.scores[k] == doctest::Approx(expected.scores[k]).epsilon(1e-10).scale(1.0));
    }
    REQUIRE(got.weight.size() == expected.weight.size());
    for (std::size_t k = 0; k < got.weight.size(); ++k) {
      INFO("grad_weight element ", k);
      CHECK(got.weight[k] == doctest::Approx(expected.weight[k]).epsilon(1e-10));
    }
    REQUIRE(got.bias.size() == expected.bias.size());
    for (std::size_t k = 0; k < got.bias.size(); ++k) CHECK(got.bias[k] == doctest::Approx(expected.bias[k]).epsilon(1e-10));
  }

  TEST_CASE("a 1x1 unit kernel gives exactly the causal softmax, computed by hand") {
    const MtaProblem p = single_plane(2, Norm::softmax);
    // Row 1 = softmax(0, ln 3) = (1/4, 3/4); row 0 sees only its diagonal. scores[0][1] is future.
    const std::vector<double> scores = {5.0, 7.0, 0.0, std::log(3.0)};
    const std::vector<double> out = ref::mta_forward(p, scores, {1.0}, {});
    REQUIRE(out.size() == 4);
    CHECK(out[0] == doctest::Approx(1.0).epsilon(kExact));
    CHECK(out[1] == 0.0);
    CHECK(out[2] == doctest::Approx(0.25).epsilon(kExact));
    CHECK(out[3] == doctest::Approx(0.75).epsilon(kExact));
  }

  TEST_CASE("sparsemax matches hand-computed rows, including one that leaves the support") {
    const MtaProblem p = single_plane(3, Norm::sparsemax);
    // Row 1: z = (0.5, 0.2), both in support, tau = -0.15 -> (0.65, 0.35).
    // Row 2: z = (1.0, 0.1, 0.0): k = 3 fails (1 + 0 <= 1.1), so k = 2, tau = 0.05 -> (0.95, 0.05, 0).
    const std::vector<double> scores = {9.0, 9.0, 9.0, 0.5, 0.2, 9.0, 1.0, 0.1, 0.0};
    const std::vector<double> probs = ref::mta_normalize(p, scores);
    const std::vector<double> expected = {1.0, 0.0, 0.0, 0.65, 0.35, 0.0, 0.95, 0.05, 0.0};
    REQUIRE(probs.size() == expected.size());
    for (std::size_t k = 0; k < expected.size(); ++k) {
      INFO("entry ", k);
      CHECK(probs[k] == doctest::Approx(expected[k]).epsilon(kExact));
    }
    CHECK(probs[8] == 0.0);  // out of the support: exactly 0, not a small number
  }

  TEST_CASE("a 2x2 kernel with padding 1 and stride 2 on a 3x3 P, computed by hand") {
    MtaProblem p = single_plane(3, Norm::sparsemax);
    p.kernel_h = p.kernel_w = 2;
    p.stride_h = p.stride_w = 2;
    p.padding = Padding::symmetric(1);
    // P = [[1, 0, 0], [0.65, 0.35, 0], [0.95, 0.05, 0]] (the rows of the sparsemax test).
    const std::vector<double> scores = {9.0, 9.0, 9.0, 0.5, 0.2, 9.0, 1.0, 0.1, 0.0};
    const std::vector<double> weight = {1.0, 2.0, 3.0, 4.0};  // W[kh][kw]
    // out_h = out_w = floor((3 + 2 - 1 - 1) / 2) + 1 = 2; output (oi, oj) reads rows/cols 2o-1, 2o.
    //   (0,0): only P[0][0] under W[1][1]              = 4
    //   (0,1): future, masked                           = 0
    //   (1,0): W[0][1] P[1][0] + W[1][1] P[2][0]        = 1.3 + 3.8 = 5.1
    //   (1,1): W[0][0] P[1][1] + W[1][0] P[2][1]        = 0.35 + 0.15 = 0.5
    const std::vector<double> out = ref::mta_forward(p, scores, weight, {});
    REQUIRE(out.size() == 4);
    CHECK(out[0] == doctest::Approx(4.0).epsilon(kExact));
    CHECK(out[1] == 0.0);
    CHECK(out[2] == doctest::Approx(5.1).epsilon(kExact));
    CHECK(out[3] == doctest::Approx(0.5).epsilon(kExact));
  }

  TEST_CASE("bias is added before the mask: future outputs are exactly 0 even with a bias") {
    MtaProblem p = single_plane(3, Norm::softmax);
    p.bias = Bias::present;
    const std::vector<double> scores(9, 0.0);  // P row i = 1 / (i + 1) on j <= i
    const std::vector<double> out = ref::mta_forward(p, scores, {2.0}, {0.5});
    const double row2 = 0.5 + 2.0 / 3;  // 2 * (1/3) + 0.5
    const std::vector<double> expected = {2.5, 0.0, 0.0, 1.5, 1.5, 0.0, row2, row2, row2};
    REQUIRE(out.size() == expected.size());
    for (std::size_t k = 0; k < expected.size(); ++k) {
      INFO("entry ", k);
      CHECK(out[k] == doctest::Approx(expected[k]).epsilon(kExact));
    }
    CHECK(out[1] == 0.0);
    CHECK(out[2] == 0.0);
    CHECK(out[5] == 0.0);
  }

  TEST_CASE("asymmetric padding gives out_h != out_w, masked on the output grid") {
    MtaProblem p = single_plane(3, Norm::softmax);
    p.padding = {1, 0, 0, 2};  // top, bottom, left, right: out_h = 4, out_w = 5
    REQUIRE(p.out_h() == 4);
    REQUIRE(p.out_w() == 5);
    const std::vector<double> scores(9, 0.0);
    // out[oi][oj] = P[oi - 1][oj] for oj <= oi, with P row i = 1 / (i + 1) on j <= i; row 0 is padding.
    const double t = 1.0 / 3;
    const std::vector<double> expected = {0, 0,   0,   0, 0,  //
                                          1, 0,   0,   0, 0,  //
                                          .5, .5, 0,   0, 0,  //
                                          t, t,   t,   0, 0};
    const std::vector<double> out = ref::mta_forward(p, scores, {1.0}, {});
    REQUIRE(out.size() == expected.size());
    for (std::size_t k = 0; k < expected.size(); ++k) {
      INFO("entry ", k, " (row ", k / 5, ", col ", k % 5, ")");
      CHECK(out[k] == doctest::Approx(expected[k]).epsilon(kExact));
    }
  }

  TEST_CASE("forward equals SPEC's convolution formula evaluated directly, on varied geometries") {
    std::vector<MtaProblem> problems = gradient_problems();
    // Larger ones: the paper's 6 x 11 depthwise causal kernel, and strides 3 x 2 with dilations 2 x 3.
    problems.push_back({.batch = 1, .in_channels = 2, .out_channels = 2, .length = 33, .kernel_h = 6,
                        .kernel_w = 11, .padding = {5, 0, 5, 5}, .groups = 2, .bias = Bias::present});
    problems.push_back({.batch = 2, .in_channels = 2, .out_channels = 3, .length = 20, .kernel_h = 3,
                        .kernel_w = 4, .stride_h = 3, .stride_w = 2, .padding = {2, 1, 0, 3},
                        .dilation_h = 2, .dilation_w = 3, .bias = Bias::present, .norm = Norm::sparsemax});
    // Several of the reference's 64-row work blocks, with a ragged last one (L = 150, out_h 150 and 75).
    problems.push_back(direct_backward_problem());
    problems.push_back({.batch = 1, .in_channels = 2, .out_channels = 2, .length = 150, .kernel_h = 3,
                        .kernel_w = 3, .stride_h = 2, .padding = Padding::symmetric(1), .groups = 1});
    std::mt19937_64 rng(5);
    for (const MtaProblem& p : problems) {
      INFO("problem: L ", p.length, " K ", p.kernel_h, "x", p.kernel_w, " stride ", p.stride_h, "x",
           p.stride_w, " dilation ", p.dilation_h, "x", p.dilation_w, " groups ", p.groups, " out ",
           p.out_h(), "x", p.out_w());
      const std::vector<double> scores = random_normal(scores_size(p), rng);
      const std::vector<double> weight = random_normal(weight_size(p), rng);
      const std::vector<double> bias =
          p.bias == Bias::present ? random_normal(p.out_channels, rng) : std::vector<double>{};
      const std::vector<double> out = ref::mta_forward(p, scores, weight, bias);
      const std::vector<double> expected = direct_conv(p, ref::mta_normalize(p, scores), weight, bias);
      REQUIRE(out.size() == expected.size());
      for (std::size_t k = 0; k < out.size(); ++k) {
        INFO("output element ", k);
        REQUIRE(out[k] == doctest::Approx(expected[k]).epsilon(1e-12).scale(1.0));
      }
    }
  }

  TEST_CASE("NaN in the future part of scores and grad_out reaches neither output nor gradients") {
    for (Norm norm : {Norm::softmax, Norm::sparsemax}) {
      INFO("norm ", norm_name(norm));
      MtaProblem p{.batch = 1, .in_channels = 2, .out_channels = 2, .length = 6, .kernel_h = 3,
                   .kernel_w = 3, .padding = Padding::symmetric(1), .bias = Bias::present, .norm = norm};
      std::mt19937_64 rng(11);
      std::vector<double> clean = random_normal(scores_size(p), rng);
      const std::vector<double> weight = random_normal(weight_size(p), rng);
      const std::vector<double> bias = random_normal(p.out_channels, rng);
      std::vector<double> grad_clean = random_normal(out_size(p), rng);
      std::vector<double> dirty = clean, grad_dirty = grad_clean;
      const double nan = std::numeric_limits<double>::quiet_NaN();
      for (std::size_t k = 0; k < dirty.size(); ++k) {
        if (k % p.length > (k / p.length) % p.length) {  // column > row: the future
          dirty[k] = nan;
          clean[k] = 0.0;
        }
      }
      for (std::size_t k = 0; k < grad_dirty.size(); ++k) {
        if (k % p.out_w() > (k / p.out_w()) % p.out_h()) {
          grad_dirty[k] = nan;
          grad_clean[k] = 0.0;
        }
      }

      // Equal to the run with zeros there: NaN was not read, and nothing else depended on it.
      CHECK(ref::mta_forward(p, dirty, weight, bias) == ref::mta_forward(p, clean, weight, bias));
      const ref::MtaGradients a = ref::mta_backward(p, dirty, weight, grad_dirty);
      const ref::MtaGradients b = ref::mta_backward(p, clean, weight, grad_clean);
      CHECK(a.scores == b.scores);
      CHECK(a.weight == b.weight);
      CHECK(a.bias == b.bias);
      for (double x : a.scores) REQUIRE(std::isfinite(x));
    }
  }

  TEST_CASE("backward matches central finite differences for both norms and many geometries") {
    std::uint64_t seed = 1;
    for (const MtaProblem& geometry : gradient_problems()) {
      for (Norm norm : {Norm::softmax, Norm::sparsemax}) {
        MtaProblem p = geometry;
        p.norm = norm;
        INFO("norm ", norm_name(norm));
        INFO("problem: Cin ", p.in_channels, " Cout ", p.out_channels, " K ", p.kernel_h, "x", p.kernel_w,
             " stride ", p.stride_h, "x", p.stride_w, " dilation ", p.dilation_h, "x", p.dilation_w,
             " groups ", p.groups, " out ", p.out_h(), "x", p.out_w());
        check_gradients(p, seed++);
      }
    }
  }

  TEST_CASE("mta_normalize rows sum to 1 over j <= i with exact zeros in the future") {
    for (Norm norm : {Norm::softmax, Norm::sparsemax}) {
      INFO("norm ", norm_name(norm));
      const MtaProblem p{.batch = 2, .in_channels = 3, .length = 17, .norm = norm};
      std::mt19937_64 rng(7);
      const std::vector<double> scores = random_normal(scores_size(p), rng, 2.0);
      const std::vector<double> probs = ref::mta_normalize(p, scores);
      REQUIRE(probs.size() == scores.size());
      for (std::size_t row = 0; row < probs.size() / p.length; ++row) {
        const std::size_t i = row % p.length;
        double sum = 0;
        for (std::size_t j = 0; j <= i; ++j) {
          REQUIRE(probs[row * p.length + j] >= 0.0);
          sum += probs[row * p.length + j];
        }
        for (std::size_t j = i + 1; j < std::size_t(p.length); ++j) REQUIRE(probs[row * p.length + j] == 0.0);
        INFO("row ", row);
        CHECK(sum == doctest::Approx(1.0).epsilon(1e-12));
      }
    }
  }

  TEST_CASE("mismatched buffer sizes are rejected with attnjit::Error") {
    const MtaProblem p = single_plane(3, Norm::softmax);
    CHECK_THROWS_AS(ref::mta_forward(p, std::vector<double>(8), {1.0}, {}), attnjit::Error);
    CHECK_THROWS_AS(ref::mta_forward(p, std::vector<double>(9), {1.0, 2.0}, {}), attnjit::Error);
    CHECK_THROWS_AS(ref::mta_forward(p, std::vector<double>(9), {1.0}, {0.5}), attnjit::Error);
    CHECK_THROWS_AS(ref::mta_backward(p, std::vector<double>(9), {1.0}, std::vector<double>(8)),
                    attnjit::Error);
  }
}
