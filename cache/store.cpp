// The SQLite store (DESIGN.md "SQLite is the one store"). Opening inspects the file in one read
// transaction (quick_check, user_version, tables) so that a schema another process commits meanwhile is
// seen whole or not at all; a file that is not ours is renamed aside and a fresh one made.
#include "cache/store.hpp"

#include <fmt/format.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <span>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "cache/sqlite.hpp"
#include "cache/tuning_schema.hpp"
#include "generator/sha256.hpp"
#include "runtime/error.hpp"
#include "runtime/log.hpp"

namespace attnjit::cache {
namespace {

namespace fs = std::filesystem;
using namespace sqlite;

constexpr int kOpenAttempts = 3;       // set aside at most this many bad files per open
constexpr int kInUseWaitMs = 500;      // our own racing openers hold a bad file for milliseconds

// Every field is a column, so that a miss can be explained field by field. Schema 1 is the kernels table;
// schema 2 adds the tuning tables (cache/tuning.cpp), and a version-1 file is migrated in place.
constexpr const char* kCreateKernels = R"sql(
CREATE TABLE IF NOT EXISTS kernels (
  key TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, lowered_name TEXT NOT NULL, arch TEXT NOT NULL,
  nvrtc_version TEXT NOT NULL, attnjit_version TEXT NOT NULL, source_sha256 TEXT NOT NULL,
  spec_json TEXT NOT NULL, options TEXT NOT NULL, cubin BLOB NOT NULL, cubin_sha256 TEXT NOT NULL,
  compile_seconds REAL NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS kernels_by_spec ON kernels (name, arch, attnjit_version, source_sha256);)sql";
constexpr const char* kColumns =
    "key, name, lowered_name, arch, nvrtc_version, attnjit_version, source_sha256, spec_json, options, "
    "cubin, cubin_sha256, compile_seconds, created_at";



std::optional<std::string> quick_check_problem(Conn conn) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(conn.db, "PRAGMA quick_check", -1, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc == SQLITE_OK) rc = sqlite3_step(stmt.get());
  if (is_damage(rc)) return fmt::format("it is not a usable SQLite database ({})", sqlite3_errmsg(conn.db));
  if (rc != SQLITE_ROW) fail(conn, rc, "PRAGMA quick_check");
  std::string result = column_text(stmt.get(), 0);
  return result == "ok" ? std::nullopt : std::optional("PRAGMA quick_check reported: " + result);
}


// nullopt for a store of ours or an empty file; otherwise why the file is not ours.
std::optional<std::string> schema_problem(Conn conn) {
  const std::int64_t version = query_int(conn, "PRAGMA user_version");
  if (version > kSchemaVersion) {
    return fmt::format("its schema version {} is newer than this attnjit's {}", version, kSchemaVersion);
  }
  if (version == 1 || version == kSchemaVersion) {  // 1: migrated when opened for writing
    if (!has_table(conn, "kernels", kColumns)) {
      return fmt::format("it has schema version {} but no kernels table with attnjit's columns", version);
    }
    if (version == kSchemaVersion && !has_tuning_tables(conn)) {
      return fmt::format("it has schema version {} but not the tuning tables with attnjit's columns", version);
    }
    return std::nullopt;
  }
  StmtPtr stmt = prepare(conn, "SELECT group_concat(name, ', ') FROM sqlite_master WHERE type = 'table' "
                               "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'");
  step_row(conn, stmt.get(), "listing tables");
  std::string tables = column_text(stmt.get(), 0);
  if (version == 0 && tables.empty()) return std::nullopt;
  return fmt::format("it has schema version {} and tables attnjit did not make ({})", version, tables);
}

std::optional<std::string> find_problem(Conn conn) {
  Transaction read(conn, "BEGIN");  // one snapshot for all three checks
  if (auto problem = quick_check_problem(conn)) return problem;
  auto problem = schema_problem(conn);
  read.commit();
  return problem;
}

// Inside BEGIN IMMEDIATE: of two processes creating (or migrating) one file, one does it and the other finds
// it done.
std::optional<std::string> create_schema(Conn conn) {
  Transaction write(conn, "BEGIN IMMEDIATE");
  auto problem = schema_problem(conn);  // the file may have changed since find_problem
  const std::int64_t version = problem ? -1 : query_int(conn, "PRAGMA user_version");
  if (version == 0) exec(conn, kCreateKernels);
  if (version == 0 || version == 1) {
    create_tuning_tables(conn);
    exec(conn, fmt::format("PRAGMA user_version = {}", kSchemaVersion).c_str());
  }
  write.commit();
  return problem;
}

// A row selected as kColumns: the record and its stored cubin SHA-256.
std::pair<KernelRecord, std::string> read_record(sqlite3_stmt* stmt) {
  KernelRecord r;
  int column = 0;
  for (std::string* text : {&r.key, &r.name, &r.lowered_name, &r.arch, &r.nvrtc_version, &r.attnjit_version,
                            &r.source_sha256, &r.spec_json, &r.options}) {
    *text = column_text(stmt, column++);
  }
  const auto* cubin = static_cast<const char*>(sqlite3_column_blob(stmt, 9));  // before its size, as SQLite asks
  r.cubin.assign(cubin, cubin + sqlite3_column_bytes(stmt, 9));
  r.compile_seconds = sqlite3_column_double(stmt, 11);
  r.created_at = sqlite3_column_int64(stmt, 12);
  return {std::move(r), column_text(stmt, 10)};
}

// Leaving rollback mode takes an exclusive lock, and SQLite answers SQLITE_BUSY at once, without waiting,
// when two connections that both read the file want it (seen with 4 processes opening one new file): retry.
std::string set_journal_mode_wal(Conn conn) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  for (;;) {
    StmtPtr stmt = prepare(conn, "PRAGMA journal_mode = WAL");
    const int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_ROW) return column_text(stmt.get(), 0);
    if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() > deadline) {
      fail(conn, rc, "PRAGMA journal_mode = WAL");
    }
    stmt.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

