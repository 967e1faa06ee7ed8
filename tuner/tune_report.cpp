#include "tuner/tune_report.hpp"

#include <fmt/format.h>

namespace attnjit {

namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c == '\n' ? ' ' : c);
  return out + "\"";
}

}  // namespace

std::string config_text(KernelKind kind, const TileConfig& c) {
  if (kind == KernelKind::mta_row_stats) return fmt::format("{}w", c.warps);
  if (is_neighborhood_attention(kind)) {  // ATTNJIT_NA_CONFIG's form; lanes 0 is the tensor-core forward
    return fmt::format("{}x{}x{}x{}", c.tile_i, c.tile_j, c.warps, c.lanes);
  }
  return c.oc_tile ? fmt::format("{}x{}x{}x{}", c.tile_i, c.tile_j, c.warps, c.oc_tile)
                   : fmt::format("{}x{}x{}", c.tile_i, c.tile_j, c.warps);
}

std::string tune_report_csv(const nlohmann::json& report) {
  std::string out = "problem,kernel,config,status,median_us,p20_us,p80_us,samples,winner,detail\n";
  for (const auto& p : report.at("problems")) {
    for (const auto& k : p.at("kernels")) {
      for (const auto& c : k.at("candidates")) {
        const bool winner = k.at("stored").get<bool>() && c.at("config") == k.at("winner");
        out += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", quoted(p.at("name")), k.at("kernel").get<std::string>(),
                           c.at("config").get<std::string>(), quoted(c.at("status")), c.at("median_us").get<double>(),
                           c.at("p20_us").get<double>(), c.at("p80_us").get<double>(), c.at("samples").get<int>(),
                           winner ? 1 : 0, quoted(c.at("detail")));
      }
    }
  }
  return out;
}

}  // namespace attnjit
