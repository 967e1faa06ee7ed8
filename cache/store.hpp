// The SQLite store (DESIGN.md "SQLite is the one store"): compiled kernels keyed by SHA-256.
// WAL, busy_timeout, writes in BEGIN IMMEDIATE, schema version in PRAGMA user_version, a SHA-256 per
// blob checked on read. A corrupt or foreign file is set aside (renamed) with a warning, never trusted
// and never fatal. Safe to share between processes on one machine (not over NFS: use export/import).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attnjit::cache {

namespace sqlite {
struct Conn;
}

// 1: the kernels. 2: also the tuning tables (winners, quarantine); a version-1 file is migrated in place
// when opened for writing, and read as is (with no tuning data) when opened read-only.
inline constexpr int kSchemaVersion = 2;

struct KernelRecord {
  std::string key;              // SHA-256 hex of the canonical JSON of everything that changes the binary
  std::string name;             // readable spec name, e.g. mta_fwd_bf16_softmax_L1024_...
  std::string lowered_name;     // the mangled name to pass to cuModuleGetFunction
  std::string arch;             // "sm_90"
  std::string nvrtc_version;    // "13.0"
  std::string attnjit_version;  // attnjit::version()
  std::string source_sha256;    // SHA-256 hex of the rendered source and the templates it includes
  std::string spec_json;        // canonical JSON of the spec
  std::string options;          // NVRTC options, space separated
  std::vector<char> cubin;
  double compile_seconds = 0;
  std::int64_t created_at = 0;  // unix seconds; set by put_kernel when 0
};

struct KernelSummary {
  std::string key, name, arch, nvrtc_version, attnjit_version;
  std::size_t cubin_bytes = 0;
  double compile_seconds = 0;
  std::int64_t created_at = 0;
};

struct StoreStats {
  std::size_t kernels = 0;
  std::size_t cubin_bytes = 0;
  std::size_t tuned = 0;        // tuned winners, every environment's (0 in a version-1 file)
  std::size_t quarantined = 0;  // failed tuning candidates
  std::size_t file_bytes = 0;  // the database file (WAL excluded)
};

// The machine and software a measurement holds for (DESIGN.md "Two scopes of validity"): a tuned winner
// is used only where every field is the same. Separate columns, so that a mismatch can be explained.
struct Environment {
  std::string gpu_name;  // "NVIDIA H100 80GB HBM3"
  int sm_count = 0;
  std::string arch;            // "sm_90"
  std::string driver_version;  // "580.159.04"
  std::string nvrtc_version;   // "13.0"
  std::string attnjit_version;
  bool operator==(const Environment&) const = default;
  // What differs in `now`, one "field then -> now" per field ("driver 570.86 -> 580.159.04"); empty when equal.
  std::vector<std::string> differences(const Environment& now) const;
};

// A tuned winner: the config that ran fastest among the verified candidates for one kernel of one
// problem in one environment, with its figures and every candidate tried.
struct TunedRecord {
  std::string problem_key;  // canonical JSON of the problem
  std::string kernel_kind;  // "mta_fwd", "mta_bwd_input", ...
  Environment environment;
  std::string config_json;  // the winning config
  double median_us = 0, p20_us = 0, p80_us = 0;
  std::int64_t samples = 0;
  double heuristic_median_us = 0;  // the heuristic config, measured in the same rounds
  std::string candidates_json;     // every candidate: config, figures, or why it was dropped
  std::int64_t tuned_at = 0;       // unix seconds; set by put_tuned when 0
};

// A candidate that failed (did not compile, crashed, hung, gave a wrong result): never tried again in
// this environment.
struct QuarantineRecord {
  std::string kernel_name;  // the candidate's spec name (its config is part of it)
  Environment environment;
  std::string reason;  // "compile", "crash", "hang", "wrong result"
  std::string detail;  // the compiler log, the signal, the largest error...
  std::int64_t recorded_at = 0;
};

enum class OpenMode { read_write, read_only };

class Store {
 public:
  // $ATTNJIT_CACHE, else $XDG_CACHE_HOME/attnjit/attnjit.db, else $HOME/.cache/attnjit/attnjit.db.
  static std::string default_path();
  // `chosen` when the user named a path, else default_path().
  static std::string path_or_default(const std::string& chosen) { return chosen.empty() ? default_path() : chosen; }

  // Opens or creates (read_write creates missing folders). A file that is not a SQLite database, fails
  // its integrity check, or has an unknown schema (user_version newer than kSchemaVersion or tables
  // that are not ours) is renamed to "<path>.corrupt-<unix time>" and a fresh store is made; the
  // warning is printed to stderr and kept in warnings(). read_only never creates or renames: it
  // works as an empty store and warns instead. Throws Error{store} only when no store can be had at
  // all (for example an unwritable folder in read_write mode).
  Store(std::string path, OpenMode mode);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The record for key, with its cubin's SHA-256 checked; a mismatch deletes the row (read_write),
  // warns, and returns nullopt.
  std::optional<KernelRecord> find_kernel(const std::string& key);

  // For a deployment without NVRTC: the newest record with this name, arch, attnjit version and
  // source hash, whatever NVRTC version compiled it.
  std::optional<KernelRecord> find_kernel_compiled_elsewhere(const std::string& name, const std::string& arch,
                                                             const std::string& attnjit_version,
                                                             const std::string& source_sha256);

  // Insert-or-ignore inside BEGIN IMMEDIATE (racing writers of one key are harmless: compilation is
  // deterministic). Returns true if this call inserted the row. No-op returning false in read_only.
  bool put_kernel(const KernelRecord& record);

  // The tuning tables (cache/tuning.cpp). put_* replace the row with the same key (problem, kernel kind and
  // environment; kernel name and environment) and are no-ops returning false in read_only mode.
  bool put_tuned(const TunedRecord& record);
  // Every environment's winner for (problem_key, kernel_kind), newest first: the caller takes the one
  // whose environment is the current one, and can say why the others do not apply.
  std::vector<TunedRecord> find_tuned(const std::string& problem_key, const std::string& kernel_kind);
  bool put_quarantine(const QuarantineRecord& record);
  std::optional<QuarantineRecord> find_quarantine(const std::string& kernel_name, const Environment& environment);
  std::size_t clear_tuning();  // winners and quarantine; returns the rows removed

  std::vector<KernelSummary> list_kernels();
  StoreStats stats();
  std::size_t clear_kernels();  // returns the number of rows removed

  int schema_version();
  const std::string& path() const;
  const std::vector<std::string>& warnings() const;

  struct Impl;

 private:
  // Runs f on the connection under the store's lock; not at all when there is no database (a read-only
  // store that does not exist or is not usable).
  void locked(const std::function<void(const sqlite::Conn& conn, bool writable)>& f);

  std::unique_ptr<Impl> impl_;
};

}  // namespace attnjit::cache
