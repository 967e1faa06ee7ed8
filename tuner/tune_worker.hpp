// The tuner's worker process (`attnjit tune-worker`, started by the tuner, never by hand): for one kernel
// of one problem it verifies each candidate config and then times the verified ones, reporting every step
// as one JSON line on stdout, so that the tuner knows which candidate was in flight if the worker dies
// (DESIGN.md "The tuner never crowns an unverified kernel").
//
// Request (stdin, JSON): {"problem": <problem key: mta_problem_key or na_problem_key>, "kind": "mta_fwd",
//   "candidates": [<TileConfig>...], "seed": 1, "rounds": 5, "reps": 10, "warmup": 3,
//   "fault": null | {"kind": "crash"|"hang"|"wrong", "index": i}}. The first candidate is the heuristic: its
//   results are the trusted ones.
// Events (stdout, one JSON object per line, flushed):
//   {"event": "ready", "seconds": s, "reps_per_round": n}  inputs made, trusted results computed
//   {"event": "verify", "index": i}                  about to run candidate i for verification
//   {"event": "verified", "index": i, "summary": "..."}
//   {"event": "failed", "index": i, "reason": "wrong result" | "crash" | "compile", "detail": "..."}
//   {"event": "pruned", "index": i, "detail": "..."} the cubin cannot launch the block (post-compile pruning)
//   {"event": "time", "index": i, "round": r}        about to time candidate i in round r (0: screening)
//   {"event": "screened", "index": i, "median_us": m, ..., "times_fastest": x}  too slow to win: not timed on
//   {"event": "timed", "index": i, "median_us": m, "p20_us": a, "p80_us": b, "samples": n}
//   {"event": "done"}
// A candidate that leaves the CUDA context unusable (an illegal address) ends the worker with status 3
// after its "failed" event; the tuner starts a new worker for the candidates left.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include "attnjit/attnjit.hpp"
#include "generator/kernel_spec.hpp"
#include "runtime/mta_plan.hpp"  // KernelLaunch

namespace attnjit {

int run_tune_worker(std::istream& request, std::ostream& events, const RuntimeOptions& options);

namespace detail {

// One kernel of one problem as the worker measures it, whatever the op: inputs made on the device and the
// trusted results (the heuristic kernels', which the gpu suite verifies against the double-precision
// reference) computed when it is made; candidates planned, checked and launched by index.
class TuneSubject {
 public:
  virtual ~TuneSubject() = default;
  // One launch of the tuned kernel under the heuristic configs (the timing scale of the worker).
  virtual void launch_trusted(CUstream stream) = 0;
  // Plans candidate `index` with `config` for the tuned kernel (compiling or loading); returns that kernel.
  virtual const KernelLaunch& load(std::size_t index, const TileConfig& config) = 0;
  struct Check {
    bool passed = false;
    std::string summary;  // each compared buffer's error / limit
  };
  // Poisons the outputs, runs candidate `index`'s full pass (forward, or backward) and compares every output
  // with the trusted one. fault (tests only): "crash" reads an unmapped address, "wrong" changes an input.
  virtual Check check(std::size_t index, const std::string& fault) = 0;
  virtual void launch(std::size_t index, CUstream stream) = 0;  // one launch of the candidate's tuned kernel
  // Called once after every check and before any timing: restores what a timed launch reads from a pass
  // (the inputs a failed candidate may have left unfinished).
  virtual void before_timing() {}
  virtual void drop(std::size_t index) = 0;                      // forgets a candidate that failed
};

std::unique_ptr<TuneSubject> make_mta_subject(const MtaProblem& problem, KernelKind kind, std::uint64_t seed,
                                              const std::string& fault, const RuntimeOptions& options);
std::unique_ptr<TuneSubject> make_na_subject(const NaProblem& problem, KernelKind kind, std::uint64_t seed,
                                             const std::string& fault, const RuntimeOptions& options);

}  // namespace detail
}  // namespace attnjit
