// attnjit gen: the generated CUDA source of a problem's kernels, as NVRTC will see it.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/common.hpp"
#include "cli/problem_args.hpp"
#include "generator/render.hpp"

namespace attnjit::cli {

Command add_gen(CLI::App& app, const GlobalOptions&) {
  struct Args {
    ProblemArgs problem;
    std::string kind = "all";
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  add_problem_options(app, args->problem);
  app.add_option("--kernel-kind", args->kind, "all | mta_stats | mta_fwd | mta_bwd_input | mta_bwd_weight | mta_reduce_weight | na_fwd | na_bwd_query | na_bwd_key")
      ->capture_default_str();
  app.add_flag("--json", args->json, "print a JSON list of {name, spec, source, name_expression, options}");
  return [args] {
    nlohmann::json out = nlohmann::json::array();
    bool any = false;
    for (const KernelSpec& spec : specs_of(args->problem)) {
      if (args->kind != "all" && args->kind != to_string(spec.kind)) continue;
      any = true;
      const RenderedKernel r = render(spec);
      if (args->json) {
        out.push_back({{"name", r.name}, {"spec", nlohmann::json::parse(r.spec_json)}, {"source", r.source},
                       {"name_expression", r.name_expression}, {"options", r.options}});
      } else {
        fmt::print("{}\n", r.source);
      }
    }
    if (!any) {
      fmt::print(stderr, "attnjit gen: no kernel of kind '{}'; see --help for the kinds\n", args->kind);
      return 2;
    }
    if (args->json) fmt::print("{}\n", out.dump(2));
    return 0;
  };
}

}  // namespace attnjit::cli
