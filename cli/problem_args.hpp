// The problem flags shared by gen, compile, bench and tune: a problem from flags or a JSON file. --op picks
// the op for flags (mta, or na for neighborhood attention); in a file each problem says its "op" (default mta).
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
  std::string op = "mta";         // mta | na
  int head_dim = 64;              // na: D (heads are --channels)
  std::string window = "clipped";  // na: clipped | shifted | causal
  double scale = 0;               // na: 0 = 1/sqrt(D)
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
// The mta problems (named_problems_from and problems_from refuse other ops, naming the commands that take them).
std::vector<MtaProblem> problems_from(const ProblemArgs& args);

// Every problem the flags or the file describe, of either op, with its name and "verify" flag.
struct NamedNaProblem {
  std::string name;
  NaProblem problem;
  bool verify = true;
};
struct AnyProblems {
  std::vector<NamedProblem> mta;
  std::vector<NamedNaProblem> na;
};
AnyProblems any_problems_from(const ProblemArgs& args);

MtaProblem problem_from_json(const nlohmann::json& j);
nlohmann::json to_json(const MtaProblem& problem);

}  // namespace attnjit::cli
