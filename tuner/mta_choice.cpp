#include "tuner/mta_choice.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

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

std::string to_json(const TileConfig& c) {
  return nlohmann::json{{"tile_i", c.tile_i}, {"tile_j", c.tile_j}, {"warps", c.warps}, {"oc_tile", c.oc_tile}}.dump();
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

}  // namespace attnjit