using FileId = std::pair<dev_t, ino_t>;

std::optional<FileId> file_identity(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return std::nullopt;
  return std::pair{info.st_dev, info.st_ino};
}

// Another process that has the file open: SQLite's unix VFS read-locks these bytes while a connection reads,
// and for as long as a connection is open in WAL mode (sqlite3.c: PENDING_BYTE 0x40000000, SHARED_FIRST
// +2, SHARED_SIZE 510). Renaming a database in use corrupts it: its last closer would delete "<path>-wal",
// by then the fresh store's. (Closing our probe fd drops this process's own POSIX locks on the file;
// acceptable for a file about to be set aside.)
std::optional<pid_t> process_using(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = 0x40000000 + 2;
  probe.l_len = 510;
  const int rc = ::fcntl(fd, F_GETLK, &probe);
  ::close(fd);
  return rc == 0 && probe.l_type != F_UNLCK ? std::optional(probe.l_pid) : std::nullopt;
}

std::optional<pid_t> wait_until_unused(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kInUseWaitMs);
  std::optional<pid_t> user = process_using(path);
  for (; user && std::chrono::steady_clock::now() < deadline; user = process_using(path)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return user;
}

// Renames path, with any -wal, -shm and -journal left over (SQLite would replay a stale WAL or journal into
// the fresh store), to "<path>.corrupt-<unix seconds>"; returns the new name.
std::string rename_aside(const std::string& path, std::error_code& error) {
  const std::string stem = fmt::format("{}.corrupt-{}", path, unix_now());
  std::string aside = stem;
  for (int n = 2; fs::exists(aside, error); ++n) aside = fmt::format("{}-{}", stem, n);
  fs::rename(path, aside, error);
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    std::error_code moved;
    if (error || !fs::exists(path + suffix, moved)) continue;
    fs::rename(path + suffix, aside + suffix, moved);
    if (moved) fs::remove(path + suffix, error);
  }
  return aside;
}

// flock on the store's folder: shared while opening, exclusive while setting a file aside. Setting aside is
// check-then-rename; of two processes that found one bad file, the second must not rename the fresh store
// the first made meanwhile. Best effort: a folder that cannot be locked is used without.
class FolderLock {
 public:
  FolderLock(const fs::path& folder, int operation)
      : fd_(::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (fd_ >= 0) ::flock(fd_, operation);
  }
  ~FolderLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_;
};

}  // namespace

