// Thin RAII and error helpers over the SQLite C API, shared by the store's files (cache/store.cpp: the
// file and the kernels; cache/tuning.cpp: the tuning tables). Every failure throws Error{store} with the
// store's path, SQLite's message and what to do.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "runtime/error.hpp"

namespace attnjit::cache::sqlite {

struct CloseDb { void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); } };
struct FinalizeStmt { void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); } };
using DbPtr = std::unique_ptr<sqlite3, CloseDb>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, FinalizeStmt>;

struct Conn {  // a connection and the path it is named by in messages
  sqlite3* db;
  std::string_view path;
};

constexpr int kBusyTimeoutMs = 10000;  // outlasts any single writer's transaction by far

std::string describe(Conn conn, int rc, std::string_view what);
[[noreturn]] void fail(Conn conn, int rc, std::string_view what);
bool is_damage(int rc);
void exec(Conn conn, const char* sql);
StmtPtr prepare(Conn conn, const std::string& sql);
bool step_row(Conn conn, sqlite3_stmt* stmt, std::string_view what);
std::string column_text(sqlite3_stmt* stmt, int i);
std::int64_t query_int(Conn conn, const std::string& sql);
std::int64_t unix_now();
DbPtr open_connection(const std::string& path, int flags);
bool has_table(Conn conn, const char* table, const char* columns);  // with every one of these columns

struct Blob {  // bytes bound as a BLOB (text binds as TEXT)
  std::span<const char> bytes;
};
int bind(sqlite3_stmt* s, int i, std::string_view v);
int bind(sqlite3_stmt* s, int i, Blob v);
int bind(sqlite3_stmt* s, int i, double v);
int bind(sqlite3_stmt* s, int i, std::int64_t v);

// sql prepared with values bound to ?1, ?2, ... (SQLITE_STATIC: the values must outlive the statement's use).
template <class... Values>
StmtPtr statement(Conn conn, const std::string& sql, const Values&... values) {
  StmtPtr stmt = prepare(conn, sql);
  int index = 0;
  const auto check = [&](int rc) {
    if (rc != SQLITE_OK) fail(conn, rc, "binding parameter " + std::to_string(index) + " of " + sql);
  };
  (check(sqlite::bind(stmt.get(), ++index, values)), ...);  // qualified: no ADL to std::bind
  return stmt;
}

// BEGIN on construction, ROLLBACK on destruction unless committed. Never throws from the destructor.
class Transaction {
 public:
  Transaction(Conn conn, const char* begin) : conn_(conn) { exec(conn_, begin); }
  ~Transaction() {
    if (!committed_ && sqlite3_get_autocommit(conn_.db) == 0) {
      sqlite3_exec(conn_.db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() { exec(conn_, "COMMIT"); committed_ = true; }

 private:
  Conn conn_;
  bool committed_ = false;
};

}  // namespace attnjit::cache::sqlite
