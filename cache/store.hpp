// The SQLite store (DESIGN.md "SQLite is the one store"): compiled kernels keyed by SHA-256.
// WAL, busy_timeout, writes in BEGIN IMMEDIATE, schema version in PRAGMA user_version, a SHA-256 per
// blob checked on read. A corrupt or foreign file is set aside (renamed) with a warning, never trusted
// and never fatal. Safe to share between processes on one machine (not over NFS: use export/import).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attnjit::cache {

inline constexpr int kSchemaVersion = 1;

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
  std::size_t file_bytes = 0;  // the database file (WAL excluded)
};

enum class OpenMode { read_write, read_only };

class Store {
 public:
  // $ATTNJIT_CACHE, else $XDG_CACHE_HOME/attnjit/attnjit.db, else $HOME/.cache/attnjit/attnjit.db.
  static std::string default_path();

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

  std::vector<KernelSummary> list_kernels();
  StoreStats stats();
  std::size_t clear_kernels();  // returns the number of rows removed

  int schema_version();
  const std::string& path() const;
  const std::vector<std::string>& warnings() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace attnjit::cache
