#include "tuner/tuner.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "cache/store.hpp"
#include "runtime/driver.hpp"
#include "runtime/kernel_cache.hpp"
#include "runtime/mta_plan.hpp"
#include "runtime/nvrtc.hpp"
#include "tuner/mta_candidates.hpp"
#include "tuner/mta_choice.hpp"
#include "tuner/na_candidates.hpp"
#include "tuner/na_choice.hpp"
#include "tuner/worker.hpp"

namespace attnjit {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Compiles specs into the store on `jobs` threads, in the order given (so that the first kernel's
// candidates are ready first); each spec's outcome is a shared future: empty string, or the error.
class CompilePool {
 public:
  CompilePool(detail::KernelCache& cache, std::string arch, int jobs) : cache_(cache), arch_(std::move(arch)), jobs_(jobs) {}
  ~CompilePool() {
    for (std::thread& t : threads_) t.join();
  }

  std::shared_future<std::string> add(const KernelSpec& spec) {
    const std::string key = name(spec);
    if (auto it = futures_.find(key); it != futures_.end()) return it->second;
    tasks_.push_back({spec, {}});
    return futures_[key] = tasks_.back().done.get_future().share();
  }

  void start() {
    for (int k = 0; k < jobs_; ++k) {
      threads_.emplace_back([this] {
        for (std::size_t i; (i = next_.fetch_add(1)) < tasks_.size();) {
          try {
            cache_.binary(tasks_[i].spec, arch_);
            tasks_[i].done.set_value("");
          } catch (const std::exception& e) {
            tasks_[i].done.set_value(e.what());
          }
        }
      });
    }
  }

 private:
  struct Task {
    KernelSpec spec;
    std::promise<std::string> done;
  };
  detail::KernelCache& cache_;
  std::string arch_;
  int jobs_;
  std::deque<Task> tasks_;  // stable addresses while threads read them
  std::map<std::string, std::shared_future<std::string>> futures_;
  std::atomic<std::size_t> next_{0};
  std::vector<std::thread> threads_;
};

// The last `count` lines of text, joined with " | " (a worker's stderr, for the quarantine's detail).
std::string last_lines(const std::string& text, std::size_t count) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  const std::size_t first = lines.size() > count ? lines.size() - count : 0;
  return fmt::format("{}", fmt::join(lines.begin() + static_cast<long>(first), lines.end(), " | "));
}

json outcome_json(const CandidateOutcome& c) {
  json j = {{"config", json::parse(to_json(c.config))}, {"kernel", c.kernel}, {"status", c.status}};
  if (!c.detail.empty()) j["detail"] = c.detail;
  if (c.status == "timed" || c.status == "screened out") {
    j["median_us"] = c.median_us;
    j["p20_us"] = c.p20_us;
    j["p80_us"] = c.p80_us;
    j["samples"] = c.samples;
  }
  return j;
}

// The compile fault of TuneOptions: the candidate's real source with an #error, through NVRTC.
std::string compile_with_fault(const KernelSpec& spec, const std::string& arch) {
  RenderedKernel rendered = render(spec);
  rendered.source += "\n#error attnjit test fault: this candidate does not compile\n";
  try {
    detail::compile(rendered, {arch, detail::nvrtc_version()}, templates());
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

ProblemTuneResult tune(const TuneTarget& target, const TuneOptions& options) {
  const auto start = Clock::now();
  auto say = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };
  const CUcontext context = detail::current_context();
  const detail::DeviceInfo device = detail::device_info(context);
  const cache::Environment& env = device.environment;
  RuntimeOptions runtime_options;
  runtime_options.cache_path = options.store_path;
  detail::KernelCache cache(runtime_options);
  cache::Store store(options.store_path, cache::OpenMode::read_write);

  const std::vector<KernelKind>& kinds = target.kinds;
  const DeviceLimits limits{1024, device.max_smem_per_block, device.arch};

  // Every candidate of every kernel, its outcome so far, and the compile futures of the kernels it needs.
  struct Candidate {
    CandidateOutcome outcome;
    std::vector<std::shared_future<std::string>> compiled;
  };
  std::vector<std::vector<Candidate>> all(kinds.size());
  const int jobs = options.jobs > 0 ? options.jobs : std::max(1u, std::thread::hardware_concurrency());
  CompilePool pool(cache, device.arch, jobs);
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    const std::vector<TileConfig> configs = target.candidates(kinds[k], limits);
    for (std::size_t i = 0; i < configs.size(); ++i) {
      Candidate c;
      c.outcome.config = configs[i];
      c.outcome.kernel = name(target.spec(kinds[k], configs[i]));
      const auto quarantined = i == 0 ? std::nullopt : store.find_quarantine(c.outcome.kernel, env);
      if (quarantined) {
        c.outcome.status = "quarantined";
        c.outcome.detail = quarantined->reason + ": " + quarantined->detail.substr(0, 200);
      } else if (!(i == 1 && options.fault == "compile")) {
        for (const KernelSpec& spec : target.plan_specs(kinds[k], configs[i])) c.compiled.push_back(pool.add(spec));
      }
      all[k].push_back(std::move(c));
    }
  }
  pool.start();

  ProblemTuneResult result;
  result.problem_key = target.problem_key;
  const std::string& problem_key = target.problem_key;
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    const KernelKind kind = kinds[k];
    const char* step = step_name(kind);
    const auto kernel_start = Clock::now();
    KernelTuneResult r;
    r.kind = kind;
    r.heuristic = all[k][0].outcome.config;
    std::vector<Candidate>& candidates = all[k];
    auto quarantine = [&](Candidate& c, const std::string& reason, const std::string& detail) {
      c.outcome.status = reason;
      c.outcome.detail = detail;
      store.put_quarantine({c.outcome.kernel, env, reason, detail, 0});
    };
    if (options.budget_seconds > 0 && since(start) > options.budget_seconds) {
      r.note = fmt::format("not tuned: the budget of {:g} s was spent", options.budget_seconds);
      for (Candidate& c : candidates) c.outcome.status = "skipped";
      for (Candidate& c : candidates) r.candidates.push_back(c.outcome);
      result.kernels.push_back(std::move(r));
      continue;
    }
    say(fmt::format("{}: compiling {} candidates", step, candidates.size()));
    std::vector<std::size_t> remaining;  // indices into candidates for the worker
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      Candidate& c = candidates[i];
      if (c.outcome.status == "quarantined") continue;
      if (i == 1 && options.fault == "compile") {
        quarantine(c, "compile", compile_with_fault(target.spec(kind, c.outcome.config), device.arch));
        continue;
      }
      std::string error;
      for (auto& f : c.compiled) {
        if (error.empty()) error = f.get();
      }
      if (!error.empty()) {
        if (i == 0) detail::raise(ErrorCode::compile, fmt::format("the heuristic {} kernel does not compile: {}", step, error));
        quarantine(c, "compile", error);
        continue;
      }
      remaining.push_back(i);
    }

