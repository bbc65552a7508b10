#include "db/database.hpp"

#include "util/errors.hpp"

#include <sqlite3.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace rpcbench {
namespace {

// Each entry migrates from version i to i + 1.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE runs (
  run_id INTEGER PRIMARY KEY,
  suite_name TEXT NOT NULL,
  suite_path TEXT NOT NULL,
  suite_sha256 TEXT NOT NULL,
  profile TEXT NOT NULL,
  task TEXT NOT NULL,
  seed INTEGER NOT NULL,
  resolved_suite TEXT NOT NULL,
  resolved_hash TEXT NOT NULL,
  git_sha TEXT, git_dirty INTEGER,
  harness_version TEXT, libtorch_version TEXT, compiler TEXT, build_type TEXT,
  cpu_model TEXT, host TEXT, device TEXT, threads INTEGER, blas TEXT,
  command_line TEXT, pid INTEGER,
  provenance TEXT NOT NULL,
  started_at TEXT NOT NULL, finished_at TEXT,
  status TEXT NOT NULL, message TEXT
);
CREATE TABLE run_plugins (
  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  kind TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL, build_id TEXT NOT NULL,
  path TEXT NOT NULL, file_sha256 TEXT NOT NULL,
  PRIMARY KEY (run_id, kind, name)
);
CREATE TABLE cases (
  case_id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  case_key TEXT NOT NULL,
  dataset TEXT NOT NULL, encoder TEXT NOT NULL, objective TEXT NOT NULL,
  repeat INTEGER NOT NULL, seed INTEGER NOT NULL,
  config_text TEXT NOT NULL, config_hash TEXT NOT NULL,
  device TEXT NOT NULL, threads INTEGER NOT NULL,
  started_at TEXT NOT NULL, finished_at TEXT, wall_seconds REAL,
  status TEXT NOT NULL, message TEXT, stopped_step INTEGER,
  UNIQUE (run_id, case_key)
);
CREATE TABLE samples (
  case_id INTEGER NOT NULL REFERENCES cases(case_id) ON DELETE CASCADE,
  name TEXT NOT NULL, step INTEGER NOT NULL, value REAL,
  PRIMARY KEY (case_id, name, step)
) WITHOUT ROWID;
CREATE TABLE summaries (
  case_id INTEGER NOT NULL REFERENCES cases(case_id) ON DELETE CASCADE,
  scope TEXT NOT NULL, name TEXT NOT NULL, value REAL,
  PRIMARY KEY (case_id, scope, name)
) WITHOUT ROWID;
CREATE VIEW case_summaries AS
  SELECT r.run_id, r.suite_name, r.profile, c.case_id, c.case_key, c.dataset, c.objective,
         c.repeat, c.status, s.scope, s.name, s.value
  FROM summaries s JOIN cases c USING (case_id) JOIN runs r USING (run_id);
)sql",
    // 1 → 2: case ids are never reused (AUTOINCREMENT). --resume deletes the cases it reruns, and
    // a plain INTEGER PRIMARY KEY would hand a deleted id to the next case. The table is rebuilt
    // as SQLite's ALTER TABLE procedure prescribes (foreign keys off around the transaction).
    R"sql(
CREATE TABLE cases_v2 (
  case_id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  case_key TEXT NOT NULL,
  dataset TEXT NOT NULL, encoder TEXT NOT NULL, objective TEXT NOT NULL,
  repeat INTEGER NOT NULL, seed INTEGER NOT NULL,
  config_text TEXT NOT NULL, config_hash TEXT NOT NULL,
  device TEXT NOT NULL, threads INTEGER NOT NULL,
  started_at TEXT NOT NULL, finished_at TEXT, wall_seconds REAL,
  status TEXT NOT NULL, message TEXT, stopped_step INTEGER,
  UNIQUE (run_id, case_key)
);
INSERT INTO cases_v2 SELECT * FROM cases;
DROP VIEW case_summaries;
DROP TABLE cases;
ALTER TABLE cases_v2 RENAME TO cases;
CREATE VIEW case_summaries AS
  SELECT r.run_id, r.suite_name, r.profile, c.case_id, c.case_key, c.dataset, c.objective,
         c.repeat, c.status, s.scope, s.name, s.value
  FROM summaries s JOIN cases c USING (case_id) JOIN runs r USING (run_id);
)sql",
    // 2 → 3: statistics over several cases of a run (seeds of one grid point, slopes across an
    // axis), written by the runner at the end of a run.
    R"sql(
