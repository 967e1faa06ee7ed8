// Isolation for the autotuner: a candidate is compiled, verified and timed in a separate process under a
// watchdog, so that a candidate that crashes (an illegal address kills the CUDA context for good), hangs,
// or aborts costs the tuner one worker, not its own life. The worker is a fresh executable (posix_spawn,
// never fork: a forked child of a process that has initialized CUDA cannot use it); it reads its request
// on stdin and writes its answer on stdout. This file is the process part only, testable without a GPU.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace attnjit {

enum class WorkerEnd {
  exited,    // exit_code holds the status
  signaled,  // killed by a signal of its own (a crash): signal holds it
  timed_out  // the watchdog killed it after the time limit (a hang)
};

struct WorkerResult {
  WorkerEnd end = WorkerEnd::exited;
  int exit_code = 0;
  int signal = 0;
  std::string out, err;  // everything it wrote, up to the end
  double seconds = 0;
  double idle_seconds = 0;  // timed_out by the idle limit: how long it had been silent
  // "exited with status 3", "crashed with signal 11 (Segmentation fault)", "hung: killed after 10 s",
  // "hung: no progress for 5.0 s, killed after 12.3 s"
  std::string describe() const;
};

struct WorkerWatch {
  std::chrono::milliseconds limit{60000};  // the whole run
  // 0: none; else the worker is killed once it has written no line on stdout for this long (a worker that
  // reports each step has a per-step watchdog this way, whatever the number of steps).
  std::chrono::milliseconds idle_limit{0};
  std::function<void(const std::string& line)> on_line;  // each complete stdout line, as it arrives
};

// Runs argv[0] (a path) with argv, writes `input` to its stdin and closes it, collects stdout and stderr,
// and kills its whole process group once `limit` has passed. Throws Error{internal} only when the process
// cannot be started at all.
WorkerResult run_worker(const std::vector<std::string>& argv, const std::string& input,
                        std::chrono::milliseconds limit);
WorkerResult run_worker(const std::vector<std::string>& argv, const std::string& input, const WorkerWatch& watch);

}  // namespace attnjit
