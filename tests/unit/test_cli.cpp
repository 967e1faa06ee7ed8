// The attnjit command end to end: help, gen, compile (a second process never runs NVRTC), doctor, bench
// without a GPU, bad input (exit 2 naming the value) and a corrupt store (set aside, not fatal).
// Every test uses its own temporary store through --cache, placed before the subcommand.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <cstdlib>

#include "attnjit/attnjit.hpp"
#include "cache/store.hpp"
#include "tests/common/cli_path.hpp"
#include "tuner/mta_choice.hpp"
#include "tuner/na_choice.hpp"

namespace attnjit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kSmall = "-b 1 -c 2 -L 64 -k 3";  // 4 kernels (weight gradient fused), compiled in < 1 s
// Channel mixing, 9 x 3 x 3 = 81 weight taps per input channel: the separate weight kernel too, 5 kernels.
constexpr const char* kSmallMixing = "-b 1 -c 9 -g 1 -L 64 -k 3";

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("attnjit-test-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path, error);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Result {
  int status = -1;  // the exit code, or -1 if the process did not exit normally
  std::string out, err;
};

// Runs `attnjit <args>` through the shell; stdout through the pipe, stderr through a file in dir.
Result attnjit_cli(const TempDir& dir, const std::string& args) {
  const std::string err_path = dir.file("stderr.txt");
  const std::string command = "'" + testing::cli_path() + "' " + args + " 2>'" + err_path + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  Result r;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) r.out.append(buffer, n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = read_file(err_path);
  return r;
}

// `attnjit --cache <store> <args>`
Result with_store(const TempDir& dir, const std::string& store, const std::string& args) {
  return attnjit_cli(dir, "--cache '" + store + "' " + args);
}

