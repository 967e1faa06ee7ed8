// The tuner's report as CSV: one row per candidate of every kernel of every problem, from the JSON report
// `attnjit tune --report FILE.json` writes (its shape: {"environment": ..., "problems": [{"name",
// "kernels": [{"kernel", "winner", "stored", "candidates": [{"config", "status", "detail", "median_us",
// "p20_us", "p80_us", "samples"}]}]}]}).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "generator/kernel_spec.hpp"

namespace attnjit {

// "8w" for the row statistics (warps only), "32x64x4x1" for the forward, "16x64x4" for the others.
std::string config_text(KernelKind kind, const TileConfig& config);

// Header "problem,kernel,config,status,median_us,p20_us,p80_us,samples,winner,detail"; text fields quoted
// (quotes doubled, newlines as spaces); winner 1 on the stored winner's row.
std::string tune_report_csv(const nlohmann::json& report);

}  // namespace attnjit