CREATE TABLE aggregates (
  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  grouping TEXT NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, statistic TEXT NOT NULL, value REAL,
  PRIMARY KEY (run_id, grouping, scope, name, statistic)
) WITHOUT ROWID;
)sql",
    // 3 → 4: the parts of a suite run as shards (--shard I/N), once merged into one run: each
    // part's own provenance.
    R"sql(
CREATE TABLE run_shards (
  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  shard TEXT NOT NULL,
  host TEXT, pid INTEGER, started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
  provenance TEXT NOT NULL,
  PRIMARY KEY (run_id, shard)
);
)sql",
};

}  // namespace

const char* migration_sql(int version) {
  RPCBENCH_CHECK(version >= 0 && version < kSchemaVersion, "no such migration");
  return kMigrations[version];
}

Statement::Statement(sqlite3* db, const std::string& sql) : db_(db) {
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt_, &tail);
  if (rc != SQLITE_OK) throw InputError(std::string("SQL error: ") + sqlite3_errmsg(db_) + " in: " + sql);
  if (stmt_ == nullptr) throw InputError("SQL error: empty statement: " + sql);
  if (tail != nullptr) trailing_sql_.assign(tail, sql.c_str() + sql.size());
}
Statement::~Statement() { sqlite3_finalize(stmt_); }
Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), trailing_sql_(std::move(other.trailing_sql_)) {
  other.stmt_ = nullptr;
}

void Statement::check(int rc, const char* what) const {
  if (rc != SQLITE_OK)
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db_));
}
Statement& Statement::bind(int index, std::int64_t value) {
  check(sqlite3_bind_int64(stmt_, index, value), "sqlite3_bind_int64");
  return *this;
}
Statement& Statement::bind(int index, double value) {
  if (std::isnan(value)) return bind_null(index);
  check(sqlite3_bind_double(stmt_, index, value), "sqlite3_bind_double");
  return *this;
}
Statement& Statement::bind(int index, const std::string& value) {
  check(sqlite3_bind_text(stmt_, index, value.c_str(), static_cast<int>(value.size()),
                          SQLITE_TRANSIENT),
        "sqlite3_bind_text");
  return *this;
}
Statement& Statement::bind_null(int index) {
  check(sqlite3_bind_null(stmt_, index), "sqlite3_bind_null");
  return *this;
}
bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw std::runtime_error(std::string("SQLite: ") + sqlite3_errmsg(db_));
}
void Statement::run() {
  while (step()) {
  }
  reset();
}
void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}
int Statement::column_count() const { return sqlite3_column_count(stmt_); }
std::string Statement::column_name(int i) const { return sqlite3_column_name(stmt_, i); }
bool Statement::is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
std::int64_t Statement::column_int(int i) const { return sqlite3_column_int64(stmt_, i); }
double Statement::column_double(int i) const { return sqlite3_column_double(stmt_, i); }
std::string Statement::column_text(int i) const {
  const auto* t = sqlite3_column_text(stmt_, i);
  return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
}
int Statement::column_type(int i) const { return sqlite3_column_type(stmt_, i); }
bool Statement::read_only() const { return sqlite3_stmt_readonly(stmt_) != 0; }

Database::Database(const std::filesystem::path& path, Mode mode) : path_(path) {
  std::error_code ec;
  const auto dir = std::filesystem::absolute(path, ec).parent_path();
  if (mode == Mode::read_only && !std::filesystem::exists(path, ec))
    throw InputError("database '" + path.string() + "' does not exist");
  if (mode == Mode::read_write && !std::filesystem::is_directory(dir, ec))
    throw InputError("cannot create database '" + path.string() + "': directory '" + dir.string() +
                     "' does not exist");
  const int flags = mode == Mode::read_only ? SQLITE_OPEN_READONLY
                                            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.string().c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw InputError("cannot open database '" + path.string() + "': " + message);
  }
  sqlite3_busy_timeout(db_, 10000);
  try {
    exec("PRAGMA foreign_keys = ON");
    if (mode == Mode::read_write) {
      // While another process turns a new database to WAL, SQLite can answer "database is locked"
      // at once, without its busy handler (seen with 4 processes opening one new file under load):
      // the set-up is retried for as long as the busy timeout would have waited.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (true) {
        try {
          exec("PRAGMA journal_mode = WAL");
          exec("PRAGMA synchronous = NORMAL");
          migrate();
          break;
        } catch (const std::runtime_error& e) {
          if (std::string(e.what()).find("database is locked") == std::string::npos ||
              std::chrono::steady_clock::now() > deadline)
            throw;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    } else {
      const int version = schema_version();
      if (version == 0)
        throw InputError("'" + path.string() + "' is not an rpcbench results database");
      check_schema_range(version);
      check_schema_objects(version);
    }
  } catch (const std::runtime_error& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    // A directory that is not writable, a file that is not a database: an input error.
    throw InputError("cannot use database '" + path.string() + "': " + e.what());
  }
}