json parse_json(const Result& r) {
  INFO("stdout: ", r.out, "\nstderr: ", r.err);
  REQUIRE(r.status == 0);
  REQUIRE(json::accept(r.out));
  return json::parse(r.out);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

bool gpu_present(const TempDir& dir) {
  return parse_json(with_store(dir, dir.file("doctor.db"), "doctor --json"))["gpu"]["available"].get<bool>();
}

TEST_SUITE("cli") {

TEST_CASE("--help and every subcommand's --help exit 0 and list their options") {
  TempDir dir;
  const Result top = attnjit_cli(dir, "--help");
  CHECK(top.status == 0);
  for (const char* part : {"--cache", "--no-cache", "gen", "compile", "doctor", "bench", "tune", "cache"}) {
    CHECK_MESSAGE(contains(top.out, part), part);
  }
  CHECK_FALSE(contains(top.out, "tune-worker"));  // the tuner's own worker is not for people
  const std::pair<const char*, std::vector<const char*>> subcommands[] = {
      {"gen", {"--problem", "--length", "--kernel", "--groups", "--dtype", "--kernel-kind", "--json"}},
      {"compile", {"--problem", "--length", "--arch", "--jobs", "--json"}},
      {"doctor", {"--json"}},
      {"bench", {"--problem", "--length", "--arch", "--reps", "--warmup", "--no-verify", "--json"}},
      {"tune", {"--problem", "--budget", "--rounds", "--reps", "--candidate-timeout", "--report", "--inject-fault"}},
      {"cache", {"ls", "stats", "explain", "clear"}},
      {"cache explain", {"--problem", "--length", "--kernel"}},
      {"cache ls", {"--json"}},
      {"cache stats", {"--json"}},
      {"cache clear", {"--tuning"}},
  };
  for (const auto& [sub, options] : subcommands) {
    const Result r = attnjit_cli(dir, std::string(sub) + " --help");
    INFO(sub, ": ", r.out);
    CHECK(r.status == 0);
    for (const char* option : options) CHECK_MESSAGE(contains(r.out, option), option);
  }
}

TEST_CASE("gen prints generated sources; --json lists the 4 or 5 kernels with name/source/spec; --kernel-kind picks one") {
  TempDir dir;
  const std::string store = dir.file("x.db");
  const Result text = with_store(dir, store, "gen -L 64 -c 2 -k 3");
  CHECK(text.status == 0);
  std::size_t headers = 0;
  for (std::size_t at = 0; (at = text.out.find("generated by attnjit", at)) != std::string::npos; ++at) ++headers;
  CHECK(headers == 4);
  const json fused = parse_json(with_store(dir, store, std::string("gen --json ") + kSmall));
  REQUIRE(fused.is_array());
  CHECK(fused.size() == 4);
  for (const json& k : fused) CHECK(k["spec"]["kind"] != "mta_bwd_weight");

  const json all = parse_json(with_store(dir, store, std::string("gen --json ") + kSmallMixing));
  REQUIRE(all.is_array());
  CHECK(all.size() == 5);
  std::set<std::string> kinds;
  for (const json& k : all) {
    REQUIRE(k.contains("name"));
    REQUIRE(k.contains("source"));
    REQUIRE(k.contains("spec"));
    CHECK(k["spec"].is_object());
    CHECK(k["source"].get<std::string>().rfind("// " + k["name"].get<std::string>() + "\n", 0) == 0);
    kinds.insert(k["spec"]["kind"].get<std::string>());
  }
  CHECK(kinds == std::set<std::string>{"mta_stats", "mta_fwd", "mta_bwd_input", "mta_bwd_weight", "mta_reduce_weight"});

  const json fwd = parse_json(with_store(dir, store, std::string("gen --json --kernel-kind mta_fwd ") + kSmall));
  REQUIRE(fwd.size() == 1);
  CHECK(fwd[0]["spec"]["kind"] == "mta_fwd");
  CHECK(fwd[0]["spec"]["length"] == 64);
  CHECK(with_store(dir, store, std::string("gen --kernel-kind nope ") + kSmall).status == 2);
  CHECK_FALSE(fs::exists(store));  // gen never touches the store
}

TEST_CASE("compile twice in two processes: the second reads all 4 from the store and never runs NVRTC") {
  TempDir dir;
  const std::string store = dir.file("x.db");
  const std::string args = std::string("compile --arch sm_90 --json ") + kSmall;
  const json first = parse_json(with_store(dir, store, args));
  CHECK(first["arch"] == "sm_90");
  CHECK(first["store"] == store);
  CHECK(first["nvrtc_compiles"] == 4);
  CHECK(first["store_hits"] == 0);
  REQUIRE(first["kernels"].size() == 4);
  for (const json& k : first["kernels"]) CHECK(k["source"] == "nvrtc");

  const json second = parse_json(with_store(dir, store, args));
  CHECK(second["nvrtc_compiles"] == 0);  // incremented only when NVRTC runs
  CHECK(second["store_hits"] == 4);
  REQUIRE(second["kernels"].size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(second["kernels"][i]["source"] == "store");
    CHECK(second["kernels"][i]["key"] == first["kernels"][i]["key"]);
    CHECK(second["kernels"][i]["cubin_bytes"] == first["kernels"][i]["cubin_bytes"]);
  }
}

TEST_CASE("ATTNJIT_MTA_CONFIG pins a kernel's config in the generated specs; a bad pin exits 2 naming it") {
  TempDir dir;
  ::setenv("ATTNJIT_MTA_CONFIG", "forward=16x16x4x1", 1);
  const Result pinned = attnjit_cli(dir, std::string("gen --json --kernel-kind mta_fwd ") + kSmall);
  ::setenv("ATTNJIT_MTA_CONFIG", "forward=16x16x4", 1);  // the forward needs an oc_tile too
  const Result bad = attnjit_cli(dir, std::string("gen --json ") + kSmall);
  ::unsetenv("ATTNJIT_MTA_CONFIG");
  const json spec = parse_json(pinned)[0]["spec"];
  CHECK(spec["tile_i"] == 16);
  CHECK(spec["tile_j"] == 16);
  CHECK(spec["warps"] == 4);
  CHECK(bad.status == 2);
  CHECK(contains(bad.err, "forward=16x16x4"));
  const json unpinned = parse_json(attnjit_cli(dir, std::string("gen --json --kernel-kind mta_fwd ") + kSmall));
  CHECK(unpinned[0]["spec"]["tile_j"] == 64);  // the heuristic again: min(64, next_pow2(L = 64))
}

TEST_CASE("tune without a GPU exits 1 saying it needs one; with --no-cache it exits 2") {
  TempDir dir;
  if (gpu_present(dir)) {
    MESSAGE("skipped: this machine has a GPU (the gpu suite tunes there)");
    return;
  }
  const Result r = with_store(dir, dir.file("t.db"), std::string("tune ") + kSmall);
  CHECK(r.status == 1);
  CHECK(contains(r.err, "measures kernels on the GPU and there is none here"));
  const Result no_store = attnjit_cli(dir, std::string("--no-cache tune ") + kSmall);
  CHECK(no_store.status == 2);
  CHECK(contains(no_store.err, "--no-cache"));
}

TEST_CASE("cache explain without a GPU: the heuristic's kernels per step, and the stored winners with their environment") {
  TempDir dir;
  if (gpu_present(dir)) {
    MESSAGE("skipped: this machine has a GPU (the gpu suite explains tuned problems there)");
    return;
  }
  const std::string store = dir.file("x.db");
  const MtaProblem p{.batch = 1, .in_channels = 2, .out_channels = 2, .length = 64, .kernel_h = 3, .kernel_w = 3,
                     .padding = Padding::symmetric(1), .groups = 2, .dtype = DType::bf16};
  {
    cache::Store s(store, cache::OpenMode::read_write);
    cache::TunedRecord w;
    w.problem_key = mta_problem_key(p);
    w.kernel_kind = to_string(KernelKind::mta_forward);
    w.environment = {"NVIDIA H100 80GB HBM3", 132, "sm_90", "580.159.04", "13.0", version()};
    w.config_json = to_json(TileConfig{16, 32, 4, 1});
    w.median_us = 12.5;
    w.heuristic_median_us = 14.0;
    w.candidates_json = "[]";
    REQUIRE(s.put_tuned(w));
  }
  const Result r = with_store(dir, store, "cache explain -b 1 -c 2 -L 64 -k 3");
  INFO(r.out, r.err);
  CHECK(r.status == 0);
  for (const char* step : {"row_stats", "forward", "backward_input", "reduce_weight"}) CHECK_MESSAGE(contains(r.out, step), step);
  CHECK(contains(r.out, "No GPU here"));
  CHECK(contains(r.out, "forward: {\"oc_tile\":1,\"tile_i\":16,\"tile_j\":32,\"warps\":4} tuned"));
  CHECK(contains(r.out, "on NVIDIA H100 80GB HBM3, 132 SMs, sm_90, driver 580.159.04"));
  CHECK(contains(r.out, "median 12.5 us (heuristic 14.0 us)"));
  // another problem has no winner
  const Result other = with_store(dir, store, "cache explain -b 1 -c 2 -L 128 -k 3");
  CHECK(contains(other.out, "  none"));
  const json stats = parse_json(with_store(dir, store, "cache stats --json"));
  CHECK(stats["tuned_winners"] == 1);
  CHECK(stats["quarantined"] == 0);
  CHECK(contains(with_store(dir, store, "cache stats").out, "1 tuned winners, 0 quarantined candidates"));
}

TEST_CASE("neighborhood attention from the command: gen, compile, cache explain with a stored winner, bad flags") {
  TempDir dir;
  const std::string store = dir.file("na.db");
  const char* const problem = "--op na -b 1 -c 4 -L 200 -D 64 -k 9 -d 2 --window shifted --dtype f16";
  const json generated = parse_json(attnjit_cli(dir, std::string("gen --json ") + problem));
  REQUIRE(generated.size() == 2);  // f16, D = 64, kernel 9: the forward and the fused backward
  CHECK(generated[0]["spec"]["kind"] == "na_fwd");
  CHECK(generated[0]["spec"]["window"] == "shifted");
  CHECK(generated[0]["spec"]["dilation"] == 2);
  CHECK(generated[1]["name_expression"] == "attnjit::na_backward_fused<attnjit_cfg>");
  const json compiled = parse_json(with_store(dir, store, std::string("compile --arch sm_90 --json ") + problem));
  CHECK(compiled["nvrtc_compiles"] == 2);
  // The two-kernel backward by pin.
  ::setenv("ATTNJIT_NA_CONFIG", "backward_fused=off", 1);
  const json split = parse_json(attnjit_cli(dir, std::string("gen --json ") + problem));
  ::unsetenv("ATTNJIT_NA_CONFIG");
  REQUIRE(split.size() == 3);
  CHECK(split[2]["name_expression"] == "attnjit::na_backward_key<attnjit_cfg>");
  if (!gpu_present(dir)) {
    const NaProblem p{.batch = 1, .heads = 4, .length = 200, .head_dim = 64, .kernel_size = 9, .dilation = 2,
                      .window = NaWindow::shifted, .dtype = DType::f16};
    {
      cache::Store s(store, cache::OpenMode::read_write);
      cache::TunedRecord w;
      w.problem_key = na_problem_key(p);
      w.kernel_kind = to_string(KernelKind::na_backward_fused);
      w.environment = {"NVIDIA H100 80GB HBM3", 132, "sm_90", "580.159.04", "13.0", version()};
      w.config_json = to_json(TileConfig{32, 48, 2, 0, 0});
      w.median_us = 7.5;
      w.heuristic_median_us = 9.0;
      w.candidates_json = "[]";
      REQUIRE(s.put_tuned(w));
    }
    const Result r = with_store(dir, store, std::string("cache explain ") + problem);
    INFO(r.out, r.err);
    CHECK(r.status == 0);
    for (const char* step : {"forward", "backward_fused"}) CHECK_MESSAGE(contains(r.out, step), step);
    CHECK(contains(r.out, "neighborhood_attention f16 B=1 H=4 L=200 D=64 kernel_size=9 dilation=2 window=shifted"));
    CHECK(contains(r.out, "backward_fused: {\"oc_tile\":0,\"tile_i\":32,\"tile_j\":48,\"warps\":2} tuned"));
  }
  const Result even = attnjit_cli(dir, "gen --op na -k 8");
  CHECK(even.status != 0);
  CHECK(contains(even.err, "kernel_size=8 must be odd"));
  const Result pair = attnjit_cli(dir, "gen --op na -k 3x5");
  CHECK(contains(pair.err, "neighborhood attention takes one number"));
  const Result window = attnjit_cli(dir, "gen --op na --window sideways");
  CHECK(contains(window.err, "expected clipped, shifted or causal"));
  const Result op = attnjit_cli(dir, "gen --op conv");
  CHECK(contains(op.err, "--op 'conv': expected mta or na"));
}

TEST_CASE("cache ls / stats list what compile stored; cache clear empties it; --no-cache is refused") {
  TempDir dir;
  const std::string store = dir.file("x.db");
  const json compiled = parse_json(with_store(dir, store, std::string("compile --arch sm_90 --json ") + kSmall));
  const json listed = parse_json(with_store(dir, store, "cache ls --json"));
  REQUIRE(listed.is_array());
  CHECK(listed.size() == 4);
  std::set<std::string> compiled_keys, listed_keys;
  for (const json& k : compiled["kernels"]) compiled_keys.insert(k["key"].get<std::string>());
  for (const json& k : listed) listed_keys.insert(k["key"].get<std::string>());
  CHECK(listed_keys == compiled_keys);
  const Result text = with_store(dir, store, "cache ls");
  CHECK(text.status == 0);
  CHECK(contains(text.out, "4 kernels in " + store));
  const json stats = parse_json(with_store(dir, store, "cache stats --json"));
  CHECK(stats["kernels"] == 4);
  CHECK(stats["schema_version"] == 2);
  CHECK(stats["cubin_bytes"].get<std::size_t>() > 0);
  const Result cleared = with_store(dir, store, "cache clear");
  CHECK(cleared.status == 0);
  CHECK(contains(cleared.out, "removed 4 kernels"));
  CHECK(parse_json(with_store(dir, store, "cache stats --json"))["kernels"] == 0);
  const Result refused = with_store(dir, store, "--no-cache cache ls");
  CHECK(refused.status == 2);
  CHECK(contains(refused.err, "--no-cache"));
}

TEST_CASE("compile --problem FILE.json: a list of two problems compiles both; shared kernels compile once") {
  TempDir dir;
  const std::string list = dir.file("two.json");
  std::ofstream(list) << R"([{"batch": 1, "in_channels": 2, "length": 64, "kernel": 3},
                             {"batch": 1, "in_channels": 2, "length": 32, "kernel": "3x3", "norm": "sparsemax"}])";
  const json both = parse_json(with_store(dir, dir.file("a.db"), "compile --arch sm_90 --json --problem '" + list + "'"));
  std::set<std::string> names;
  for (const json& k : both["kernels"]) names.insert(k["name"].get<std::string>());
  CHECK(both["kernels"].size() == 7);  // different L: only the reduction (no L in it) in common
  CHECK(names.size() == 7);
  CHECK(both["nvrtc_compiles"] == 7);
  int l32 = 0;
  for (const std::string& n : names) l32 += contains(n, "sparsemax_L32") ? 1 : 0;
  CHECK(l32 == 3);  // every kind but the reduction carries norm and L

  // Batch is not part of any kernel: two problems differing only in batch share all four.
  const std::string shared = dir.file("shared.json");
  std::ofstream(shared) << R"({"problems": [{"batch": 1, "in_channels": 2, "length": 64, "kernel": 3},
                                            {"batch": 4, "in_channels": 2, "length": 64, "kernel": 3}]})";
  const json one = parse_json(with_store(dir, dir.file("b.db"), "compile --arch sm_90 --json --problem '" + shared + "'"));
  CHECK(one["kernels"].size() == 4);
  CHECK(one["nvrtc_compiles"] == 4);
}

