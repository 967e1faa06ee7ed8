// An all-pairs covering of a parameter space: a small set of cases in which every value of every
// parameter, and every pair of values of any two parameters, appears at least once (where some valid
// case can hold that pair). AETG-style: each new case is the best of a batch of random valid
// candidates by the number of uncovered pairs it covers. Deterministic for a given seed.
#pragma once

#include <cstddef>
#include <functional>
#include <random>
#include <set>
#include <tuple>
#include <vector>

namespace attnjit::testing {

// A case is one value index per parameter; sizes[p] is the number of values of parameter p.
using Case = std::vector<int>;

struct Covering {
  std::vector<Case> cases;
  std::size_t uncoverable_pairs = 0;  // pairs no valid candidate ever held (reported, not hidden)
};

inline Covering all_pairs(const std::vector<int>& sizes, const std::function<bool(const Case&)>& valid,
                          unsigned seed = 1, int candidates = 200) {
  using Pair = std::tuple<int, int, int, int>;  // (p, value of p, q, value of q), p < q
  std::set<Pair> uncovered;
  for (int p = 0; p < static_cast<int>(sizes.size()); ++p) {
    for (int q = p + 1; q < static_cast<int>(sizes.size()); ++q) {
      for (int a = 0; a < sizes[p]; ++a) {
        for (int b = 0; b < sizes[q]; ++b) uncovered.insert({p, a, q, b});
      }
    }
  }
  auto gain = [&](const Case& c) {
    int n = 0;
    for (int p = 0; p < static_cast<int>(c.size()); ++p) {
      for (int q = p + 1; q < static_cast<int>(c.size()); ++q) n += static_cast<int>(uncovered.count({p, c[p], q, c[q]}));
    }
    return n;
  };
  std::mt19937 rng(seed);
  Covering covering;
  for (int stale = 0; !uncovered.empty() && stale < 20;) {
    Case best;
    int best_gain = 0;
    const auto [p0, a0, q0, b0] = *uncovered.begin();  // seed each candidate with an uncovered pair
    for (int attempt = 0; attempt < candidates; ++attempt) {
      Case c(sizes.size());
      for (std::size_t p = 0; p < sizes.size(); ++p) c[p] = static_cast<int>(rng() % sizes[p]);
      if (attempt % 2 == 0) {
        c[p0] = a0;
        c[q0] = b0;
      }
      if (!valid(c)) continue;
      if (const int g = gain(c); g > best_gain) {
        best_gain = g;
        best = c;
      }
    }
    if (best_gain == 0) {  // the first uncovered pair may be impossible: set it aside
      uncovered.erase(uncovered.begin());
      ++covering.uncoverable_pairs;
      ++stale;
      continue;
    }
    stale = 0;
    for (int p = 0; p < static_cast<int>(best.size()); ++p) {
      for (int q = p + 1; q < static_cast<int>(best.size()); ++q) uncovered.erase({p, best[p], q, best[q]});
    }
    covering.cases.push_back(best);
  }
  covering.uncoverable_pairs += uncovered.size();
  return covering;
}

}  // namespace attnjit::testing
