#include "cache/sqlite.hpp"

#include <fmt/format.h>

#include <chrono>

namespace attnjit::cache::sqlite {
namespace {

std::string advice(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: return "another process holds the store locked; retry later";
    case SQLITE_FULL: return "free disk space or run `attnjit cache clear`";
    case SQLITE_READONLY: case SQLITE_CANTOPEN: case SQLITE_PERM: case SQLITE_AUTH:
      return "check the permissions of the file and its folder, or set ATTNJIT_CACHE to a writable path";
    default: return "remove the file (it is only a cache) or set ATTNJIT_CACHE to another path";
  }
}

}  // namespace

std::string describe(Conn conn, int rc, std::string_view what) {
  return fmt::format("{} on store {}: {} (SQLite code {}); {}", what, conn.path,
                     conn.db != nullptr ? sqlite3_errmsg(conn.db) : sqlite3_errstr(rc), rc, advice(rc));
}

[[noreturn]] void fail(Conn conn, int rc, std::string_view what) {
  detail::raise(ErrorCode::store, describe(conn, rc, what));
}

// The project's check macro, instantiated for SQLite.
#define ATTNJIT_SQLITE_CHECK(conn, call, success, what) \
  ATTNJIT_CHECK_GEN(call, success, [&](int rc) { return describe(conn, rc, what); }, ErrorCode::store)

bool is_damage(int rc) { return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT; }

void exec(Conn conn, const char* sql) {
  ATTNJIT_SQLITE_CHECK(conn, sqlite3_exec(conn.db, sql, nullptr, nullptr, nullptr), SQLITE_OK, sql);
}

StmtPtr prepare(Conn conn, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;  // stays null when preparing fails
  ATTNJIT_SQLITE_CHECK(conn, sqlite3_prepare_v2(conn.db, sql.c_str(), -1, &raw, nullptr), SQLITE_OK, sql);
  return StmtPtr(raw);
}

bool step_row(Conn conn, sqlite3_stmt* stmt, std::string_view what) {
  const int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail(conn, rc, fmt::format("sqlite3_step of {}", what));
  return rc == SQLITE_ROW;
}

int bind(sqlite3_stmt* s, int i, std::string_view v) {
  return sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}
int bind(sqlite3_stmt* s, int i, Blob v) {  // an empty blob must stay a blob, not become NULL
  return v.bytes.empty() ? sqlite3_bind_zeroblob(s, i, 0)
                         : sqlite3_bind_blob64(s, i, v.bytes.data(), v.bytes.size(), SQLITE_STATIC);
}
int bind(sqlite3_stmt* s, int i, double v) { return sqlite3_bind_double(s, i, v); }
int bind(sqlite3_stmt* s, int i, std::int64_t v) { return sqlite3_bind_int64(s, i, v); }

std::string column_text(sqlite3_stmt* stmt, int i) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
  return text != nullptr ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, i))) : "";
}

std::int64_t query_int(Conn conn, const std::string& sql) {
  StmtPtr stmt = prepare(conn, sql);
  return step_row(conn, stmt.get(), sql) ? sqlite3_column_int64(stmt.get(), 0) : 0;
}

std::int64_t unix_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

DbPtr open_connection(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DbPtr db(raw);  // sqlite3_open_v2 allocates a handle even when it fails
  if (rc != SQLITE_OK) fail({db.get(), path}, rc, "sqlite3_open_v2");
  sqlite3_extended_result_codes(db.get(), 1);
  const Conn conn{db.get(), path};
  ATTNJIT_SQLITE_CHECK(conn, sqlite3_busy_timeout(db.get(), kBusyTimeoutMs), SQLITE_OK, "busy_timeout");
  return db;
}

bool has_table(Conn conn, const char* table, const char* columns) {
  const std::string sql = std::string("SELECT ") + columns + " FROM " + table;
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(conn.db, sql.c_str(), -1, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK && rc != SQLITE_ERROR) fail(conn, rc, std::string("looking for the table ") + table);
  return rc == SQLITE_OK;
}

}  // namespace attnjit::cache::sqlite
