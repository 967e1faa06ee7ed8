#include "tuner/mta_choice.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

#include "runtime/error.hpp"

namespace attnjit {

std::string mta_problem_key(const MtaProblem& p) {
  const nlohmann::json j = {  // nlohmann::json keeps keys sorted: canonical by construction
      {"batch", p.batch},           {"in_channels", p.in_channels}, {"out_channels", p.out_channels},
      {"length", p.length},         {"kernel_h", p.kernel_h},       {"kernel_w", p.kernel_w},
      {"stride_h", p.stride_h},     {"stride_w", p.stride_w},       {"dilation_h", p.dilation_h},
      {"dilation_w", p.dilation_w}, {"groups", p.groups},           {"bias", p.bias == Bias::present},
      {"norm", to_string(p.norm)},  {"dtype", to_string(p.dtype)},
      {"padding", {p.padding.top, p.padding.bottom, p.padding.left, p.padding.right}}};
  return j.dump();
}

MtaProblem mta_problem_from_key(const std::string& key) {
  const auto j = nlohmann::json::parse(key, nullptr, false);
  if (j.is_discarded() || !j.is_object()) detail::raise_invalid("problem key '{}' is not a JSON object", key);
  try {
    MtaProblem p;
    p.batch = j.at("batch");
    p.in_channels = j.at("in_channels");
    p.out_channels = j.at("out_channels");
    p.length = j.at("length");
    p.kernel_h = j.at("kernel_h");
    p.kernel_w = j.at("kernel_w");
    p.stride_h = j.at("stride_h");
    p.stride_w = j.at("stride_w");
    p.dilation_h = j.at("dilation_h");
    p.dilation_w = j.at("dilation_w");
    p.groups = j.at("groups");
    p.bias = j.at("bias").get<bool>() ? Bias::present : Bias::none;
    const auto& pad = j.at("padding");
    p.padding = {pad.at(0), pad.at(1), pad.at(2), pad.at(3)};
    const std::string norm = j.at("norm"), dtype = j.at("dtype");
    p.norm = norm == "sparsemax" ? Norm::sparsemax : Norm::softmax;
    if (norm != to_string(p.norm)) detail::raise_invalid("problem key: unknown norm '{}'", norm);
    bool known = false;
    for (DType t : {DType::f32, DType::f16, DType::bf16}) {
      if (dtype == to_string(t)) p.dtype = t, known = true;
    }
    if (!known) detail::raise_invalid("problem key: unknown dtype '{}'", dtype);
    return p;
  } catch (const nlohmann::json::exception& e) {
    detail::raise_invalid("problem key '{}': {}", key, e.what());
  }
}

KernelKind kernel_kind_from_string(const std::string& text) {
  for (KernelKind k : {KernelKind::mta_row_stats, KernelKind::mta_forward, KernelKind::mta_backward_input,
                       KernelKind::mta_backward_weight, KernelKind::mta_reduce_weight, KernelKind::na_forward,
                       KernelKind::na_backward_query, KernelKind::na_backward_key, KernelKind::na_backward_fused}) {
    if (text == to_string(k)) return k;
  }
  detail::raise_invalid("unknown kernel kind '{}' (mta_stats, mta_fwd, mta_bwd_input, mta_bwd_weight, mta_reduce_weight, "
                        "na_fwd, na_bwd_query, na_bwd_key, na_bwd_fused)", text);
}

std::string to_json(const TileConfig& c) {
  nlohmann::json j{{"tile_i", c.tile_i}, {"tile_j", c.tile_j}, {"warps", c.warps}, {"oc_tile", c.oc_tile}};
  if (c.lanes != 0) j["lanes"] = c.lanes;  // neighborhood attention's lane groups; mta configs stay as stored
  return j.dump();
}

TileConfig tile_config_from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) detail::raise_invalid("tuned config '{}' is not a JSON object", text);
  TileConfig c;
  for (auto [field, key] : {std::pair{&c.tile_i, "tile_i"}, {&c.tile_j, "tile_j"}, {&c.warps, "warps"},
                            {&c.oc_tile, "oc_tile"}}) {
    if (!j.contains(key) || !j.at(key).is_number_integer()) {
      detail::raise_invalid("tuned config '{}' has no integer '{}'", text, key);
    }
    *field = j.at(key).get<int>();
  }
  if (j.contains("lanes")) {
    if (!j.at("lanes").is_number_integer()) detail::raise_invalid("tuned config '{}': 'lanes' is not an integer", text);
    c.lanes = j.at("lanes").get<int>();
  }
  return c;
}

