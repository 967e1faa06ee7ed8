// Which config each neighborhood-attention kernel runs with, and why: an ATTNJIT_NA_CONFIG pin, else the
// current environment's tuned winner from the store, else the heuristic (as tuner/mta_choice.hpp for mta).
#pragma once

#include <string>

#include "tuner/mta_choice.hpp"  // ConfigChoice, choose_config, FindTuned, step_name
#include "tuner/na_heuristics.hpp"

namespace attnjit {

// The store's key of a problem: canonical JSON of every field but the scale (a launch parameter no kernel
// depends on), with "op": "na" (mta keys have no "op").
std::string na_problem_key(const NaProblem& problem);
NaProblem na_problem_from_key(const std::string& key);  // scale 0; throws invalid_argument

struct NaConfigChoice {
  NaConfigs configs;
  std::vector<KernelChoice> choices;  // forward, then backward_fused or backward_query and backward_key
};

// Each kernel's config as choose_config picks it; then the backward: fused or two kernels as
// ATTNJIT_NA_CONFIG pins it ("backward_fused=off" or a config; a pin of backward_query or backward_key alone
// means the two kernels), else by the tuned medians when the current
// environment has winners for all three backward kernels (the fused one against the sum of the other two),
// else as the heuristic has it.
NaConfigChoice choose_na_configs(const NaProblem& problem, const FindTuned& find, const cache::Environment& now);

}  // namespace attnjit
