// attnjit tune: the offline autotuner over one problem (flags) or many (--problem FILE), with a time
// budget, a progress line on a terminal, a summary table and a JSON or CSV report of every candidate.
// attnjit tune-worker: the tuner's worker process (hidden; see tuner/tune_worker.hpp).
#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cache/store.hpp"
#include "cli/common.hpp"
#include "cli/bench_na.hpp"  // to_json(NaProblem)
#include "cli/problem_args.hpp"
#include "cli/table.hpp"
#include "runtime/driver.hpp"
#include "runtime/mta_plan.hpp"
#include "tuner/mta_choice.hpp"
#include "tuner/tune_worker.hpp"
#include "tuner/tuner.hpp"
#include "tuner/tune_report.hpp"

namespace attnjit::cli {

namespace {

struct TuneArgs {
  ProblemArgs problem;
  int rounds = 5, reps = 10, warmup = 3, jobs = 0;
  std::uint64_t seed = 1;
  double budget = 120, candidate_timeout = 30;
  std::string report, fault;
};

std::string self_executable() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) detail::raise(ErrorCode::internal, "cannot find the attnjit executable (/proc/self/exe) to start workers");
  return std::string(path, static_cast<std::size_t>(n));
}

// A tuned problem: its label for tables, its JSON (as the --problem file says it) and the result.
struct Tuned {
  std::string label;
  nlohmann::json problem;
  ProblemTuneResult result;
};

nlohmann::json report_json(const std::vector<Tuned>& results, const cache::Environment& env) {
  nlohmann::json problems = nlohmann::json::array();
  for (const auto& [label, problem, r] : results) {
    nlohmann::json kernels = nlohmann::json::array();
    for (const KernelTuneResult& k : r.kernels) {
      nlohmann::json candidates = nlohmann::json::array();
      for (const CandidateOutcome& c : k.candidates) {
        candidates.push_back({{"config", config_text(k.kind, c.config)}, {"kernel", c.kernel}, {"status", c.status},
                              {"detail", c.detail}, {"median_us", c.median_us}, {"p20_us", c.p20_us},
                              {"p80_us", c.p80_us}, {"samples", c.samples}});
      }
      kernels.push_back({{"kernel", step_name(k.kind)}, {"heuristic", config_text(k.kind, k.heuristic)},
                         {"winner", config_text(k.kind, k.winner)}, {"heuristic_us", k.heuristic_us},
                         {"tuned_us", k.winner_us}, {"tuned_p20_us", k.winner_p20_us}, {"tuned_p80_us", k.winner_p80_us},
                         {"workers", k.workers}, {"seconds", k.seconds}, {"stored", k.stored}, {"note", k.note},
                         {"candidates", candidates}});
    }
    problems.push_back({{"name", label}, {"problem", problem}, {"seconds", r.seconds}, {"kernels", kernels}});
  }
  return {{"environment",
           {{"gpu", env.gpu_name}, {"sm_count", env.sm_count}, {"arch", env.arch}, {"driver", env.driver_version},
            {"nvrtc", env.nvrtc_version}, {"attnjit", env.attnjit_version}}},
          {"problems", problems}};
}

// The report file is opened before any tuning, so that a path that cannot be written fails in a second.
std::ofstream open_report(const std::string& path) {
  std::ofstream out(path);
  if (!out) detail::raise_invalid("--report {}: cannot write the file; name a file in a folder that exists", path);
  return out;
}

bool is_csv(const std::string& path) { return path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0; }

