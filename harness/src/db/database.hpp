// A thin RAII layer over SQLite, and the results schema with its migrations.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace rpcbench {

inline constexpr int kSchemaVersion = 4;

// The SQL that migrates a database from `version` to `version + 1` (tests build old schemas).
const char* migration_sql(int version);

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);  // NaN is stored as NULL
  Statement& bind(int index, const std::string& value);
  Statement& bind_null(int index);
  bool step();  // true while a row is available
  void run();   // step to completion, then reset
  void reset();

  int column_count() const;
  std::string column_name(int i) const;
  bool is_null(int i) const;
  std::int64_t column_int(int i) const;
  double column_double(int i) const;
  std::string column_text(int i) const;
  int column_type(int i) const;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL
  bool read_only() const;
  // The SQL after the first statement (SQLite compiles one statement and ignores the rest).
  const std::string& trailing_sql() const { return trailing_sql_; }

 private:
  void check(int rc, const char* what) const;
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string trailing_sql_;
};

class Database {
 public:
  enum class Mode { read_write, read_only };
  // Read-write creates the file (its directory must exist) and migrates the schema; read-only
  // requires an existing rpcbench database. Throws InputError naming the path.
  Database(const std::filesystem::path& path, Mode mode);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const std::string& sql);
  Statement prepare(const std::string& sql) { return Statement(db_, sql); }
  std::int64_t last_insert_id() const;
  std::int64_t changes() const;  // rows changed by the last statement
  int schema_version();
  // InputError unless the schema is this harness's (a read-only view of an older database lacks
  // tables the readers need; `harness merge OLD.db -o NEW.db` upgrades a copy).
  void require_current_schema();
  const std::filesystem::path& path() const { return path_; }
  sqlite3* handle() { return db_; }

 private:
  void migrate();
  void check_schema_range(int version) const;  // InputError outside 0…kSchemaVersion
  // InputError unless the tables and views are those the migrations make at `version` (the
  // columns of each table, the SQL of each view) and no trigger or other view is there.
  void check_schema_objects(int version) const;
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE … COMMIT; rolls back when destroyed uncommitted (an exception in between).
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace rpcbench
