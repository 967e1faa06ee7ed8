// attnjit: generate, compile, verify and time CUDA kernels for convolutional attention.
#include <fmt/format.h>

#include <map>

#include "attnjit/attnjit.hpp"
#include "cli/commands.hpp"

int main(int argc, char** argv) {
  using namespace attnjit::cli;
  CLI::App app{fmt::format("attnjit {}: generates, compiles (NVRTC), verifies and times CUDA kernels for "
                           "convolutional and local attention", attnjit::version())};
  app.require_subcommand(1);
  app.set_version_flag("--version", attnjit::version());
  GlobalOptions global;
  app.add_option("--cache", global.cache_path, "kernel store (SQLite); default $ATTNJIT_CACHE, else "
                                                "$XDG_CACHE_HOME/attnjit/attnjit.db");
  app.add_flag("--no-cache", global.no_cache, "use no store: compile everything in memory");

  std::map<CLI::App*, Command> commands;
  auto add = [&](const char* name, const char* help, Command (*make)(CLI::App&, const GlobalOptions&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    commands[sub] = make(*sub, global);
  };
  add("gen", "print the generated CUDA source of a problem's kernels", add_gen);
  add("compile", "compile a problem's kernels into the store, for the local GPU or --arch sm_XX (no GPU needed)",
      add_compile);
  add("doctor", "report the driver, the GPU, NVRTC, the templates and the store", add_doctor);
  add("bench", "compile, verify against the reference and time a problem's kernels (the main job); "
               "without a GPU, compile them for sm_90 into the store", add_bench);
  add("tune", "autotune a problem's kernels on the GPU: verify and time the candidates around the heuristic, "
              "store the winners", add_tune);
  add("cache", "look into the store (ls, stats, explain) or empty it (clear)", add_cache);
  add("tune-worker", "", add_tune_worker);  // the tuner's worker process: hidden from --help
  app.get_subcommand("tune-worker")->group("");
  CLI11_PARSE(app, argc, argv);
  try {
    for (auto& [sub, run] : commands) {
      if (sub->parsed()) return run();
    }
  } catch (const attnjit::Error& e) {
    fmt::print(stderr, "attnjit: error ({}): {}\n", attnjit::to_string(e.code()), e.what());
    return e.code() == attnjit::ErrorCode::invalid_argument ? 2 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "attnjit: error: {}\n", e.what());
    return 1;
  }
  return 1;
}
