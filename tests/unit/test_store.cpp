// The SQLite store: round trips, setting aside files that are not ours, checksums, read-only mode and
// several processes writing one new file at once.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "cache/store.hpp"
#include "generator/sha256.hpp"

namespace {

namespace fs = std::filesystem;
using attnjit::cache::Environment;
using attnjit::cache::KernelRecord;
using attnjit::cache::OpenMode;
using attnjit::cache::QuarantineRecord;
using attnjit::cache::Store;
using attnjit::cache::TunedRecord;

// A fresh folder under the system temp folder, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
    path = fs::temp_directory_path() /
           ("attnjit-test-store-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
            std::to_string(ticks));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path, error);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// A raw SQLite connection, to prepare files and tamper with a store behind its back.
struct RawDb {
  sqlite3* db = nullptr;
  explicit RawDb(const std::string& path) { REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK); }
  ~RawDb() { sqlite3_close_v2(db); }
  void exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    INFO(sql << ": " << (message != nullptr ? message : ""));
    sqlite3_free(message);
    REQUIRE(rc == SQLITE_OK);
  }
  std::string text(const std::string& sql) {  // the first column of the first row
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::string result;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return result;
  }
};

std::vector<char> bytes_for(const std::string& seed, std::size_t size = 300) {  // includes 0 and 0xff bytes
  std::vector<char> bytes(size);
  std::mt19937 random(static_cast<unsigned>(std::hash<std::string>{}(seed)));
  for (auto& byte : bytes) byte = static_cast<char>(random() & 0xff);
  bytes[0] = '\0';
  bytes[1] = static_cast<char>(0xff);
  return bytes;
}

KernelRecord make_record(const std::string& key, const std::string& name = "mta_fwd_f32_L64_K3") {
  KernelRecord r;
  r.key = key;
  r.name = name;
  r.lowered_name = "_Z10mta_fwd_" + key;
  r.arch = "sm_90";
  r.nvrtc_version = "13.0";
  r.attnjit_version = "0.1.0";
  r.source_sha256 = attnjit::sha256_hex("source of " + name);
  r.spec_json = R"({"name":")" + name + R"(","op":"mta"})";
  r.options = "--std=c++17 -arch=sm_90";
  r.cubin = bytes_for(key);
  r.compile_seconds = 0.25;
  r.created_at = 1700000000;
  return r;
}

void check_same(const KernelRecord& a, const KernelRecord& b) {
  CHECK(a.key == b.key);
  CHECK(a.name == b.name);
  CHECK(a.lowered_name == b.lowered_name);
  CHECK(a.arch == b.arch);
  CHECK(a.nvrtc_version == b.nvrtc_version);
  CHECK(a.attnjit_version == b.attnjit_version);
  CHECK(a.source_sha256 == b.source_sha256);
  CHECK(a.spec_json == b.spec_json);
  CHECK(a.options == b.options);
  CHECK(a.cubin == b.cubin);
  CHECK(a.compile_seconds == b.compile_seconds);
  CHECK(a.created_at == b.created_at);
}

std::vector<fs::path> set_aside_files(const fs::path& folder, const std::string& name) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind(name + ".corrupt-", 0) == 0 && file.find("-wal") == std::string::npos &&
        file.find("-shm") == std::string::npos) {
      found.push_back(entry.path());
    }
  }
  return found;
}

// A store made from a bad file: it was set aside with a warning, and the new store works.
void check_set_aside_and_usable(const TempDir& dir, Store& store) {
  CHECK(set_aside_files(dir.path, "attnjit.db").size() == 1);
  REQUIRE_FALSE(store.warnings().empty());
  CHECK(store.warnings().front().find(".corrupt-") != std::string::npos);
  CHECK(store.schema_version() == attnjit::cache::kSchemaVersion);
  CHECK(store.put_kernel(make_record("k1")));
  CHECK(store.find_kernel("k1").has_value());
}

