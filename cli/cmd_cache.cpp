// attnjit cache ls | stats | explain | clear: what the store holds, which kernels a problem would run and
// why, and emptying it.
#include <fmt/format.h>

#include <functional>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "cache/store.hpp"
#include "cli/common.hpp"
#include "cli/problem_args.hpp"
#include "runtime/driver.hpp"
#include "tuner/mta_choice.hpp"
#include "tuner/na_choice.hpp"
#include "cli/table.hpp"
#include "runtime/error.hpp"

namespace attnjit::cli {

namespace {

std::string store_path(const GlobalOptions& global) {
  if (global.no_cache) detail::raise_invalid("attnjit cache: --no-cache leaves no store to look at; drop it");
  return cache::Store::path_or_default(global.cache_path);
}

std::string utc(std::int64_t unix_seconds) {
  const std::time_t t = unix_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M", &tm);
  return text;
}

int list(const GlobalOptions& global, bool json) {
  cache::Store store(store_path(global), cache::OpenMode::read_only);  // looking never creates or repairs
  const std::vector<cache::KernelSummary> kernels = store.list_kernels();
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& k : kernels) {
      out.push_back({{"key", k.key}, {"name", k.name}, {"arch", k.arch}, {"nvrtc_version", k.nvrtc_version},
                     {"attnjit_version", k.attnjit_version}, {"cubin_bytes", k.cubin_bytes},
                     {"compile_seconds", k.compile_seconds}, {"created_at", k.created_at}});
    }
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  Table table({"kernel", "arch", "nvrtc", "attnjit", "cubin", "compile s", "created (UTC)", "key"});
  for (const auto& k : kernels) {
    table.add({k.name, k.arch, k.nvrtc_version, k.attnjit_version, format_bytes(static_cast<double>(k.cubin_bytes)),
               fmt::format("{:.2f}", k.compile_seconds), utc(k.created_at), k.key.substr(0, 12)});
  }
  fmt::print("{}{} kernels in {}\n", table.render(), kernels.size(), store.path());
  return 0;
}

int stats(const GlobalOptions& global, bool json) {
  cache::Store store(store_path(global), cache::OpenMode::read_only);
  const cache::StoreStats s = store.stats();
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"path", store.path()}, {"schema_version", store.schema_version()},
                                      {"kernels", s.kernels}, {"cubin_bytes", s.cubin_bytes},
                                      {"tuned_winners", s.tuned}, {"quarantined", s.quarantined},
                                      {"file_bytes", s.file_bytes}, {"warnings", store.warnings()}}
                           .dump(2));
    return 0;
  }
  fmt::print("{}: schema {}, {} kernels, {} of cubins, {} tuned winners, {} quarantined candidates, file {}\n",
             store.path(), store.schema_version(), s.kernels, format_bytes(static_cast<double>(s.cubin_bytes)), s.tuned,
             s.quarantined, format_bytes(static_cast<double>(s.file_bytes)));
  return 0;
}

int clear(const GlobalOptions& global, bool tuning) {
  cache::Store store(store_path(global), cache::OpenMode::read_write);
  const std::size_t kernels = store.clear_kernels();
  const std::size_t tuned = tuning ? store.clear_tuning() : 0;
  fmt::print("removed {} kernels{} from {}\n", kernels, tuning ? fmt::format(" and {} tuning rows", tuned) : "",
             store.path());
  return 0;
}

// One problem as `cache explain` shows it, whatever its op.
struct Explainable {
  std::string text;                                              // describe(problem)
  std::function<std::vector<KernelChoice>(Runtime&)> explain;    // with a GPU: the runtime's plan
  std::vector<KernelChoice> untuned;                             // without one: pins and heuristics
  std::string key;                                               // the store's problem key
  std::vector<KernelKind> tunable;
};