Database::~Database() { sqlite3_close(db_); }

void Database::exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errmsg(db_);
    sqlite3_free(error);
    throw std::runtime_error("SQLite: " + message);
  }
}

std::int64_t Database::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
std::int64_t Database::changes() const { return sqlite3_changes(db_); }

int Database::schema_version() {
  Statement s(db_, "PRAGMA user_version");
  s.step();
  return static_cast<int>(s.column_int(0));
}

namespace {

// What the migrations make at `version`, read off an in-memory database migrated to it: each
// table's columns (name, type, not null, primary key), each view's SQL, and nothing else.
struct SchemaObjects {
  std::map<std::string, std::string> tables;  // name -> its columns, one text
  std::map<std::string, std::string> views;   // name -> its SQL
};

std::string columns_text(sqlite3* db, const std::string& table) {
  std::string text;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, ("PRAGMA main.table_info(\"" + table + "\")").c_str(), -1, &s, nullptr);
  while (s != nullptr && sqlite3_step(s) == SQLITE_ROW) {
    for (int i : {1, 2, 3, 5}) {
      const auto* t = sqlite3_column_text(s, i);
      text += (t != nullptr ? reinterpret_cast<const char*>(t) : "") + std::string(i == 5 ? ";" : ",");
    }
  }
  sqlite3_finalize(s);
  return text;
}

// name -> (type, sql) of every row of sqlite_master but indexes: the type lower-cased, as SQLite
// reads it when it loads the schema (a row typed 'TRIGGER' is a trigger), and no name skipped,
// since SQLite does not reserve sqlite_ for rows written with writable_schema.
std::map<std::string, std::pair<std::string, std::string>> schema_entries(sqlite3* db) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT lower(type), name, coalesce(sql, '') FROM main.sqlite_master WHERE lower(type) <> 'index'",
                     -1, &s, nullptr);
  while (s != nullptr && sqlite3_step(s) == SQLITE_ROW) {
    const auto* type = sqlite3_column_text(s, 0);
    const auto* name = sqlite3_column_text(s, 1);
    out[name != nullptr ? reinterpret_cast<const char*>(name) : ""] = {
        type != nullptr ? reinterpret_cast<const char*>(type) : "", reinterpret_cast<const char*>(sqlite3_column_text(s, 2))};
  }
  sqlite3_finalize(s);
  return out;
}

// SQLite's own tables, made as it needs them (AUTOINCREMENT's counters, ANALYZE's statistics).
bool sqlite_internal_table(const std::string& name) {
  return name == "sqlite_sequence" || name.rfind("sqlite_stat", 0) == 0;
}

std::string squeezed(const std::string& sql) {  // whitespace runs as one space
  std::string out;
  for (char c : sql) {
    const bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

const SchemaObjects& schema_objects_at(int version) {
  static std::mutex mutex;
  static std::map<int, SchemaObjects> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = cache.find(version);
  if (found != cache.end()) return found->second;
  sqlite3* db = nullptr;
  RPCBENCH_CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK, "cannot open an in-memory database");
  for (int v = 0; v < version; ++v)
    RPCBENCH_CHECK(sqlite3_exec(db, migration_sql(v), nullptr, nullptr, nullptr) == SQLITE_OK, "a migration failed in memory");
  SchemaObjects objects;
  for (const auto& [name, entry] : schema_entries(db)) {
    if (entry.first == "table" && !sqlite_internal_table(name))
      objects.tables[name] = squeezed(entry.second) + "\n" + columns_text(db, name);
    if (entry.first == "view") objects.views[name] = squeezed(entry.second);
    RPCBENCH_CHECK(entry.first != "trigger", "the migrations make no triggers");
  }
  sqlite3_close(db);
  return cache.emplace(version, std::move(objects)).first->second;
}

}  // namespace