// Forks count children that start body(child) at the same moment (the parent opens nothing meanwhile) and
// checks that each returned true. A child leaves with _exit and uses no doctest macro.
template <class Body>
void run_children(int count, const Body& body) {
  const auto start = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  std::vector<pid_t> children;
  for (int child = 0; child < count; ++child) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      bool ok = false;
      try {
        std::this_thread::sleep_until(start);
        ok = body(child);
      } catch (const std::exception& error) {
        std::fprintf(stderr, "child %d: %s\n", child, error.what());  // the parent's check shows the exit code
      }
      ::_exit(ok ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (const pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

}  // namespace

TEST_SUITE("store") {
  TEST_CASE("put then find returns every field, and created_at 0 becomes now") {
    TempDir dir;
    Store store(dir.file("nested/folders/attnjit.db"), OpenMode::read_write);  // creates the missing folders
    const KernelRecord record = make_record("key-a");
    CHECK(store.put_kernel(record));
    const auto found = store.find_kernel("key-a");
    REQUIRE(found.has_value());
    check_same(*found, record);
    CHECK_FALSE(store.find_kernel("key-missing").has_value());

    KernelRecord undated = make_record("key-b");
    undated.created_at = 0;
    undated.cubin.clear();  // an empty cubin is stored as an empty blob, not NULL
    const auto before = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    CHECK(store.put_kernel(undated));
    const auto found_b = store.find_kernel("key-b");
    REQUIRE(found_b.has_value());
    CHECK(found_b->created_at >= before);
    CHECK(found_b->created_at <= before + 60);
    CHECK(found_b->cubin.empty());
    CHECK(store.warnings().empty());
  }

  TEST_CASE("put of an existing key returns false and keeps the first record") {
    TempDir dir;
    Store store(dir.file("attnjit.db"), OpenMode::read_write);
    const KernelRecord first = make_record("same-key");
    KernelRecord second = make_record("same-key", "another_name");
    second.cubin = bytes_for("different");
    CHECK(store.put_kernel(first));
    CHECK_FALSE(store.put_kernel(second));
    const auto found = store.find_kernel("same-key");
    REQUIRE(found.has_value());
    check_same(*found, first);
    CHECK(store.stats().kernels == 1);
  }

  TEST_CASE("a new store has schema version 2 in user_version, the tuning tables and WAL journal mode") {
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    {
      Store store(path, OpenMode::read_write);
      CHECK(store.schema_version() == 2);
      CHECK(store.path() == path);
      RawDb raw(path);  // while the store is open, so the WAL file is in use
      CHECK(raw.text("PRAGMA user_version") == "2");
      CHECK(raw.text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('tuned', 'quarantine')") ==
            "2");
      CHECK(raw.text("PRAGMA journal_mode") == "wal");
      CHECK(raw.text("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'kernels_by_spec'") == "1");
    }
    Store reopened(path, OpenMode::read_write);  // reopening our own file sets nothing aside
    CHECK(reopened.warnings().empty());
    CHECK(set_aside_files(dir.path, "attnjit.db").empty());
  }

  TEST_CASE("a file of random bytes is set aside and a working store made") {
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    const std::vector<char> garbage = bytes_for("garbage", 8192);
    std::ofstream(path, std::ios::binary).write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    std::ofstream(path + "-wal") << "a stale write-ahead log must not be replayed into the new store";
    Store store(path, OpenMode::read_write);
    check_set_aside_and_usable(dir, store);
    CHECK(store.warnings().front().find("not a database") != std::string::npos);
    const auto aside = set_aside_files(dir.path, "attnjit.db");
    REQUIRE(aside.size() == 1);
    CHECK(fs::file_size(aside.front()) == garbage.size());  // set aside untouched
    std::ifstream wal(path + "-wal");  // the stale log was not kept beside the new store
    CHECK(std::string(std::istreambuf_iterator<char>(wal), {}).find("stale") == std::string::npos);
    CHECK(store.list_kernels().size() == 1);
  }

  TEST_CASE("a foreign SQLite database is set aside") {
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    RawDb(path).exec("CREATE TABLE photos (id INTEGER, title TEXT); INSERT INTO photos VALUES (1, 'x');");
    Store store(path, OpenMode::read_write);
    check_set_aside_and_usable(dir, store);
    CHECK(store.warnings().front().find("photos") != std::string::npos);
    const auto aside = set_aside_files(dir.path, "attnjit.db");
    REQUIRE(aside.size() == 1);
    CHECK(RawDb(aside.front().string()).text("SELECT title FROM photos") == "x");  // the user's data survives
  }

  TEST_CASE("a foreign database that another process has open is reported and left in place") {
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    RawDb(path).exec("PRAGMA journal_mode = WAL; CREATE TABLE photos (id INTEGER);");
    int ready[2], release[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(release) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // the child keeps the database open (WAL: a shared lock) until the parent lets it go
      ::close(ready[0]);
      ::close(release[1]);
      sqlite3* db = nullptr;
      const bool opened = sqlite3_open(path.c_str(), &db) == SQLITE_OK &&
                          sqlite3_exec(db, "SELECT count(*) FROM photos", nullptr, nullptr, nullptr) == SQLITE_OK;
      char byte = opened ? 1 : 0;
      (void)!::write(ready[1], &byte, 1);
      (void)!::read(release[0], &byte, 1);
      sqlite3_close(db);
      ::_exit(opened ? 0 : 1);
    }
    ::close(ready[1]);
    ::close(release[0]);
    char byte = 0;
    REQUIRE(::read(ready[0], &byte, 1) == 1);
    CHECK(byte == 1);
    std::string message;
    try {
      Store store(path, OpenMode::read_write);
    } catch (const attnjit::Error& error) {
      CHECK(error.code() == attnjit::ErrorCode::store);
      message = error.what();
    }
    CHECK(message.find("process " + std::to_string(pid) + " has it open") != std::string::npos);
    CHECK(set_aside_files(dir.path, "attnjit.db").empty());
    CHECK(RawDb(path).text("SELECT name FROM sqlite_master") == "photos");
    ::close(release[1]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WEXITSTATUS(status) == 0);
    ::close(ready[0]);
  }

  TEST_CASE("a newer schema version is set aside") {
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    {
      Store store(path, OpenMode::read_write);
    }
    RawDb(path).exec("PRAGMA user_version = 3");
    Store store(path, OpenMode::read_write);
    check_set_aside_and_usable(dir, store);
    CHECK(store.warnings().front().find("schema version 3 is newer") != std::string::npos);
  }

  TEST_CASE("schema version 1 without the kernels table is set aside") {
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    RawDb(path).exec("CREATE TABLE other (x); PRAGMA user_version = 1;");
    Store store(path, OpenMode::read_write);
    check_set_aside_and_usable(dir, store);
  }

  // The version-1 schema exactly as attnjit 0.1 wrote it, with one kernel row.
  void write_version_1_store(const std::string& path, const KernelRecord& r) {
    RawDb raw(path);
    raw.exec(R"sql(CREATE TABLE kernels (
      key TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, lowered_name TEXT NOT NULL, arch TEXT NOT NULL,
      nvrtc_version TEXT NOT NULL, attnjit_version TEXT NOT NULL, source_sha256 TEXT NOT NULL,
      spec_json TEXT NOT NULL, options TEXT NOT NULL, cubin BLOB NOT NULL, cubin_sha256 TEXT NOT NULL,
      compile_seconds REAL NOT NULL, created_at INTEGER NOT NULL);
      CREATE INDEX kernels_by_spec ON kernels (name, arch, attnjit_version, source_sha256);
      PRAGMA user_version = 1;)sql");
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw.db, "INSERT INTO kernels VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                               -1, &stmt, nullptr) == SQLITE_OK);
    int i = 0;
    for (const std::string* text : {&r.key, &r.name, &r.lowered_name, &r.arch, &r.nvrtc_version, &r.attnjit_version,
                                    &r.source_sha256, &r.spec_json, &r.options}) {
      sqlite3_bind_text(stmt, ++i, text->c_str(), -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_blob(stmt, ++i, r.cubin.data(), static_cast<int>(r.cubin.size()), SQLITE_TRANSIENT);
    const std::string sha = attnjit::sha256_hex(std::string_view(r.cubin.data(), r.cubin.size()));
    sqlite3_bind_text(stmt, ++i, sha.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(stmt, ++i, r.compile_seconds);
    sqlite3_bind_int64(stmt, ++i, r.created_at);
    CHECK(sqlite3_step(stmt) == SQLITE_DONE);
    sqlite3_finalize(stmt);
  }

  TEST_CASE("a version-1 store is migrated to version 2 in place: its kernels kept, nothing set aside") {
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    const KernelRecord old = make_record("from-v1");
    write_version_1_store(path, old);
    {
      Store read_only(path, OpenMode::read_only);  // read-only: used as it is, no tuning data, no warning
      CHECK(read_only.schema_version() == 1);
      CHECK(read_only.warnings().empty());
      CHECK(read_only.find_kernel("from-v1").has_value());
      CHECK(read_only.find_tuned("{}", "mta_fwd").empty());
      CHECK(read_only.stats().kernels == 1);  // stats work without the tuning tables: none counted
      CHECK(read_only.stats().tuned == 0);
    }
    Store store(path, OpenMode::read_write);
    CHECK(store.warnings().empty());
    CHECK(set_aside_files(dir.path, "attnjit.db").empty());
    CHECK(store.schema_version() == 2);
    const auto found = store.find_kernel("from-v1");
    REQUIRE(found.has_value());
    check_same(*found, old);
    TunedRecord tuned;
    tuned.problem_key = "{\"length\":2048}";
    tuned.kernel_kind = "mta_fwd";
    tuned.config_json = "{\"tile_i\":32}";
    CHECK(store.put_tuned(tuned));
    CHECK(store.find_tuned(tuned.problem_key, "mta_fwd").size() == 1);
  }

  Environment h100(const std::string& driver) {
    return {"NVIDIA H100 80GB HBM3", 132, "sm_90", driver, "13.0", "0.1.0"};
  }

  TEST_CASE("tuned winners: one per (problem, kernel, environment), replaced on re-tuning, newest first") {
    TempDir dir;
    Store store(dir.file("attnjit.db"), OpenMode::read_write);
    TunedRecord r;
    r.problem_key = "{\"length\":2048}";
    r.kernel_kind = "mta_fwd";
    r.environment = h100("570.86");
    r.config_json = "{\"tile_i\":16}";
    r.median_us = 150;
    r.p20_us = 148;
    r.p80_us = 153;
    r.samples = 50;
    r.heuristic_median_us = 170;
    r.candidates_json = "[]";
    r.tuned_at = 1000;
    CHECK(store.put_tuned(r));
    r.environment = h100("580.159.04");
    r.config_json = "{\"tile_i\":32}";
    r.median_us = 141;
    r.tuned_at = 2000;
    CHECK(store.put_tuned(r));
    r.config_json = "{\"tile_i\":64}";  // re-tuned in the same environment: replaces
    r.tuned_at = 3000;
    CHECK(store.put_tuned(r));
    const auto found = store.find_tuned(r.problem_key, "mta_fwd");
    REQUIRE(found.size() == 2);
    CHECK(found[0].environment == h100("580.159.04"));
    CHECK(found[0].config_json == "{\"tile_i\":64}");
    CHECK(found[0].median_us == 141);
    CHECK(found[0].p80_us == 153);
    CHECK(found[0].samples == 50);
    CHECK(found[1].environment == h100("570.86"));
    CHECK(found[1].config_json == "{\"tile_i\":16}");
    CHECK(store.find_tuned(r.problem_key, "mta_bwd_input").empty());
    CHECK(store.find_tuned("{\"length\":1024}", "mta_fwd").empty());
    CHECK(found[1].environment.differences(h100("580.159.04")) ==
          std::vector<std::string>{"driver 570.86 -> 580.159.04"});
    CHECK(found[0].environment.differences(h100("580.159.04")).empty());
    CHECK(store.clear_tuning() == 2);
    CHECK(store.find_tuned(r.problem_key, "mta_fwd").empty());
  }

  TEST_CASE("quarantine: a failed candidate is found for its environment only; read-only stores write nothing") {
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    {
      Store store(path, OpenMode::read_write);
      QuarantineRecord q{"mta_fwd_bf16_..._t64x64_w8_oc1", h100("580.159.04"), "crash", "illegal address", 0};
      CHECK(store.put_quarantine(q));
      const auto found = store.find_quarantine(q.kernel_name, h100("580.159.04"));
      REQUIRE(found.has_value());
      CHECK(found->reason == "crash");
      CHECK(found->detail == "illegal address");
      CHECK(found->recorded_at > 0);
      CHECK_FALSE(store.find_quarantine(q.kernel_name, h100("590.1")).has_value());  // a new driver may fix it
      CHECK_FALSE(store.find_quarantine("another kernel", h100("580.159.04")).has_value());
    }
    Store read_only(path, OpenMode::read_only);
    CHECK(read_only.find_quarantine("mta_fwd_bf16_..._t64x64_w8_oc1", h100("580.159.04")).has_value());
    CHECK_FALSE(read_only.put_quarantine({"x", h100("580.159.04"), "hang", "", 0}));
    CHECK_FALSE(read_only.put_tuned(TunedRecord{}));
  }

  TEST_CASE("schema version 2 without the tuning tables is set aside") {
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    {
      Store store(path, OpenMode::read_write);
    }
    RawDb(path).exec("DROP TABLE quarantine");
    Store store(path, OpenMode::read_write);
    check_set_aside_and_usable(dir, store);
    CHECK(store.warnings().front().find("tuning tables") != std::string::npos);
  }

  TEST_CASE("a flipped byte in a stored cubin is detected on read, and the row deleted") {
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    Store store(path, OpenMode::read_write);
    REQUIRE(store.put_kernel(make_record("victim")));
    REQUIRE(store.put_kernel(make_record("bystander")));
    {
      RawDb raw(path);
      std::vector<char> cubin = make_record("victim").cubin;
      cubin[100] = static_cast<char>(cubin[100] ^ 0x01);
      sqlite3_stmt* stmt = nullptr;
      REQUIRE(sqlite3_prepare_v2(raw.db, "UPDATE kernels SET cubin = ?1 WHERE key = 'victim'", -1, &stmt, nullptr) ==
              SQLITE_OK);
      sqlite3_bind_blob(stmt, 1, cubin.data(), static_cast<int>(cubin.size()), SQLITE_TRANSIENT);
      CHECK(sqlite3_step(stmt) == SQLITE_DONE);
      sqlite3_finalize(stmt);
      CHECK(sqlite3_changes(raw.db) == 1);
    }
    CHECK_FALSE(store.find_kernel("victim").has_value());
    REQUIRE(store.warnings().size() == 1);
    CHECK(store.warnings().front().find("victim") != std::string::npos);
    CHECK(RawDb(path).text("SELECT count(*) FROM kernels WHERE key = 'victim'") == "0");
    CHECK(store.find_kernel("bystander").has_value());
  }

  TEST_CASE("read_only on a missing file creates nothing and works as an empty store") {
    TempDir dir;
    const std::string path = dir.file("missing/attnjit.db");
    Store store(path, OpenMode::read_only);
    CHECK_FALSE(store.warnings().empty());
    CHECK_FALSE(store.put_kernel(make_record("k")));
    CHECK_FALSE(store.find_kernel("k").has_value());
    CHECK(store.list_kernels().empty());
    CHECK(store.stats().kernels == 0);
    CHECK(store.clear_kernels() == 0);
    CHECK_FALSE(fs::exists(dir.path / "missing"));
  }

  TEST_CASE("read_only on a garbage file leaves it in place; on a good file it reads but never writes") {
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    std::ofstream(path) << std::string(4096, 'x');
    {
      Store store(path, OpenMode::read_only);
      CHECK_FALSE(store.warnings().empty());
      CHECK_FALSE(store.find_kernel("k").has_value());
      CHECK(set_aside_files(dir.path, "attnjit.db").empty());
      CHECK(fs::file_size(path) == 4096);
    }
    fs::remove(path);
    {
      Store writer(path, OpenMode::read_write);
      REQUIRE(writer.put_kernel(make_record("k")));
    }
    Store reader(path, OpenMode::read_only);
    CHECK(reader.warnings().empty());
    CHECK(reader.find_kernel("k").has_value());
    CHECK_FALSE(reader.put_kernel(make_record("k2")));
    CHECK(reader.clear_kernels() == 0);
    CHECK(reader.stats().kernels == 1);
  }

  TEST_CASE("read_write throws Error{store} when no store can be had") {
    TempDir dir;
    std::ofstream(dir.file("a_file")) << "not a folder";
    try {
      Store store(dir.file("a_file/attnjit.db"), OpenMode::read_write);
      FAIL("expected attnjit::Error");
    } catch (const attnjit::Error& error) {
      CHECK(error.code() == attnjit::ErrorCode::store);
      CHECK(std::string(error.what()).find("a_file") != std::string::npos);
    }
  }

  TEST_CASE("find_kernel_compiled_elsewhere picks the newest matching record") {
    TempDir dir;
    Store store(dir.file("attnjit.db"), OpenMode::read_write);
    const std::string name = "mta_fwd_bf16_L128_K5";
    KernelRecord old_one = make_record("old", name), newest = make_record("newest", name);
    KernelRecord middle = make_record("middle", name), other_arch = make_record("other_arch", name);
    old_one.nvrtc_version = "12.4";
    old_one.created_at = 1000;
    newest.nvrtc_version = "12.9";
    newest.created_at = 3000;
    middle.created_at = 2000;
    other_arch.arch = "sm_80";
    other_arch.created_at = 9000;  // newer, but for another arch
    for (const auto& r : {middle, newest, other_arch, old_one}) REQUIRE(store.put_kernel(r));
    const auto found = store.find_kernel_compiled_elsewhere(name, "sm_90", "0.1.0", old_one.source_sha256);
    REQUIRE(found.has_value());
    check_same(*found, newest);
    CHECK_FALSE(store.find_kernel_compiled_elsewhere(name, "sm_90", "0.2.0", old_one.source_sha256).has_value());
    CHECK_FALSE(store.find_kernel_compiled_elsewhere(name, "sm_90", "0.1.0", "other source").has_value());
  }

  TEST_CASE("list is ordered by name, stats count rows and bytes, clear removes everything") {
    TempDir dir;
    Store store(dir.file("attnjit.db"), OpenMode::read_write);
    REQUIRE(store.put_kernel(make_record("k1", "zeta")));
    REQUIRE(store.put_kernel(make_record("k2", "alpha")));
    REQUIRE(store.put_kernel(make_record("k3", "mu")));
    const auto list = store.list_kernels();
    REQUIRE(list.size() == 3);
    CHECK(list[0].name == "alpha");
    CHECK(list[1].name == "mu");
    CHECK(list[2].name == "zeta");
    CHECK(list[0].key == "k2");
    CHECK(list[0].cubin_bytes == 300);
    CHECK(list[0].arch == "sm_90");
    CHECK(list[0].created_at == 1700000000);
    const auto stats = store.stats();
    CHECK(stats.kernels == 3);
    CHECK(stats.cubin_bytes == 900);
    CHECK(stats.file_bytes > 0);
    CHECK(store.clear_kernels() == 3);
    CHECK(store.list_kernels().empty());
    CHECK(store.stats().kernels == 0);
    CHECK_FALSE(store.find_kernel("k1").has_value());
  }

  TEST_CASE("default_path honours ATTNJIT_CACHE, then XDG_CACHE_HOME, then HOME") {
    const auto saved = [](const char* name) -> std::optional<std::string> {
      const char* value = std::getenv(name);
      return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
    };
    const auto cache = saved("ATTNJIT_CACHE"), xdg = saved("XDG_CACHE_HOME"), home = saved("HOME");
    ::setenv("ATTNJIT_CACHE", "/x/store.db", 1);
    ::setenv("XDG_CACHE_HOME", "/xdg", 1);
    ::setenv("HOME", "/home/u", 1);
    CHECK(Store::default_path() == "/x/store.db");
    ::unsetenv("ATTNJIT_CACHE");
    CHECK(Store::default_path() == "/xdg/attnjit/attnjit.db");
    ::unsetenv("XDG_CACHE_HOME");
    CHECK(Store::default_path() == "/home/u/.cache/attnjit/attnjit.db");
    const auto restore = [](const char* name, const std::optional<std::string>& value) {
      if (value) ::setenv(name, value->c_str(), 1);
      else ::unsetenv(name);
    };
    restore("ATTNJIT_CACHE", cache);
    restore("XDG_CACHE_HOME", xdg);
    restore("HOME", home);
  }

  TEST_CASE("processes opening one new store at once and inserting overlapping keys all succeed") {
    constexpr int kChildren = 4, kRecords = 50, kShared = kRecords / 2;
    TempDir dir;
    const std::string path = dir.file("shared/attnjit.db");  // does not exist yet: the children race to make it
    run_children(kChildren, [&](int child) {
      Store store(path, OpenMode::read_write);
      for (int i = 0; i < kRecords; ++i) {
        const std::string key = i < kShared ? "shared-" + std::to_string(i)
                                            : "child" + std::to_string(child) + "-" + std::to_string(i);
        store.put_kernel(make_record(key));
        if (!store.find_kernel(key)) throw std::runtime_error("missing after put: " + key);
      }
      return store.warnings().empty();
    });
    std::set<std::string> expected;
    for (int i = 0; i < kRecords; ++i) {
      for (int child = 0; child < kChildren; ++child) {
        expected.insert(i < kShared ? "shared-" + std::to_string(i)
                                    : "child" + std::to_string(child) + "-" + std::to_string(i));
      }
    }
    Store store(path, OpenMode::read_write);
    CHECK(store.warnings().empty());
    std::set<std::string> keys;
    for (const auto& summary : store.list_kernels()) keys.insert(summary.key);
    CHECK(keys == expected);
    CHECK(keys.size() == kShared + kChildren * (kRecords - kShared));
    for (const auto& key : expected) {
      const auto found = store.find_kernel(key);  // checks the SHA-256
      REQUIRE(found.has_value());
      CHECK(found->cubin == make_record(key).cubin);
    }
    CHECK(store.warnings().empty());
    CHECK(RawDb(path).text("PRAGMA integrity_check") == "ok");
    CHECK(set_aside_files(dir.path / "shared", "attnjit.db").empty());
  }

  TEST_CASE("processes opening one garbage file at once set it aside once and all succeed") {
    constexpr int kChildren = 4;
    TempDir dir;
    const std::string path = dir.file("attnjit.db");
    const std::vector<char> garbage = bytes_for("garbage", 8192);
    std::ofstream(path, std::ios::binary).write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    run_children(kChildren, [&](int child) {
      Store store(path, OpenMode::read_write);
      const std::string key = "child" + std::to_string(child);
      return store.put_kernel(make_record(key)) && store.find_kernel(key).has_value();
    });
    CHECK(set_aside_files(dir.path, "attnjit.db").size() == 1);  // not the fresh store another child made
    Store store(path, OpenMode::read_write);
    CHECK(store.warnings().empty());
    CHECK(store.stats().kernels == kChildren);
    CHECK(RawDb(path).text("PRAGMA integrity_check") == "ok");
  }
}
