// The tuner's worker process (`attnjit tune-worker`, started by the tuner, never by hand): for one kernel
// of one problem it verifies each candidate config and then times the verified ones, reporting every step
// as one JSON line on stdout, so that the tuner knows which candidate was in flight if the worker dies
// (DESIGN.md "The tuner never crowns an unverified kernel").
//
// Request (stdin, JSON): {"problem": <mta_problem_key>, "kind": "mta_fwd", "candidates": [<TileConfig>...],
//   "seed": 1, "rounds": 5, "reps": 10, "warmup": 3, "fault": null | {"kind": "crash"|"hang"|"wrong",
//   "index": i}}. The first candidate is the heuristic: its results are the trusted ones.
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

#include <iosfwd>

#include "attnjit/attnjit.hpp"

namespace attnjit {

int run_mta_tune_worker(std::istream& request, std::ostream& events, const RuntimeOptions& options);

}  // namespace attnjit
