// Which config a kernel runs with, and why: the heuristic, or a tuned winner from the store when one was
// tuned in the current environment (DESIGN.md "Two scopes of validity"). Pure: the runtime, `attnjit
// cache explain` and the C++ API's explanation share it, so they cannot disagree.
#pragma once

#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "cache/store.hpp"
#include "generator/kernel_spec.hpp"

namespace attnjit {

// The store's key of a problem: canonical JSON of every field (batch included: it changes the timing).
std::string mta_problem_key(const MtaProblem& problem);

TileConfig tile_config_from_json(const std::string& json);  // throws invalid_argument naming what is wrong
std::string to_json(const TileConfig& config);

struct ConfigChoice {
  TileConfig config;
  bool tuned = false;
  // "tuned winner from 2026-11-24 on NVIDIA H100 80GB HBM3, 132 SMs, driver 580.159.04: median 141 us,
  //  p20-p80 139-143 us" or "heuristic: a winner exists but was tuned under driver 570.86 -> 580.159.04"
  std::string why;
};

// The winner among `winners` (every environment's, as Store::find_tuned returns them) whose environment
// is `now`, else the heuristic with the reason the others do not apply.
ConfigChoice choose_config(const TileConfig& heuristic, const std::vector<cache::TunedRecord>& winners,
                           const cache::Environment& now);

}  // namespace attnjit
