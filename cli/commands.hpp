// The attnjit command's subcommands. Each registers its options on the app and returns the function
// that runs it (exit code).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace attnjit::cli {

struct GlobalOptions {
  std::string cache_path;  // --cache; empty: $ATTNJIT_CACHE or the XDG default
  bool no_cache = false;
};

using Command = std::function<int()>;

Command add_gen(CLI::App& app, const GlobalOptions& global);
Command add_compile(CLI::App& app, const GlobalOptions& global);
Command add_doctor(CLI::App& app, const GlobalOptions& global);
Command add_bench(CLI::App& app, const GlobalOptions& global);
Command add_cache(CLI::App& app, const GlobalOptions& global);
Command add_tune(CLI::App& app, const GlobalOptions& global);
Command add_tune_worker(CLI::App& app, const GlobalOptions& global);

}  // namespace attnjit::cli