TEST_CASE("compile without --arch on a machine without a GPU exits 2 and says to pass --arch") {
  TempDir dir;
  if (gpu_present(dir)) {
    MESSAGE("a GPU is present: compile uses its arch; nothing to check here");
    return;
  }
  const Result r = with_store(dir, dir.file("x.db"), std::string("compile ") + kSmall);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--arch"));
}

TEST_CASE("doctor --json: no GPU with a reason, NVRTC with a version, the --cache store (not created)") {
  TempDir dir;
  const std::string store = dir.file("x.db");
  const json report = parse_json(with_store(dir, store, "doctor --json"));
  CHECK(report["version"] == version());
  if (!report["gpu"]["available"].get<bool>()) {
    CHECK_FALSE(report["gpu"]["reason"].get<std::string>().empty());
  } else {
    MESSAGE("a GPU is present: skipping the no-GPU checks");
  }
  CHECK(report["nvrtc"]["available"] == true);
  CHECK(std::regex_match(report["nvrtc"]["version"].get<std::string>(), std::regex(R"(\d+\.\d+)")));
  CHECK(report["store"]["enabled"] == true);
  CHECK(report["store"]["path"] == store);
  int template_files = 0;  // every .cuh and .h of the source tree's templates/, as embedded
  for (const auto& entry : fs::directory_iterator(ATTNJIT_SOURCE_DIR "/templates")) {
    const std::string ext = entry.path().extension().string();
    template_files += ext == ".cuh" || ext == ".h";
  }
  CHECK(template_files >= 14);
  CHECK(report["templates"]["files"] == template_files);
  CHECK_FALSE(fs::exists(store));  // the doctor looks, it never creates
}

