// The store's tuning tables (schema 2): tuned winners keyed by problem, kernel kind and environment, and
// the quarantine of candidates that failed. The environment is six columns, not one string, so that a
// winner that does not apply can be explained field by field ("tuned under driver 570, now 580").
#include <fmt/format.h>

#include "cache/sqlite.hpp"
#include "cache/store.hpp"
#include "cache/tuning_schema.hpp"

namespace attnjit::cache {
namespace {

using namespace sqlite;

constexpr const char* kEnvironmentColumns = "gpu_name, sm_count, arch, driver_version, nvrtc_version, attnjit_version";
constexpr const char* kTunedColumns =
    "problem_key, kernel_kind, gpu_name, sm_count, arch, driver_version, nvrtc_version, attnjit_version, "
    "config_json, median_us, p20_us, p80_us, samples, heuristic_median_us, candidates_json, tuned_at";
constexpr const char* kQuarantineColumns =
    "kernel_name, gpu_name, sm_count, arch, driver_version, nvrtc_version, attnjit_version, reason, detail, "
    "recorded_at";

constexpr const char* kCreateTuning = R"sql(
CREATE TABLE IF NOT EXISTS tuned (
  problem_key TEXT NOT NULL, kernel_kind TEXT NOT NULL,
  gpu_name TEXT NOT NULL, sm_count INTEGER NOT NULL, arch TEXT NOT NULL, driver_version TEXT NOT NULL,
  nvrtc_version TEXT NOT NULL, attnjit_version TEXT NOT NULL,
  config_json TEXT NOT NULL, median_us REAL NOT NULL, p20_us REAL NOT NULL, p80_us REAL NOT NULL,
  samples INTEGER NOT NULL, heuristic_median_us REAL NOT NULL, candidates_json TEXT NOT NULL,
  tuned_at INTEGER NOT NULL,
  PRIMARY KEY (problem_key, kernel_kind, gpu_name, sm_count, arch, driver_version, nvrtc_version, attnjit_version));
CREATE TABLE IF NOT EXISTS quarantine (
  kernel_name TEXT NOT NULL,
  gpu_name TEXT NOT NULL, sm_count INTEGER NOT NULL, arch TEXT NOT NULL, driver_version TEXT NOT NULL,
  nvrtc_version TEXT NOT NULL, attnjit_version TEXT NOT NULL,
  reason TEXT NOT NULL, detail TEXT NOT NULL, recorded_at INTEGER NOT NULL,
  PRIMARY KEY (kernel_name, gpu_name, sm_count, arch, driver_version, nvrtc_version, attnjit_version));)sql";

// Reads the six environment columns starting at column `first`.
Environment read_environment(sqlite3_stmt* s, int first) {
  return {column_text(s, first), static_cast<int>(sqlite3_column_int64(s, first + 1)), column_text(s, first + 2),
          column_text(s, first + 3), column_text(s, first + 4), column_text(s, first + 5)};
}

}  // namespace

void create_tuning_tables(Conn conn) { exec(conn, kCreateTuning); }

bool has_tuning_tables(Conn conn) {
  return has_table(conn, "tuned", kTunedColumns) && has_table(conn, "quarantine", kQuarantineColumns);
}

std::vector<std::string> Environment::differences(const Environment& now) const {
  std::vector<std::string> out;
  const auto differ = [&](const char* what, const std::string& then, const std::string& current) {
    if (then != current) out.push_back(fmt::format("{} {} -> {}", what, then, current));
  };
  differ("GPU", gpu_name, now.gpu_name);
  differ("SM count", std::to_string(sm_count), std::to_string(now.sm_count));
  differ("arch", arch, now.arch);
  differ("driver", driver_version, now.driver_version);
  differ("NVRTC", nvrtc_version, now.nvrtc_version);
  differ("attnjit", attnjit_version, now.attnjit_version);
  return out;
}

bool Store::put_tuned(const TunedRecord& r) {
  bool inserted = false;
  locked([&](const Conn& conn, bool writable) {
    if (!writable || !has_tuning_tables(conn)) return;
    const Environment& e = r.environment;
    const std::int64_t tuned_at = r.tuned_at != 0 ? r.tuned_at : unix_now();
    const std::string sql = fmt::format("INSERT OR REPLACE INTO tuned ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                                        "?10, ?11, ?12, ?13, ?14, ?15, ?16)", kTunedColumns);
    Transaction write(conn, "BEGIN IMMEDIATE");
    StmtPtr stmt = statement(conn, sql, r.problem_key, r.kernel_kind, e.gpu_name, std::int64_t{e.sm_count}, e.arch,
                             e.driver_version, e.nvrtc_version, e.attnjit_version, r.config_json, r.median_us,
                             r.p20_us, r.p80_us, r.samples, r.heuristic_median_us, r.candidates_json, tuned_at);
    step_row(conn, stmt.get(), fmt::format("put_tuned({}, {})", r.kernel_kind, r.problem_key));
    inserted = sqlite3_changes(conn.db) > 0;
    stmt.reset();
    write.commit();
  });
  return inserted;
}