struct Store::Impl {
  std::string path_;
  OpenMode mode_;
  DbPtr db_;
  std::vector<std::string> warnings_;
  std::mutex mutex_;  // one transaction at a time on the connection

  Conn conn() const { return {db_.get(), path_}; }

  void warn(std::string message) {
    detail::log_warning(message);
    warnings_.push_back(std::move(message));
  }

  void open_read_write() {
    const fs::path folder = fs::path(path_).parent_path();
    std::error_code error;
    if (!folder.empty()) fs::create_directories(folder, error);
    if (error) {
      detail::raise(ErrorCode::store, fmt::format("store {}: cannot create the folder {}: {}; set ATTNJIT_CACHE to a "
                                                  "writable path", path_, folder.string(), error.message()));
    }
    for (int attempt = 0; attempt < kOpenAttempts; ++attempt) {
      std::optional<FileId> identity;
      const auto problem = try_open(identity);
      if (!problem) return;
      set_aside(*problem, identity);
    }
    detail::raise(ErrorCode::store, fmt::format("store {}: still unusable after setting aside {} files; remove it "
                                                "or set ATTNJIT_CACHE to another path", path_, kOpenAttempts));
  }

  // Opens the file and makes it a store, or closes it and says why it is not ours. Under a shared lock on the
  // folder, so no process sets the file aside meanwhile: SQLite names a connection's -wal, -shm and -journal
  // by path, and after a rename they would be the fresh store's.
  std::optional<std::string> try_open(std::optional<FileId>& identity) {
    const FolderLock opening(fs::path(path_).parent_path(), LOCK_SH);
    db_ = open_connection(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    identity = file_identity(path_);
    auto problem = find_problem(conn());
    if (!problem) {
      use_wal();
      problem = create_schema(conn());
    }
    if (problem) db_.reset();
    return problem;
  }

  void use_wal() {  // WAL: readers never block the writer; NORMAL sync is durable enough for a cache
    if (std::string mode = set_journal_mode_wal(conn()); mode != "wal") {
      warn(fmt::format("store {}: journal mode is {}, not wal (the filesystem may not support it); writers will "
                       "block readers", path_, mode));
    }
    exec(conn(), "PRAGMA synchronous = NORMAL");
  }

  // Renames the file, with any -wal, -shm and -journal left over, to "<path>.corrupt-<unix seconds>", unless
  // another process already replaced it since we inspected it (identity changed: the next attempt looks
  // again) or still has it open (throws).
  void set_aside(const std::string& reason, const std::optional<FileId>& inspected) {
    const FolderLock lock(fs::path(path_).parent_path(), LOCK_EX);  // waits for every opener to finish
    const auto current = file_identity(path_);
    if (!inspected || !current || *inspected != *current) return;
    if (const auto user = wait_until_unused(path_)) {
      detail::raise(ErrorCode::store, fmt::format("store {}: {}, but process {} has it open, and renaming a database "
                                                  "in use would corrupt it; stop that process or set ATTNJIT_CACHE "
                                                  "to another path", path_, reason, *user));
    }
    std::error_code error;
    const std::string aside = rename_aside(path_, error);
    if (error) {
      detail::raise(ErrorCode::store, fmt::format("store {}: {}, and it cannot be set aside: {}; remove or rename "
                                                  "it, or set ATTNJIT_CACHE to another path", path_, reason,
                                                  error.message()));
    }
    warn(fmt::format("store {}: {}; set it aside as {} and made a fresh store", path_, reason, aside));
  }

  void open_read_only() {
    if (!fs::exists(path_)) {
      warn(fmt::format("store {} does not exist; read-only mode works as an empty store", path_));
      return;
    }
    try {
      const FolderLock opening(fs::path(path_).parent_path(), LOCK_SH);  // as in try_open
      db_ = open_connection(path_, SQLITE_OPEN_READONLY);
      auto problem = find_problem(conn());
      if (!problem && query_int(conn(), "PRAGMA user_version") == 0) problem = "it has no kernels table yet";
      if (!problem) return;
      warn(fmt::format("store {}: {}; read-only mode leaves it in place and works as an empty store", path_,
                       *problem));
    } catch (const Error& error) {
      warn(fmt::format("{}; read-only mode works as an empty store", error.what()));
    }
    db_.reset();
  }

  // The stored record if its cubin still has the stored SHA-256; otherwise warn, delete it (read_write).
  std::optional<KernelRecord> verified(StmtPtr stmt, std::string_view what) {
    if (!step_row(conn(), stmt.get(), what)) return std::nullopt;
    auto [r, stored] = read_record(stmt.get());
    stmt.reset();  // end the read before a delete
    const std::string actual = sha256_hex({r.cubin.data(), r.cubin.size()});
    if (actual == stored) return r;
    const bool remove = mode_ == OpenMode::read_write;
    if (remove) {
      Transaction write(conn(), "BEGIN IMMEDIATE");
      StmtPtr remove_row = statement(conn(), "DELETE FROM kernels WHERE key = ?1", r.key);
      step_row(conn(), remove_row.get(), fmt::format("deleting kernel {} with a bad cubin", r.key));
      remove_row.reset();
      write.commit();
    }
    warn(fmt::format("store {}: kernel {} ({}) has a cubin with SHA-256 {}, not the stored {}; {}", path_, r.key,
                     r.name, actual, stored, remove ? "deleted it" : "ignored it (read-only)"));
    return std::nullopt;
  }
};

std::string Store::default_path() {
  const auto env = [](const char* name) -> std::string {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
  };
  if (std::string path = env("ATTNJIT_CACHE"); !path.empty()) return path;
  if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty() && xdg.front() == '/') {  // XDG: relative is invalid
    return (fs::path(xdg) / "attnjit" / "attnjit.db").string();
  }
  if (std::string home = env("HOME"); !home.empty()) {
    return (fs::path(home) / ".cache" / "attnjit" / "attnjit.db").string();
  }
  detail::raise(ErrorCode::store, "no store location: none of ATTNJIT_CACHE, XDG_CACHE_HOME and HOME is set; set "
                                  "ATTNJIT_CACHE to a file path");
}