TEST_CASE("bench without a GPU exits 0, says No GPU found, and compiles the kernels for sm_90 into the store") {
  TempDir dir;
  if (gpu_present(dir)) {
    MESSAGE("a GPU is present: bench would verify and time; not run here");
    return;
  }
  const std::string store = dir.file("x.db");
  const Result r = with_store(dir, store, std::string("bench ") + kSmall);
  INFO(r.out, r.err);
  CHECK(r.status == 0);
  CHECK(contains(r.out, "No GPU found"));
  CHECK(contains(r.out, "sm_90"));
  CHECK(contains(r.out, store));
  CHECK(contains(r.out, "4 compiled by NVRTC"));
  // They are in the store: a compile for sm_90 finds all four there.
  const json again = parse_json(with_store(dir, store, std::string("compile --arch sm_90 --json ") + kSmall));
  CHECK(again["store_hits"] == 4);
  CHECK(again["nvrtc_compiles"] == 0);
}

TEST_CASE("bad input exits 2 and names the bad value") {
  TempDir dir;
  const std::string store = dir.file("x.db");
  const Result groups = with_store(dir, store, "compile --arch sm_90 -L 64 -c 8 -g 3");
  CHECK(groups.status == 2);
  CHECK(contains(groups.err, "groups=3 does not divide in_channels=8"));
  const Result kernel = with_store(dir, store, "compile --arch sm_90 -L 64 -c 2 -k 0");
  CHECK(kernel.status == 2);
  CHECK(contains(kernel.err, "0x0"));
  const Result dtype = with_store(dir, store, std::string("compile --arch sm_90 --dtype f64 ") + kSmall);
  CHECK(dtype.status == 2);
  CHECK(contains(dtype.err, "f64"));
  const Result missing = with_store(dir, store, "compile --arch sm_90 --problem /nonexistent.json");
  CHECK(missing.status == 2);
  CHECK(contains(missing.err, "/nonexistent.json"));
  const std::string broken = dir.file("broken.json");
  std::ofstream(broken) << R"({"length": 64,)";
  CHECK(with_store(dir, store, "compile --arch sm_90 --problem '" + broken + "'").status == 2);
}

