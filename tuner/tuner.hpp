// The autotuner: for each tunable kernel of a problem (mta or neighborhood attention), the candidates around
// the heuristic (mta_candidates, na_candidates), compiled in parallel into the store while the previous
// kernel is measured, then verified and timed in a worker process under a watchdog (tune_worker), the winner
// picked by the tie rule (pick_winner) and stored for this environment; failed candidates go to the
// quarantine and are never tried again here (DESIGN.md "The tuner never crowns an unverified kernel").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "generator/kernel_spec.hpp"
#include "tuner/mta_candidates.hpp"  // DeviceLimits

namespace attnjit {

struct TuneOptions {
  std::string worker_path;  // the attnjit executable: the worker is its `tune-worker` subcommand
  std::string store_path;   // kernels, winners and quarantine; must be a file (the worker opens it too)
  int rounds = 5, reps = 10, warmup = 3;  // timing: rounds of reps repetitions per candidate, interleaved
  std::uint64_t seed = 1;
  double budget_seconds = 0;  // per problem: no kernel is started after this (0: no budget)
  std::chrono::milliseconds idle_limit{30000};  // a worker silent this long is hung (per candidate step)
  int jobs = 0;  // parallel NVRTC compiles (0: one per core)
  // Test only: the first non-heuristic candidate of each kernel is made to fail this way: "compile"
  // (its source gets an #error), "crash" (it reads an unmapped address), "hang" (a kernel that never ends
  // runs first), "wrong" (it is given a changed weight).
  std::string fault;
  std::function<void(const std::string& line)> progress;  // one short status line per step
};

struct CandidateOutcome {
  TileConfig config;
  std::string kernel;  // name of its spec
  // "timed", "screened out" (verified, but slower than 1.25x the fastest in the screening round: figures
  // of that round only), "pruned", "quarantined" (failed before, not tried), "compile", "crash", "hang",
  // "wrong result", "error", "skipped" (the worker ended before it)
  std::string status;
  std::string detail;
  double median_us = 0, p20_us = 0, p80_us = 0;
  int samples = 0;
};

struct KernelTuneResult {
  KernelKind kind = KernelKind::mta_forward;
  TileConfig heuristic, winner;
  double heuristic_us = 0, winner_us = 0, winner_p20_us = 0, winner_p80_us = 0;
  std::vector<CandidateOutcome> candidates;
  int workers = 0;        // worker processes started (1 unless one died)
  double seconds = 0;     // wall time of this kernel's tuning, its share of compiling included
  bool stored = false;    // the winner went into the store
  std::string note;       // why nothing was stored, if so
};

struct ProblemTuneResult {
  std::string problem_key;  // the store's key of the problem
  std::vector<KernelTuneResult> kernels;
  double seconds = 0;  // wall time for the problem
};

// What the tuning loop needs to know of one problem, whatever its op.
struct TuneTarget {
  std::string problem_key;          // canonical JSON; the worker rebuilds the problem from it
  std::vector<KernelKind> kinds;    // the tunable kernels, in the order they are tuned
  std::function<std::vector<TileConfig>(KernelKind, const DeviceLimits&)> candidates;  // the heuristic first
  std::function<KernelSpec(KernelKind, const TileConfig&)> spec;                       // the tuned kernel
  std::function<std::vector<KernelSpec>(KernelKind, const TileConfig&)> plan_specs;    // all a candidate's plan loads
};

// Need a GPU (throw Error{no_driver} without one).
ProblemTuneResult tune(const TuneTarget& target, const TuneOptions& options);
ProblemTuneResult tune_mta(const MtaProblem& problem, const TuneOptions& options);
ProblemTuneResult tune_na(const NaProblem& problem, const TuneOptions& options);

}  // namespace attnjit
