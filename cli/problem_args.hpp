// The problem flags shared by gen, compile and bench: an mta problem from flags or a JSON file.
#pragma once

#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"

namespace attnjit::cli {

struct ProblemArgs {
  std::string problem_file;  // JSON: one problem object, or {"problems": [...]}, or a list
  int batch = 2, in_channels = 16, out_channels = 0, length = 2048, groups = 0;
  std::string kernel = "5", stride = "1", padding = "same", dilation = "1";
  std::string norm = "softmax", dtype = "bf16";
  bool bias = false;
};

// Adds --batch, --channels, ... to `app`.
void add_problem_options(CLI::App& app, ProblemArgs& args);

// A problem with what a problem file may say beside it: a name for tables, and "verify": false for
// shapes whose CPU reference would take minutes.
struct NamedProblem {
  std::string name;
  MtaProblem problem;
  bool verify = true;
};

// The problems the flags or the file describe; throws Error{invalid_argument} naming the bad value.
std::vector<NamedProblem> named_problems_from(const ProblemArgs& args);
std::vector<MtaProblem> problems_from(const ProblemArgs& args);

MtaProblem problem_from_json(const nlohmann::json& j);
nlohmann::json to_json(const MtaProblem& problem);

}  // namespace attnjit::cli