// Regression (cli/problem_args.cpp, parse_pair): std::stoi parses a prefix, so "-k 3abc" is taken as 3x3 (and
// "-k 3x5x7" as 3x5) instead of being rejected. Check that the whole text was consumed.
TEST_CASE("a kernel size with trailing garbage exits 2") {
  TempDir dir;
  const Result r = with_store(dir, dir.file("x.db"), "gen -b 1 -c 2 -L 64 -k 3abc");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "3abc"));
}

// Regression (cli/problem_args.cpp, problem_from_json): j.value("batch", ...) on a string throws
// nlohmann::json::type_error, which main() reports as a generic error with exit 1 and a message that
// does not name the field, against problems_from's contract (Error{invalid_argument} naming the value).
TEST_CASE("a problem file with a wrongly typed field exits 2 naming the field") {
  TempDir dir;
  const std::string file = dir.file("typed.json");
  std::ofstream(file) << R"({"batch": "two", "in_channels": 2, "length": 64, "kernel": 3})";
  const Result r = with_store(dir, dir.file("x.db"), "gen --problem '" + file + "'");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "batch"));
}

TEST_CASE("a corrupt store file is set aside with a warning; compile still succeeds") {
  TempDir dir;
  const std::string store = dir.file("x.db");
  {
    std::mt19937 rng(42);
    std::ofstream out(store, std::ios::binary);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>(rng()));
  }
  const Result r = with_store(dir, store, std::string("compile --arch sm_90 --json ") + kSmall);
  INFO(r.err);
  const json report = parse_json(r);
  CHECK(report["nvrtc_compiles"] == 4);
  CHECK(contains(r.err, "warning"));
  CHECK(contains(r.err, store));
  int aside = 0;
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    aside += entry.path().filename().string().rfind("x.db.corrupt-", 0) == 0 ? 1 : 0;
  }
  CHECK(aside >= 1);
  // The fresh store works: a second process finds the kernels.
  CHECK(parse_json(with_store(dir, store, std::string("compile --arch sm_90 --json ") + kSmall))["store_hits"] == 4);
}

}  // TEST_SUITE

}  // namespace
}  // namespace attnjit