std::vector<Explainable> explainables(const ProblemArgs& args) {
  const AnyProblems any = any_problems_from(args);
  std::vector<Explainable> out;
  for (const NamedProblem& named : any.mta) {
    const MtaProblem p = named.problem;
    out.push_back({describe(p), [p](Runtime& r) { return r.explain_mta(p); }, choose_mta_configs(p, nullptr, {}).choices,
                   mta_problem_key(p),
                   {KernelKind::mta_row_stats, KernelKind::mta_forward, KernelKind::mta_backward_input,
                    KernelKind::mta_backward_weight}});
  }
  for (const NamedNaProblem& named : any.na) {
    const NaProblem p = named.problem;
    out.push_back({describe(p), [p](Runtime& r) { return r.explain_neighborhood_attention(p); },
                   choose_na_configs(p, nullptr, {}).choices, na_problem_key(p),
                   {KernelKind::na_forward, KernelKind::na_backward_query, KernelKind::na_backward_key,
                    KernelKind::na_backward_fused}});
  }
  return out;
}

// With a GPU: what the runtime's explanation says in a fresh process (the problem is planned, so kernels not
// in the store are compiled, and the counts say so). Without one: the heuristic kernels, and the winners the
// store holds with the environment each was tuned in.
int explain(const GlobalOptions& global, const ProblemArgs& args) {
  std::string why;
  const bool gpu = detail::driver_available(&why);
  for (const Explainable& problem : explainables(args)) {
    fmt::print("{}\n", problem.text);
    Table table({"step", "kernel", "chosen"});
    if (gpu) {
      Runtime runtime(runtime_options(global));
      for (const KernelChoice& c : problem.explain(runtime)) table.add({c.step, c.kernel, c.why});
      const RuntimeStats s = runtime.stats();
      fmt::print("{}kernels: {} compiled by NVRTC, {} loaded from the store {}\n", table.render(), s.nvrtc_compiles,
                 s.store_hits, runtime.cache_path());
      continue;
    }
    cache::Store store(store_path(global), cache::OpenMode::read_only);
    for (const KernelChoice& c : problem.untuned) {
      table.add({c.step, c.kernel, c.why.rfind("pinned", 0) == 0 ? c.why : "heuristic"});
    }
    fmt::print("{}", table.render());
    fmt::print("No GPU here ({}): a tuned winner is used only in the environment it was tuned in, so these are the "
               "heuristic's kernels. Winners in {}:\n", why, store.path());
    std::size_t count = 0;
    for (KernelKind kind : problem.tunable) {
      for (const cache::TunedRecord& w : store.find_tuned(problem.key, to_string(kind))) {
        const cache::Environment& e = w.environment;
        fmt::print("  {}: {} tuned {} on {}, {} SMs, {}, driver {}, NVRTC {}, attnjit {}: median {:.1f} us "
                   "(heuristic {:.1f} us)\n", step_name(kind), w.config_json, utc(w.tuned_at), e.gpu_name, e.sm_count,
                   e.arch, e.driver_version, e.nvrtc_version, e.attnjit_version, w.median_us, w.heuristic_median_us);
        ++count;
      }
    }
    if (count == 0) fmt::print("  none\n");
  }
  return 0;
}

}  // namespace

Command add_cache(CLI::App& app, const GlobalOptions& global) {
  app.require_subcommand(1);
  auto json = std::make_shared<bool>(false);
  auto tuning = std::make_shared<bool>(false);
  CLI::App* ls = app.add_subcommand("ls", "list the compiled kernels in the store (read-only)");
  ls->add_flag("--json", *json, "print JSON");
  CLI::App* st = app.add_subcommand("stats", "the store's schema, kernel count and sizes, tuned winners and "
                                             "quarantined candidates (read-only)");
  st->add_flag("--json", *json, "print JSON");
  CLI::App* cl = app.add_subcommand("clear", "remove every compiled kernel from the store (they are recompiled "
                                             "when needed)");
  cl->add_flag("--tuning", *tuning, "also remove the tuned winners and the quarantine");
  auto problem = std::make_shared<ProblemArgs>();
  CLI::App* ex = app.add_subcommand("explain", "which kernel each step of a problem runs and why: a tuned winner of "
                                               "this environment (with its figures) or the heuristic (with the "
                                               "reason); with a GPU, plans the problem as a fresh process would");
  add_problem_options(*ex, *problem);
  return [=, &global] {
    if (ls->parsed()) return list(global, *json);
    if (st->parsed()) return stats(global, *json);
    if (ex->parsed()) return explain(global, *problem);
    return clear(global, *tuning);
  };
}

}  // namespace attnjit::cli