ConfigChoice choose_config(const TileConfig& heuristic, const std::vector<cache::TunedRecord>& winners,
                           const cache::Environment& now) {
  std::vector<std::string> elsewhere;
  for (const cache::TunedRecord& w : winners) {
    const std::vector<std::string> differences = w.environment.differences(now);
    if (!differences.empty()) {
      elsewhere.push_back(fmt::format("{}", fmt::join(differences, ", ")));
      continue;
    }
    const std::time_t at = w.tuned_at;
    std::tm tm{};
    gmtime_r(&at, &tm);
    char date[16];
    std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
    return {tile_config_from_json(w.config_json), true,
            fmt::format("tuned winner from {} on {}, {} SMs, driver {}: median {:.0f} us, p20-p80 {:.0f}-{:.0f} us "
                        "(heuristic {:.0f} us)", date, now.gpu_name, now.sm_count, now.driver_version, w.median_us,
                        w.p20_us, w.p80_us, w.heuristic_median_us)};
  }
  if (elsewhere.empty()) return {heuristic, false, "heuristic: no tuned winner for this problem"};
  return {heuristic, false,
          fmt::format("heuristic: {} winner{} exist{} but {} tuned under another environment ({})", elsewhere.size(),
                      elsewhere.size() == 1 ? "" : "s", elsewhere.size() == 1 ? "s" : "",
                      elsewhere.size() == 1 ? "was" : "were", fmt::join(elsewhere, "; "))};
}

const char* step_name(KernelKind kind) {
  switch (kind) {
    case KernelKind::mta_row_stats: return "row_stats";
    case KernelKind::mta_forward: return "forward";
    case KernelKind::mta_backward_input: return "backward_input";
    case KernelKind::mta_backward_weight: return "backward_weight";
    case KernelKind::mta_reduce_weight: return "reduce_weight";
    case KernelKind::na_forward: return "forward";
    case KernelKind::na_backward_query: return "backward_query";
    case KernelKind::na_backward_key: return "backward_key";
    case KernelKind::na_backward_fused: return "backward_fused";
  }
  return "?";
}

bool pins_step(const char* pins, const std::string& step) {
  if (pins == nullptr) return false;
  std::string text = ",";  // every pin then follows a comma
  text += pins;
  return text.find(fmt::format(",{}=", step)) != std::string::npos;
}

MtaConfigChoice choose_mta_configs(const MtaProblem& problem, const FindTuned& find, const cache::Environment& now) {
  const MtaConfigs heuristic = mta_heuristic_configs(problem);
  const MtaConfigs pinned = mta_configs(problem);  // the heuristic with ATTNJIT_MTA_CONFIG's pins
  const std::string key = mta_problem_key(problem);
  MtaConfigChoice out{heuristic, {}};
  auto decide = [&](KernelKind kind, TileConfig MtaConfigs::*field) {
    ConfigChoice c;
    if (pins_step(std::getenv("ATTNJIT_MTA_CONFIG"), step_name(kind))) {
      c = {pinned.*field, false, "pinned by ATTNJIT_MTA_CONFIG"};
    } else {
      c = choose_config(heuristic.*field, find ? find(key, kind) : std::vector<cache::TunedRecord>{}, now);
    }
    out.configs.*field = c.config;
    return c;
  };
  std::vector<std::pair<KernelKind, ConfigChoice>> steps;
  steps.emplace_back(KernelKind::mta_row_stats, decide(KernelKind::mta_row_stats, &MtaConfigs::row_stats));
  steps.emplace_back(KernelKind::mta_forward, decide(KernelKind::mta_forward, &MtaConfigs::forward));
  steps.emplace_back(KernelKind::mta_backward_input, decide(KernelKind::mta_backward_input, &MtaConfigs::backward_input));
  if (!mta_weight_grad_fused(problem)) {
    steps.emplace_back(KernelKind::mta_backward_weight,
                       decide(KernelKind::mta_backward_weight, &MtaConfigs::backward_weight));
  }
  steps.emplace_back(KernelKind::mta_reduce_weight,
                     ConfigChoice{out.configs.backward_weight, false, "no knobs of its own (sums the partials in order)"});
  for (const auto& [kind, c] : steps) {
    const TileConfig& config = kind == KernelKind::mta_reduce_weight ? out.configs.backward_weight : c.config;
    out.choices.push_back({step_name(kind), name(mta_kernel_spec(kind, problem, config)), c.tuned, c.why});
  }
  return out;
}

}  // namespace attnjit