void Database::check_schema_objects(int version) const {
  const SchemaObjects& expected = schema_objects_at(version);
  const auto actual = schema_entries(db_);
  const std::string where = "database '" + path_.string() + "' (schema version " + std::to_string(version) + ")";
  // Triggers first, on their own: they have a namespace of their own, so one may share a view's
  // or a table's name (and hide behind it in the by-name map below).
  {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_, "SELECT name FROM main.sqlite_master WHERE lower(type) = 'trigger' LIMIT 1", -1, &s, nullptr);
    const bool any = s != nullptr && sqlite3_step(s) == SQLITE_ROW;
    const std::string name = any && sqlite3_column_text(s, 0) != nullptr ? reinterpret_cast<const char*>(sqlite3_column_text(s, 0)) : "";
    sqlite3_finalize(s);
    if (any)
      throw InputError(where + " holds a trigger '" + name + "' that rpcbench did not make; refused (a trigger runs " +
                       "on the harness's writes): DROP TRIGGER it to use the database");
  }
  // The statement (with its constraints: a dropped UNIQUE lets a case count twice) and the columns.
  for (const auto& [name, definition] : expected.tables) {
    const auto it = actual.find(name);
    if (it == actual.end()) throw InputError(where + " has no table '" + name + "'");
    if (it->second.first != "table")
      throw InputError(where + ": '" + name + "' is a " + it->second.first + ", not rpcbench's table");
    if (squeezed(it->second.second) + "\n" + columns_text(db_, name) != definition)
      throw InputError(where + ": table '" + name + "' is not rpcbench's (its columns or constraints differ)");
  }
  for (const auto& [name, entry] : actual) {
    const auto& [type, sql] = entry;
    if (type == "trigger")
      throw InputError(where + " holds a trigger '" + name + "' that rpcbench did not make; refused (a trigger runs " +
                       "on the harness's writes): DROP TRIGGER it to use the database");
    if (type == "view" && (expected.views.count(name) == 0 || expected.views.at(name) != squeezed(sql)))
      throw InputError(where + " holds a view '" + name + "' that rpcbench did not make; refused: DROP VIEW it " +
                       "(or keep your views in another database) to use this one");
    if (type != "table" && type != "view")
      throw InputError(where + " holds a schema entry '" + name + "' of type '" + type + "'; refused");
    if (type == "table" && name.rfind("sqlite_", 0) == 0 && !sqlite_internal_table(name))
      throw InputError(where + " holds a table '" + name + "' named like SQLite's own; refused");
  }
  for (const auto& [name, sql] : expected.views)
    if (actual.count(name) == 0) throw InputError(where + " has no view '" + name + "'");
}

void Database::check_schema_range(int version) const {
  // user_version is any 32-bit integer a user can set: a value outside the versions this harness
  // knows indexes no migration.
  if (version < 0 || version > kSchemaVersion)
    throw InputError("database '" + path_.string() + "' has schema version " + std::to_string(version) + ", outside " +
                     "the versions this harness knows (0 to " + std::to_string(kSchemaVersion) + ")" +
                     (version > kSchemaVersion ? ": it was written by a newer harness" : ""));
}

void Database::require_current_schema() {
  const int version = schema_version();
  check_schema_range(version);
  if (version < kSchemaVersion)
    throw InputError("database '" + path_.string() + "' has schema " + std::to_string(version) + ", older than this harness's " +
                     std::to_string(kSchemaVersion) + ": open it once read-write (harness run/import on it), or copy it with "
                     "`harness merge " + path_.string() + " -o NEW.db`");
}

void Database::migrate() {
  if (schema_version() == kSchemaVersion) {  // the common case, without a write lock
    check_schema_objects(kSchemaVersion);
    return;
  }
  // Several processes may open a new database at once: the version is read again under the write
  // lock, so exactly one of them creates or migrates the schema and the others see it done.
  exec("PRAGMA foreign_keys = OFF");  // a no-op inside a transaction; table rebuilds need it off
  Transaction t(*this);
  const int version = schema_version();
  check_schema_range(version);
  if (version > 0) check_schema_objects(version);
  if (version == 0) {
    Statement tables(db_, "SELECT count(*) FROM sqlite_master");
    tables.step();
    if (tables.column_int(0) != 0)
      throw InputError("'" + path_.string() + "' is an SQLite database but not an rpcbench one");
  }
  for (int v = version; v < kSchemaVersion; ++v) exec(kMigrations[v]);
  Statement check(db_, "PRAGMA foreign_key_check");
  RPCBENCH_CHECK(!check.step(), "a migration left a dangling foreign key");
  exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
  t.commit();
  exec("PRAGMA foreign_keys = ON");
}

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {
    }
  }
}
void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace rpcbench