    // Workers until one finishes: a worker that dies takes the candidate in flight to the quarantine, and
    // the next one starts on the candidates left.
    bool finished = false;
    while (!finished && !remaining.empty()) {
      json request = {{"problem", json::parse(problem_key)}, {"kind", to_string(kind)}, {"seed", options.seed},
                      {"rounds", options.rounds}, {"reps", options.reps}, {"warmup", options.warmup}};
      json configs = json::array();
      json fault = nullptr;
      for (std::size_t n = 0; n < remaining.size(); ++n) {
        configs.push_back(json::parse(to_json(candidates[remaining[n]].outcome.config)));
        if (remaining[n] == 1 && !options.fault.empty() && options.fault != "compile") {
          fault = {{"kind", options.fault}, {"index", n}};
        }
      }
      request["candidates"] = configs;
      request["fault"] = fault;
      std::optional<std::size_t> in_flight;  // index into candidates
      bool done = false;
      std::size_t verified = 0;
      WorkerWatch watch;
      watch.limit = std::chrono::hours(2);
      watch.idle_limit = options.idle_limit;
      watch.on_line = [&](const std::string& line) {
        const json e = json::parse(line, nullptr, false);
        if (e.is_discarded() || !e.contains("event")) return;
        const std::string event = e["event"];
        if (event == "done") {
          done = true;
          return;
        }
        if (!e.contains("index")) return;
        Candidate& c = candidates[remaining.at(e["index"].get<std::size_t>())];
        const std::string config = to_json(c.outcome.config);
        if (event == "verify") {
          in_flight = remaining.at(e["index"].get<std::size_t>());
          say(fmt::format("{}: verifying {}/{} {}", step, e["index"].get<int>() + 1, remaining.size(), config));
        } else if (event == "time") {
          in_flight = remaining.at(e["index"].get<std::size_t>());
          const int round = e["round"].get<int>();
          say(round == 0 ? fmt::format("{}: screening {} of {} verified", step, e["index"].get<int>() + 1, verified)
                         : fmt::format("{}: timing round {}/{}, {} of {} verified", step, round, options.rounds,
                                       e["index"].get<int>() + 1, verified));
        } else if (event == "verified") {
          ++verified;
          in_flight.reset();
        } else if (event == "pruned") {
          c.outcome.status = "pruned";
          c.outcome.detail = e.value("detail", "");
          in_flight.reset();
        } else if (event == "failed") {
          const std::string reason = e.value("reason", "error");
          if (reason == "error") {
            c.outcome.status = "error";
            c.outcome.detail = e.value("detail", "");
          } else {
            quarantine(c, reason, e.value("detail", ""));
          }
          in_flight.reset();
        } else if (event == "screened" || event == "timed") {
          c.outcome.status = event == "timed" ? "timed" : "screened out";
          if (event == "screened") {
            c.outcome.detail = fmt::format("{:.2f}x the fastest in the screening round", e["times_fastest"].get<double>());
          }
          c.outcome.median_us = e["median_us"];
          c.outcome.p20_us = e["p20_us"];
          c.outcome.p80_us = e["p80_us"];
          c.outcome.samples = e["samples"];
          in_flight.reset();
        }
      };
      std::vector<std::string> argv = {options.worker_path, "--cache", options.store_path, "tune-worker"};
      const WorkerResult w = run_worker(argv, request.dump(), watch);
      ++r.workers;
      finished = done && w.end == WorkerEnd::exited && w.exit_code == 0;
      if (finished) break;
      if (in_flight) {  // died on this candidate's step: it is the culprit
        Candidate& c = candidates[*in_flight];
        if (c.outcome.status.empty()) {
          quarantine(c, w.end == WorkerEnd::timed_out ? "hang" : "crash",
                     w.describe() + (w.err.empty() ? "" : "; stderr: " + last_lines(w.err, 5)));
        }
      } else if (std::none_of(remaining.begin(), remaining.end(),
                              [&](std::size_t i) { return candidates[i].outcome.status == "crash"; })) {
        r.note = fmt::format("the worker failed before any candidate ({}){}", w.describe(),
                             w.err.empty() ? "" : ": " + last_lines(w.err, 5));
        break;
      }
      // The next worker re-verifies every candidate still without an outcome (its plans died with the
      // worker); those failed, pruned or screened out stay as they are.
      std::vector<std::size_t> left;
      for (std::size_t i : remaining) {
        if (candidates[i].outcome.status.empty()) left.push_back(i);
      }
      remaining = std::move(left);
    }
    for (Candidate& c : candidates) {
      if (c.outcome.status.empty()) c.outcome.status = "skipped";
    }

