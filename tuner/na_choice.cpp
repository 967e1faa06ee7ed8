#include "tuner/na_choice.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>

#include "runtime/error.hpp"

namespace attnjit {

std::string na_problem_key(const NaProblem& p) {
  const nlohmann::json j = {  // keys sorted by nlohmann::json: canonical
      {"op", "na"},          {"batch", p.batch},       {"heads", p.heads},
      {"length", p.length},  {"head_dim", p.head_dim}, {"kernel_size", p.kernel_size},
      {"dilation", p.dilation}, {"window", to_string(p.window)}, {"dtype", to_string(p.dtype)}};
  // No scale: no kernel depends on it (it is a launch parameter), so a winner serves every scale.
  return j.dump();
}

NaProblem na_problem_from_key(const std::string& key) {
  const auto j = nlohmann::json::parse(key, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("op", "") != "na") {
    detail::raise_invalid("problem key '{}' is not a neighborhood-attention key", key);
  }
  try {
    NaProblem p;
    p.batch = j.at("batch");
    p.heads = j.at("heads");
    p.length = j.at("length");
    p.head_dim = j.at("head_dim");
    p.kernel_size = j.at("kernel_size");
    p.dilation = j.at("dilation");
    const std::string window = j.at("window"), dtype = j.at("dtype");
    bool known_window = false, known_dtype = false;
    for (NaWindow w : {NaWindow::clipped, NaWindow::shifted, NaWindow::causal}) {
      if (window == to_string(w)) p.window = w, known_window = true;
    }
    for (DType t : {DType::f32, DType::f16, DType::bf16}) {
      if (dtype == to_string(t)) p.dtype = t, known_dtype = true;
    }
    if (!known_window || !known_dtype) detail::raise_invalid("problem key '{}': unknown window or dtype", key);
    return p;
  } catch (const nlohmann::json::exception& e) {
    detail::raise_invalid("problem key '{}': {}", key, e.what());
  }
}

NaConfigChoice choose_na_configs(const NaProblem& problem, const FindTuned& find, const cache::Environment& now) {
  const NaConfigs heuristic = na_heuristic_configs(problem);
  const NaConfigs pinned = na_configs(problem);  // the heuristic with ATTNJIT_NA_CONFIG's pins
  const std::string key = na_problem_key(problem);
  NaConfigChoice out{heuristic, {}};
  for (KernelKind kind : {KernelKind::na_forward, KernelKind::na_backward_query, KernelKind::na_backward_key}) {
    const TileConfig& h = config_of(heuristic, kind);
    const TileConfig& pin = config_of(pinned, kind);
    const ConfigChoice c = pins_step(std::getenv("ATTNJIT_NA_CONFIG"), step_name(kind))
                               ? ConfigChoice{pin, false, "pinned by ATTNJIT_NA_CONFIG"}
                                    : choose_config(h, find ? find(key, kind) : std::vector<cache::TunedRecord>{}, now);
    config_of(out.configs, kind) = c.config;
    out.choices.push_back({step_name(kind), name(na_kernel_spec(kind, problem, c.config)), c.tuned, c.why});
  }
  return out;
}

}  // namespace attnjit