Store::Store(std::string path, OpenMode mode) : impl_(std::make_unique<Impl>()) {
  impl_->path_ = std::move(path);
  impl_->mode_ = mode;
  if (mode == OpenMode::read_write) {
    impl_->open_read_write();
  } else {
    impl_->open_read_only();
  }
}

Store::~Store() = default;

std::optional<KernelRecord> Store::find_kernel(const std::string& key) {
  std::lock_guard lock(impl_->mutex_);
  if (!impl_->db_) return std::nullopt;
  const std::string sql = fmt::format("SELECT {} FROM kernels WHERE key = ?1", kColumns);
  return impl_->verified(statement(impl_->conn(), sql, key), fmt::format("find_kernel(key={})", key));
}

std::optional<KernelRecord> Store::find_kernel_compiled_elsewhere(const std::string& name, const std::string& arch,
                                                                  const std::string& attnjit_version,
                                                                  const std::string& source_sha256) {
  std::lock_guard lock(impl_->mutex_);
  if (!impl_->db_) return std::nullopt;
  const std::string what = fmt::format("find_kernel_compiled_elsewhere(name={}, arch={}, attnjit_version={}, "
                                       "source_sha256={})", name, arch, attnjit_version, source_sha256);
  const std::string sql = fmt::format("SELECT {} FROM kernels WHERE name = ?1 AND arch = ?2 AND attnjit_version = ?3"
                                      " AND source_sha256 = ?4 ORDER BY created_at DESC, key DESC LIMIT 1", kColumns);
  return impl_->verified(statement(impl_->conn(), sql, name, arch, attnjit_version, source_sha256), what);
}

