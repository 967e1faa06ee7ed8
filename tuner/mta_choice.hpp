// Which config a kernel runs with, and why: the heuristic, or a tuned winner from the store when one was
// tuned in the current environment (DESIGN.md "Two scopes of validity"). Pure: the runtime, `attnjit
// cache explain` and the C++ API's explanation share it, so they cannot disagree.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "cache/store.hpp"
#include "generator/kernel_spec.hpp"
#include "tuner/mta_heuristics.hpp"

namespace attnjit {

// The store's key of a problem: canonical JSON of every field (batch included: it changes the timing).
std::string mta_problem_key(const MtaProblem& problem);

// The problem a key names (the tuner's worker receives its problem this way); throws invalid_argument.
MtaProblem mta_problem_from_key(const std::string& key);
// The kind whose to_string is `text` ("mta_fwd"); throws invalid_argument.
KernelKind kernel_kind_from_string(const std::string& text);

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

// The store's winners of one kernel of a problem, every environment's (Store::find_tuned).
using FindTuned = std::function<std::vector<cache::TunedRecord>(const std::string& problem_key, KernelKind kind)>;

struct MtaConfigChoice {
  MtaConfigs configs;
  std::vector<KernelChoice> choices;  // the problem's kernels in launch order
};

// The configs a problem runs with and why, kernel by kernel: ATTNJIT_MTA_CONFIG's pin where it sets one,
// else the tuned winner of environment `now`, else the heuristic. The reduction kernel has no knobs of
// its own (it follows the weight-gradient config).
MtaConfigChoice choose_mta_configs(const MtaProblem& problem, const FindTuned& find, const cache::Environment& now);

// Whether a pin text ("forward=...,backward_key=...", as ATTNJIT_MTA_CONFIG or ATTNJIT_NA_CONFIG) names the
// step: a pin is honoured even where it equals the heuristic (a tuned winner does not override it).
bool pins_step(const char* pins, const std::string& step);

// The step names of KernelChoice and ATTNJIT_MTA_CONFIG for a kernel kind: "forward", "backward_input", ...
const char* step_name(KernelKind kind);

}  // namespace attnjit
