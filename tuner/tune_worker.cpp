#include "tuner/tune_worker.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <istream>
#include <nlohmann/json.hpp>
#include <ostream>

#include "runtime/driver.hpp"
#include "tuner/mta_choice.hpp"
#include "tuner/na_choice.hpp"
#include "tuner/timing.hpp"
#include "tuner/tuner_kernels.hpp"

namespace attnjit {
namespace {

using nlohmann::json;
using namespace detail;

void emit(std::ostream& out, const json& event) { out << event.dump() << '\n' << std::flush; }

struct Request {
  std::vector<TileConfig> candidates;
  int rounds = 5, reps = 10, warmup = 3;
  std::string fault;  // "crash", "hang", "wrong" or empty
  int fault_index = -1;
};

// Verifies every candidate, prunes the ones the cubin cannot launch, then times the verified ones: a
// screening round, then interleaved rounds. Returns the worker's exit status.
int run_candidates(TuneSubject& subject, const Request& r, const std::string& arch, std::ostream& events,
                   std::chrono::steady_clock::time_point start) {
  // Repetitions per round: `reps`, fewer for slow kernels (about 20 ms of a candidate per round, at least 3),
  // so that a 30 ms kernel's tuning does not take minutes; rounds stay as asked. Warm-up runs likewise:
  // `warmup`, fewer for slow kernels (at least one; about 20 ms of warm-up is taken as enough to settle
  // clocks and caches).
  const TimingStats first = time_on_device([&](CUstream stream) { subject.launch_trusted(stream); }, nullptr, {1, 3, true});
  const int launches_in_20ms = static_cast<int>(20000.0 / std::max(first.median_us, 1.0));
  const int reps_per_round = std::clamp(launches_in_20ms, std::min(3, r.reps), r.reps);
  const int warmups = std::clamp(launches_in_20ms, std::min(1, r.warmup), r.warmup);
  emit(events, {{"event", "ready"}, {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
                {"reps_per_round", reps_per_round}});

  std::vector<std::size_t> verified;
  for (std::size_t i = 0; i < r.candidates.size(); ++i) {
    emit(events, {{"event", "verify"}, {"index", i}});
    const bool faulty = static_cast<int>(i) == r.fault_index;
    try {
      // Pruning after compiling: the cubin's registers may not allow the block's threads.
      const KernelLaunch& kernel = subject.load(i, r.candidates[i]);
      int max_threads = 0, registers = 0;
      ATTNJIT_CU_CHECK(driver().cuFuncGetAttribute(&max_threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, kernel.function));
      ATTNJIT_CU_CHECK(driver().cuFuncGetAttribute(&registers, CU_FUNC_ATTRIBUTE_NUM_REGS, kernel.function));
      if (max_threads < static_cast<int>(kernel.shape.threads)) {
        emit(events, {{"event", "pruned"}, {"index", i},
                      {"detail", fmt::format("{} registers per thread allow {} threads per block; the config has {}",
                                             registers, max_threads, kernel.shape.threads)}});
        subject.drop(i);
        continue;
      }
      if (faulty && r.fault == "hang") launch_spinning_kernel(arch, nullptr);
      const TuneSubject::Check c = subject.check(i, faulty && r.fault != "hang" ? r.fault : "");
      if (!c.passed) {
        emit(events, {{"event", "failed"}, {"index", i}, {"reason", "wrong result"},
                      {"detail", "differs from the heuristic kernels' result: " + c.summary}});
        subject.drop(i);
        continue;
      }
      emit(events, {{"event", "verified"}, {"index", i}, {"summary", c.summary}});
      verified.push_back(i);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::driver) {  // the context is unusable after a fault: report and end
        emit(events, {{"event", "failed"}, {"index", i}, {"reason", "crash"}, {"detail", e.what()}});
        return 3;
      }
      emit(events, {{"event", "failed"}, {"index", i}, {"reason", e.code() == ErrorCode::compile ? "compile" : "error"},
                    {"detail", e.what()}});
      subject.drop(i);
    }
  }

  // Timing, L2 flushed before every repetition. First a screening round: every verified candidate after
  // its warm-up, kScreenReps repetitions; one slower than kScreenFactor times the fastest screening median
  // cannot come within a noise band of it (bands are a few percent) and is reported with its screening
  // figures instead of being timed on (the heuristic always goes on: its time is the baseline). Then the
  // rounds: the survivors interleaved, a different one first in each round, samples pooled per candidate.
  constexpr int kScreenReps = 3;
  constexpr double kScreenFactor = 1.25;
  subject.before_timing();
  auto time_candidate = [&](std::size_t i, int round, int warm, int repetitions) {
    emit(events, {{"event", "time"}, {"index", i}, {"round", round}});
    return time_on_device([&](CUstream stream) { subject.launch(i, stream); }, nullptr, {warm, repetitions, true});
  };
  std::vector<TimingStats> screening(r.candidates.size());
  double fastest = 0;
  for (std::size_t i : verified) {
    screening[i] = time_candidate(i, 0, warmups, std::min(kScreenReps, reps_per_round));
    if (fastest == 0 || screening[i].median_us < fastest) fastest = screening[i].median_us;
  }
  std::vector<std::size_t> kept;
  for (std::size_t i : verified) {
    if (i == 0 || screening[i].median_us <= kScreenFactor * fastest) {
      kept.push_back(i);
      continue;
    }
    const TimingStats& s = screening[i];
    emit(events, {{"event", "screened"}, {"index", i}, {"median_us", s.median_us}, {"p20_us", s.p20_us},
                  {"p80_us", s.p80_us}, {"samples", s.count}, {"times_fastest", s.median_us / fastest}});
  }
  verified = kept;
  std::vector<std::vector<double>> samples(r.candidates.size());
  for (int round = 0; round < r.rounds && !verified.empty(); ++round) {
    for (std::size_t k = 0; k < verified.size(); ++k) {
      const std::size_t i = verified[(k + static_cast<std::size_t>(round)) % verified.size()];
      const TimingStats s = time_candidate(i, round + 1, 1, reps_per_round);
      samples[i].insert(samples[i].end(), s.samples.begin(), s.samples.end());
    }
  }
  for (std::size_t i : verified) {
    const TimingStats s = summarize(samples[i]);
    emit(events, {{"event", "timed"}, {"index", i}, {"median_us", s.median_us}, {"p20_us", s.p20_us},
                  {"p80_us", s.p80_us}, {"samples", s.count}});
  }
  emit(events, {{"event", "done"}});
  return 0;
}

}  // namespace

int run_tune_worker(std::istream& request_stream, std::ostream& events, const RuntimeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const json request = json::parse(request_stream);
  Request r;
  for (const json& c : request.at("candidates")) r.candidates.push_back(tile_config_from_json(c.dump()));
  if (r.candidates.empty()) raise_invalid("tune-worker: no candidates");
  const std::uint64_t seed = request.value("seed", std::uint64_t{1});
  r.rounds = request.value("rounds", 5);
  r.reps = request.value("reps", 10);
  r.warmup = request.value("warmup", 3);
  if (request.contains("fault") && request["fault"].is_object()) {
    r.fault = request["fault"].at("kind");
    r.fault_index = request["fault"].at("index");
  }
  const KernelKind kind = kernel_kind_from_string(request.at("kind"));
  const std::string key = request.at("problem").dump();
  std::unique_ptr<TuneSubject> subject;
  if (is_neighborhood_attention(kind)) {
    const NaProblem p = na_problem_from_key(key);
    validate(p);  // before anything sizes a kernel from it
    subject = make_na_subject(p, kind, seed, r.fault, options);
  } else {
    const MtaProblem p = mta_problem_from_key(key);
    validate(p);
    subject = make_mta_subject(p, kind, seed, r.fault, options);
  }
  return run_candidates(*subject, r, device_info(current_context()).arch, events, start);
}

}  // namespace attnjit