std::vector<TunedRecord> Store::find_tuned(const std::string& problem_key, const std::string& kernel_kind) {
  std::vector<TunedRecord> found;
  locked([&](const Conn& conn, bool) {
    if (!has_tuning_tables(conn)) return;  // a version-1 store opened read-only
    const std::string sql = fmt::format("SELECT {} FROM tuned WHERE problem_key = ?1 AND kernel_kind = ?2 "
                                        "ORDER BY tuned_at DESC, {}", kTunedColumns, kEnvironmentColumns);
    StmtPtr stmt = statement(conn, sql, problem_key, kernel_kind);
    while (step_row(conn, stmt.get(), "find_tuned")) {
      sqlite3_stmt* s = stmt.get();
      TunedRecord r;
      r.problem_key = column_text(s, 0);
      r.kernel_kind = column_text(s, 1);
      r.environment = read_environment(s, 2);
      r.config_json = column_text(s, 8);
      r.median_us = sqlite3_column_double(s, 9);
      r.p20_us = sqlite3_column_double(s, 10);
      r.p80_us = sqlite3_column_double(s, 11);
      r.samples = sqlite3_column_int64(s, 12);
      r.heuristic_median_us = sqlite3_column_double(s, 13);
      r.candidates_json = column_text(s, 14);
      r.tuned_at = sqlite3_column_int64(s, 15);
      found.push_back(std::move(r));
    }
  });
  return found;
}

bool Store::put_quarantine(const QuarantineRecord& r) {
  bool inserted = false;
  locked([&](const Conn& conn, bool writable) {
    if (!writable || !has_tuning_tables(conn)) return;
    const Environment& e = r.environment;
    const std::int64_t recorded_at = r.recorded_at != 0 ? r.recorded_at : unix_now();
    const std::string sql = fmt::format("INSERT OR REPLACE INTO quarantine ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                                        "?9, ?10)", kQuarantineColumns);
    Transaction write(conn, "BEGIN IMMEDIATE");
    StmtPtr stmt = statement(conn, sql, r.kernel_name, e.gpu_name, std::int64_t{e.sm_count}, e.arch, e.driver_version,
                             e.nvrtc_version, e.attnjit_version, r.reason, r.detail, recorded_at);
    step_row(conn, stmt.get(), fmt::format("put_quarantine({})", r.kernel_name));
    inserted = sqlite3_changes(conn.db) > 0;
    stmt.reset();
    write.commit();
  });
  return inserted;
}

std::optional<QuarantineRecord> Store::find_quarantine(const std::string& kernel_name, const Environment& e) {
  std::optional<QuarantineRecord> found;
  locked([&](const Conn& conn, bool) {
    if (!has_tuning_tables(conn)) return;
    const std::string sql = fmt::format("SELECT {} FROM quarantine WHERE kernel_name = ?1 AND gpu_name = ?2 AND "
                                        "sm_count = ?3 AND arch = ?4 AND driver_version = ?5 AND nvrtc_version = ?6 "
                                        "AND attnjit_version = ?7", kQuarantineColumns);
    StmtPtr stmt = statement(conn, sql, kernel_name, e.gpu_name, std::int64_t{e.sm_count}, e.arch, e.driver_version,
                             e.nvrtc_version, e.attnjit_version);
    if (!step_row(conn, stmt.get(), "find_quarantine")) return;
    sqlite3_stmt* s = stmt.get();
    found = QuarantineRecord{column_text(s, 0), read_environment(s, 1), column_text(s, 7), column_text(s, 8),
                             sqlite3_column_int64(s, 9)};
  });
  return found;
}

std::size_t Store::clear_tuning() {
  std::size_t removed = 0;
  locked([&](const Conn& conn, bool writable) {
    if (!writable || !has_tuning_tables(conn)) return;
    Transaction write(conn, "BEGIN IMMEDIATE");
    exec(conn, "DELETE FROM tuned");
    removed += static_cast<std::size_t>(sqlite3_changes(conn.db));
    exec(conn, "DELETE FROM quarantine");
    removed += static_cast<std::size_t>(sqlite3_changes(conn.db));
    write.commit();
  });
  return removed;
}

}  // namespace attnjit::cache