int tune(const TuneArgs& args, const GlobalOptions& global) {
  if (global.no_cache) detail::raise_invalid("attnjit tune stores what it finds: --no-cache leaves nowhere to store it");
  std::string why;
  if (!detail::driver_available(&why)) {
    detail::raise(ErrorCode::no_driver, fmt::format("attnjit tune measures kernels on the GPU and there is none here ({}). "
                                                    "Run it on the machine whose GPU will run the kernels", why));
  }
  if (!args.fault.empty() && args.fault != "compile" && args.fault != "crash" && args.fault != "hang" &&
      args.fault != "wrong") {
    detail::raise_invalid("--inject-fault {}: one of compile, crash, hang, wrong", args.fault);
  }
  // Every problem as a label, its JSON and a function that tunes it (mta or neighborhood attention).
  struct Job {
    std::string label;
    nlohmann::json problem;
    std::function<ProblemTuneResult(const TuneOptions&)> run;
  };
  std::vector<Job> problems;
  const AnyProblems any = any_problems_from(args.problem);
  for (const NamedProblem& p : any.mta) {
    problems.push_back({p.name.empty() ? describe(p.problem) : p.name, to_json(p.problem),
                        [p](const TuneOptions& o) { return tune_mta(p.problem, o); }});
  }
  for (const NamedNaProblem& p : any.na) {
    problems.push_back({p.name.empty() ? describe(p.problem) : p.name, to_json(p.problem),
                        [p](const TuneOptions& o) { return tune_na(p.problem, o); }});
  }
  std::ofstream report;
  if (!args.report.empty()) report = open_report(args.report);
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  TuneOptions options;
  options.worker_path = self_executable();
  options.store_path = cache::Store::path_or_default(global.cache_path);
  options.rounds = args.rounds;
  options.reps = args.reps;
  options.warmup = args.warmup;
  options.seed = args.seed;
  options.budget_seconds = args.budget;
  options.idle_limit = std::chrono::milliseconds(static_cast<long long>(1000 * args.candidate_timeout));
  options.jobs = args.jobs;
  options.fault = args.fault;

  std::vector<Tuned> results;
  for (std::size_t n = 0; n < problems.size(); ++n) {
    const std::string& label = problems[n].label;
    if (terminal) {
      options.progress = [&](const std::string& line) {
        fmt::print(stderr, "\r\033[K[{}/{}] {}: {}", n + 1, problems.size(), label, line);
      };
    }
    results.push_back({label, problems[n].problem, problems[n].run(options)});
    if (terminal) fmt::print(stderr, "\r\033[K");
  }

  const detail::DeviceInfo device = detail::device_info(detail::current_context());
  Table table({"problem", "kernel", "timed/screened/failed/tried", "heuristic us", "tuned us", "gain", "heuristic", "winner",
               "workers", "seconds"});
  std::vector<std::string> failures, notes;
  bool all_stored = true;
  for (const auto& [label, problem, r] : results) {
    bool first = true;
    for (const KernelTuneResult& k : r.kernels) {
      int timed = 0, screened = 0, failed = 0, tried = 0;
      for (const CandidateOutcome& c : k.candidates) {
        if (c.status == "quarantined" || c.status == "skipped") continue;
        ++tried;
        if (c.status == "timed") ++timed;
        if (c.status == "screened out") ++screened;
        if (c.status != "timed" && c.status != "pruned" && c.status != "screened out") {
          ++failed;
          failures.push_back(fmt::format("{} {} {}: {}: {}", label, step_name(k.kind), config_text(k.kind, c.config),
                                         c.status, c.detail.substr(0, 300)));
        }
      }
      all_stored = all_stored && k.stored;
      if (!k.note.empty()) notes.push_back(fmt::format("{} {}: {}", label, step_name(k.kind), k.note));
      table.add({first ? label : "", step_name(k.kind), fmt::format("{}/{}/{}/{}", timed, screened, failed, tried),
                 k.stored ? fmt::format("{:.1f}", k.heuristic_us) : "-", k.stored ? fmt::format("{:.1f}", k.winner_us) : "-",
                 k.stored ? fmt::format("{:.2f}x", k.heuristic_us / k.winner_us) : "-", config_text(k.kind, k.heuristic),
                 k.stored ? config_text(k.kind, k.winner) : "-", std::to_string(k.workers), fmt::format("{:.1f}", k.seconds)});
      first = false;
    }
    table.add({"", "(problem)", "", "", "", "", "", "", "", fmt::format("{:.1f}", r.seconds)});
  }
  fmt::print("{}", table.render());
  for (const std::string& f : failures) fmt::print("failed, quarantined: {}\n", f);
  for (const std::string& n : notes) fmt::print("note: {}\n", n);
  const cache::Environment& env = device.environment;
  fmt::print("winners stored in {} for {}, {} SMs, {}, driver {}, NVRTC {}, attnjit {}\n", options.store_path,
             env.gpu_name, env.sm_count, env.arch, env.driver_version, env.nvrtc_version, env.attnjit_version);
  if (!args.report.empty()) {
    const nlohmann::json r = report_json(results, env);
    report << (is_csv(args.report) ? tune_report_csv(r) : r.dump(2) + "\n");
    fmt::print("report: {}\n", args.report);
  }
  return all_stored ? 0 : 1;
}

}  // namespace

Command add_tune(CLI::App& app, const GlobalOptions& global) {
  auto args = std::make_shared<TuneArgs>();
  add_problem_options(app, args->problem);
  app.add_option("--budget", args->budget,
                 "seconds per problem: no further kernel of the problem is tuned after this (0: no limit)")
      ->capture_default_str();
  app.add_option("--rounds", args->rounds, "timing rounds; every verified candidate is timed once per round, "
                                           "in a rotating order")
      ->capture_default_str();
  app.add_option("--reps", args->reps, "timed repetitions per candidate per round (L2 flushed before each); fewer, "
                                       "at least 3, for kernels slower than 2 ms (about 20 ms per round)")
      ->capture_default_str();
  app.add_option("--warmup", args->warmup, "untimed runs of each candidate before it is first timed; fewer, at least "
                                           "1, for slow kernels (about 20 ms)")
      ->capture_default_str();
  app.add_option("--seed", args->seed, "seed of the random inputs the candidates are verified on")->capture_default_str();
  app.add_option("--candidate-timeout", args->candidate_timeout,
                 "seconds a candidate may run without progress before it is called hung and quarantined")
      ->capture_default_str();
  app.add_option("--jobs", args->jobs, "parallel NVRTC compiles (default: one per core)");
  app.add_option("--report", args->report, "write every candidate's figures to FILE: CSV if it ends in .csv, else JSON");
  app.add_option("--inject-fault", args->fault,
                 "for testing the tuner: make the first non-heuristic candidate of each kernel fail to compile, crash, "
                 "hang or give a wrong result (compile | crash | hang | wrong); the victims are quarantined in the "
                 "store, so use a scratch --cache");
  return [args, &global] { return tune(*args, global); };
}

Command add_tune_worker(CLI::App& /*app: no options of its own*/, const GlobalOptions& global) {
  return [&global] { return run_tune_worker(std::cin, std::cout, runtime_options(global)); };
}

}  // namespace attnjit::cli
