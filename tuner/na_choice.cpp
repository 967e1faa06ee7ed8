#include "tuner/na_choice.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <map>

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
  const NaConfigs heuristic = na_heuristic_configs(problem, now.arch);
  const NaConfigs pinned = na_configs(problem, now.arch);  // the heuristic with ATTNJIT_NA_CONFIG's pins
  const std::string key = na_problem_key(problem);
  const char* pins = std::getenv("ATTNJIT_NA_CONFIG");
  NaConfigChoice out{heuristic, {}};
  std::map<KernelKind, ConfigChoice> chosen;
  std::map<KernelKind, double> tuned_us;  // the current environment's winners' medians
  for (KernelKind kind : {KernelKind::na_forward, KernelKind::na_backward_query, KernelKind::na_backward_key,
                          KernelKind::na_backward_fused}) {
    const std::vector<cache::TunedRecord> winners = find ? find(key, kind) : std::vector<cache::TunedRecord>{};
    for (const cache::TunedRecord& w : winners) {
      if (w.environment.differences(now).empty()) {
        tuned_us[kind] = w.median_us;
        break;
      }
    }
    const ConfigChoice c = pins_step(pins, step_name(kind))
                               ? ConfigChoice{config_of(pinned, kind), false, "pinned by ATTNJIT_NA_CONFIG"}
                               : choose_config(config_of(heuristic, kind), winners, now);
    config_of(out.configs, kind) = c.config;
    chosen[kind] = c;
  }
  // Fused or two kernels.
  std::string how;
  if (pins_step(pins, step_name(KernelKind::na_backward_fused))) {
    how = pinned.fused() ? "" : "; the fused backward is off (ATTNJIT_NA_CONFIG)";
  } else if (pins_step(pins, step_name(KernelKind::na_backward_query)) || pins_step(pins, step_name(KernelKind::na_backward_key))) {
    if (heuristic.fused()) how = "; two-kernel backward: ATTNJIT_NA_CONFIG pins one of its kernels";
    out.configs.backward_fused = {};  // a pinned gradient kernel runs: the two-kernel backward
  } else if (tuned_us.count(KernelKind::na_backward_fused) && tuned_us.count(KernelKind::na_backward_query) &&
             tuned_us.count(KernelKind::na_backward_key)) {
    const double fused = tuned_us[KernelKind::na_backward_fused],
                 split = tuned_us[KernelKind::na_backward_query] + tuned_us[KernelKind::na_backward_key];
    if (fused >= split) out.configs.backward_fused = {};
    how = fmt::format("; tuned backward: fused {:.0f} us, two kernels {:.0f} us", fused, split);
  } else if (!heuristic.fused()) {
    out.configs.backward_fused = {};
  }
  out.choices.push_back({step_name(KernelKind::na_forward), name(na_kernel_spec(KernelKind::na_forward, problem, out.configs.forward)),
                         chosen[KernelKind::na_forward].tuned, chosen[KernelKind::na_forward].why});
  const std::vector<KernelKind> backward =
      out.configs.fused() ? std::vector<KernelKind>{KernelKind::na_backward_fused}
                          : std::vector<KernelKind>{KernelKind::na_backward_query, KernelKind::na_backward_key};
  for (KernelKind kind : backward) {
    const ConfigChoice& c = chosen[kind];
    out.choices.push_back({step_name(kind), name(na_kernel_spec(kind, problem, c.config)), c.tuned, c.why + how});
  }
  return out;
}

}  // namespace attnjit