bool Store::put_kernel(const KernelRecord& r) {
  std::lock_guard lock(impl_->mutex_);
  if (!impl_->db_ || impl_->mode_ == OpenMode::read_only) return false;
  const Conn conn = impl_->conn();
  const std::string cubin_sha256 = sha256_hex({r.cubin.data(), r.cubin.size()});
  const std::int64_t created_at = r.created_at != 0 ? r.created_at : unix_now();
  const std::string sql = fmt::format("INSERT OR IGNORE INTO kernels ({}) VALUES "
                                      "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)", kColumns);
  Transaction write(conn, "BEGIN IMMEDIATE");
  StmtPtr stmt = statement(conn, sql, r.key, r.name, r.lowered_name, r.arch, r.nvrtc_version, r.attnjit_version,
                           r.source_sha256, r.spec_json, r.options, Blob{r.cubin}, cubin_sha256,
                           r.compile_seconds, created_at);
  step_row(conn, stmt.get(), fmt::format("put_kernel(key={}, name={})", r.key, r.name));
  const bool inserted = sqlite3_changes(conn.db) > 0;
  stmt.reset();
  write.commit();
  return inserted;
}

std::vector<KernelSummary> Store::list_kernels() {
  std::lock_guard lock(impl_->mutex_);
  std::vector<KernelSummary> kernels;
  if (!impl_->db_) return kernels;
  StmtPtr stmt = prepare(impl_->conn(), "SELECT key, name, arch, nvrtc_version, attnjit_version, length(cubin), "
                                        "compile_seconds, created_at FROM kernels ORDER BY name, key");
  while (step_row(impl_->conn(), stmt.get(), "list_kernels")) {
    sqlite3_stmt* s = stmt.get();
    kernels.push_back({column_text(s, 0), column_text(s, 1), column_text(s, 2), column_text(s, 3),
                       column_text(s, 4), static_cast<std::size_t>(sqlite3_column_int64(s, 5)),
                       sqlite3_column_double(s, 6), sqlite3_column_int64(s, 7)});
  }
  return kernels;
}

StoreStats Store::stats() {
  std::lock_guard lock(impl_->mutex_);
  StoreStats stats;
  std::error_code error;
  const auto file_bytes = fs::file_size(impl_->path_, error);
  stats.file_bytes = error ? 0 : static_cast<std::size_t>(file_bytes);
  if (!impl_->db_) return stats;
  StmtPtr stmt = prepare(impl_->conn(), "SELECT count(*), coalesce(sum(length(cubin)), 0) FROM kernels");
  step_row(impl_->conn(), stmt.get(), "stats");
  stats.kernels = static_cast<std::size_t>(sqlite3_column_int64(stmt.get(), 0));
  stats.cubin_bytes = static_cast<std::size_t>(sqlite3_column_int64(stmt.get(), 1));
  StmtPtr tables = prepare(impl_->conn(), "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tuned'");
  step_row(impl_->conn(), tables.get(), "stats");
  if (sqlite3_column_int64(tables.get(), 0) > 0) {  // schema 2 (a version-1 file read-only has no tuning tables)
    StmtPtr tuning = prepare(impl_->conn(), "SELECT (SELECT count(*) FROM tuned), (SELECT count(*) FROM quarantine)");
    step_row(impl_->conn(), tuning.get(), "stats");
    stats.tuned = static_cast<std::size_t>(sqlite3_column_int64(tuning.get(), 0));
    stats.quarantined = static_cast<std::size_t>(sqlite3_column_int64(tuning.get(), 1));
  }
  return stats;
}

std::size_t Store::clear_kernels() {
  std::lock_guard lock(impl_->mutex_);
  if (!impl_->db_ || impl_->mode_ == OpenMode::read_only) return 0;
  Transaction write(impl_->conn(), "BEGIN IMMEDIATE");
  exec(impl_->conn(), "DELETE FROM kernels");
  const auto removed = static_cast<std::size_t>(sqlite3_changes(impl_->db_.get()));
  write.commit();
  return removed;
}

void Store::locked(const std::function<void(const sqlite::Conn&, bool writable)>& f) {
  std::lock_guard lock(impl_->mutex_);
  if (impl_->db_) f(impl_->conn(), impl_->mode_ == OpenMode::read_write);
}

int Store::schema_version() {
  std::lock_guard lock(impl_->mutex_);
  return impl_->db_ ? static_cast<int>(query_int(impl_->conn(), "PRAGMA user_version")) : 0;
}

const std::string& Store::path() const { return impl_->path_; }

const std::vector<std::string>& Store::warnings() const { return impl_->warnings_; }

}  // namespace attnjit::cache
