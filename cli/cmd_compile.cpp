// attnjit compile: fill the store with a problem's kernels, for the local GPU or a named arch.
// Works without a GPU (--arch sm_90): the binaries are what a GPU machine would compile.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/common.hpp"
#include "cli/problem_args.hpp"
#include "cli/table.hpp"
#include "runtime/kernel_cache.hpp"

namespace attnjit::cli {

Command add_compile(CLI::App& app, const GlobalOptions& global) {
  struct Args {
    ProblemArgs problem;
    std::string arch;
    int jobs = 0;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  add_problem_options(app, args->problem);
  app.add_option("--arch", args->arch, "target, e.g. sm_90 or sm_80 (default: the local GPU's)");
  app.add_option("-j,--jobs", args->jobs, "kernels compiled at once (default: the number of cores)");
  app.add_flag("--json", args->json, "print JSON: the kernels, where each came from, and the counters");
  return [args, &global] {
    std::string arch = args->arch;
    if (arch.empty()) {
      std::string why;
      arch = local_arch(&why);
      if (arch.empty()) {
        fmt::print(stderr, "attnjit compile: {}\nPass --arch sm_90 (or another sm_XX) to compile for a named GPU.\n", why);
        return 2;
      }
    }
    const std::vector<KernelSpec> specs = specs_of(args->problem, arch);
    detail::KernelCache cache(runtime_options(global));
    const std::vector<detail::Binary> binaries = compile_all(cache, specs, arch, args->jobs);
    const RuntimeStats stats = cache.stats();
    if (args->json) {
      nlohmann::json kernels = nlohmann::json::array();
      for (const auto& b : binaries) {
        kernels.push_back({{"name", b.record->name}, {"key", b.record->key}, {"source", detail::to_string(b.source)},
                           {"compile_seconds", b.record->compile_seconds}, {"cubin_bytes", b.record->cubin.size()}});
      }
      fmt::print("{}\n", nlohmann::json{{"arch", arch}, {"store", cache.store_path()}, {"kernels", kernels},
                                        {"nvrtc_compiles", stats.nvrtc_compiles}, {"store_hits", stats.store_hits}}
                             .dump(2));
      return 0;
    }
    Table table({"kernel", "from", "compile s", "cubin"});
    for (const auto& b : binaries) {
      table.add({b.record->name, detail::to_string(b.source), fmt::format("{:.3f}", b.record->compile_seconds),
                 format_bytes(static_cast<double>(b.record->cubin.size()))});
    }
    fmt::print("{}\n{} kernels for {}: {} compiled by NVRTC, {} from the store ({})\n", table.render(), binaries.size(),
               arch, stats.nvrtc_compiles, stats.store_hits, cache.store_path().empty() ? "no store" : cache.store_path());
    return 0;
  };
}

}  // namespace attnjit::cli