    std::vector<Measured> measured;
    std::vector<std::size_t> measured_index;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      const CandidateOutcome& o = candidates[i].outcome;
      if (o.status != "timed") continue;
      measured.push_back({o.config, o.median_us, o.p20_us, o.p80_us, o.samples});
      measured_index.push_back(i);
    }
    for (Candidate& c : candidates) r.candidates.push_back(c.outcome);
    const CandidateOutcome& h = candidates[0].outcome;
    if (finished && h.status == "timed" && !measured.empty()) {
      const std::size_t w = pick_winner(measured, r.heuristic);
      const CandidateOutcome& win = candidates[measured_index[w]].outcome;
      r.winner = win.config;
      r.winner_us = win.median_us;
      r.winner_p20_us = win.p20_us;
      r.winner_p80_us = win.p80_us;
      r.heuristic_us = h.median_us;
      json tried = json::array();
      for (const CandidateOutcome& o : r.candidates) tried.push_back(outcome_json(o));
      r.stored = store.put_tuned({problem_key, to_string(kind), env, to_json(win.config), win.median_us, win.p20_us,
                                  win.p80_us, win.samples, h.median_us, tried.dump(), 0});
    } else if (r.note.empty()) {
      r.note = h.status == "timed" ? "no candidate finished" : "the heuristic config was not measured (" + h.status + ")";
    }
    r.seconds = since(kernel_start);
    result.kernels.push_back(std::move(r));
  }
  result.seconds = since(start);
  return result;
}

ProblemTuneResult tune_mta(const MtaProblem& problem, const TuneOptions& options) {
  validate(problem);
  TuneTarget t;
  t.problem_key = mta_problem_key(problem);
  t.kinds = {KernelKind::mta_row_stats, KernelKind::mta_forward, KernelKind::mta_backward_input};
  if (!mta_weight_grad_fused(problem)) t.kinds.push_back(KernelKind::mta_backward_weight);
  t.candidates = [problem](KernelKind kind, const DeviceLimits& limits) { return mta_candidates(kind, problem, limits); };
  t.spec = [problem](KernelKind kind, const TileConfig& c) { return mta_kernel_spec(kind, problem, c); };
  t.plan_specs = [problem](KernelKind kind, const TileConfig& c) {
    MtaConfigs m = mta_heuristic_configs(problem);
    config_of(m, kind) = c;
    return in_launch_order(mta_kernel_specs(problem, m));
  };
  return tune(t, options);
}

ProblemTuneResult tune_na(const NaProblem& problem, const TuneOptions& options) {
  validate(problem);
  TuneTarget t;
  t.problem_key = na_problem_key(problem);
  t.kinds = {KernelKind::na_forward, KernelKind::na_backward_query, KernelKind::na_backward_key};
  // The fused backward is tuned beside the two kernels wherever it can run (its one-warp config is the
  // smallest); choose_na_configs then takes whichever backward was faster.
  if (na_config_ok(KernelKind::na_backward_fused, problem, na_fused_config(problem, 1))) {
    t.kinds.push_back(KernelKind::na_backward_fused);
  }
  t.candidates = [problem](KernelKind kind, const DeviceLimits& limits) { return na_candidates(kind, problem, limits); };
  t.spec = [problem](KernelKind kind, const TileConfig& c) { return na_kernel_spec(kind, problem, c); };
  t.plan_specs = [problem](KernelKind kind, const TileConfig& c) {
    return in_launch_order(na_kernel_specs(problem, na_candidate_configs(problem, kind, c)));
  };
  return tune(t, options);
}

}  // namespace attnjit
