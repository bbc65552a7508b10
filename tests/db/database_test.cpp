// The results database: schema, round trip through the reporter, abandoned runs, resume, and
// refusals of bad paths.
#include "db/database.hpp"
#include "db/merge.hpp"
#include "report/sqlite_reporter.hpp"
#include "suite/suite.hpp"
#include "test_support.hpp"
#include "util/errors.hpp"
#include "util/hash.hpp"

#include <sqlite3.h>

#include <cstdio>
#include <cstring>
#include <thread>

namespace rpcbench {
namespace {

struct FakeRun {
  FakeRun() {
    suite.name = "fake";
    suite.task = "mi";
    suite.path = "suites/fake.toml";
    // What the suite loader writes, in its smallest form (merge checks it as import does).
    suite.resolved_text = R"({"datasets":[],"encoder":{},"objectives":[],"suite":{"name":"fake","profile":"","repeats":1,"seed":0,"task":"mi"},"task":{}})";
    suite.resolved_hash = sha256_hex(suite.resolved_text);
    dataset.label = "d";
    encoder.label = "e";
    objective.label = "o";
    for (int i = 0; i < 2; ++i) {
      Case c;
      c.index = i;
      c.key = "dataset=d/objective=o/repeat=" + std::to_string(i);
      c.config_text = "{}";
      c.dataset = std::make_shared<PluginUse>(dataset);
      c.encoder = std::make_shared<PluginUse>(encoder);
      c.objective = std::make_shared<PluginUse>(objective);
      c.seed = 100 + i;
      cases.push_back(c);
    }
    info.suite = &suite;
    info.case_count = 2;
    info.started_at = "2026-01-01T00:00:00.000Z";
    info.provenance = {{"device", "cpu"}, {"threads", "2"}, {"git_sha", "deadbeef"}, {"host", "h"}};
  }
  Suite suite;
  PluginUse dataset, encoder, objective;
  std::vector<Case> cases;
  RunInfo info;
};

std::int64_t count(Database& db, const std::string& sql) {
  auto s = db.prepare(sql);
  s.step();
  return s.column_int(0);
}

TEST(Database, CreatesTheSchemaInWalModeWithItsVersion) {
  test::TempDir dir;
  Database db(dir.path() / "r.db", Database::Mode::read_write);
  EXPECT_EQ(db.schema_version(), kSchemaVersion);
  auto s = db.prepare("PRAGMA journal_mode");
  s.step();
  EXPECT_EQ(s.column_text(0), "wal");
  EXPECT_EQ(count(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('runs','cases','samples','summaries','run_plugins','case_summaries')"), 6);
}

TEST(Database, ReporterRoundTrip) {
  test::TempDir dir;
  FakeRun run;
  Database db(dir.path() / "r.db", Database::Mode::read_write);
  SqliteReporter reporter(db);
  reporter.run_started(run.info);
  reporter.case_started(run.cases[0]);
  reporter.metrics(run.cases[0], {{0, "mi", 1.5}, {1, "mi", 1.75}, {1, "loss", NAN}});
  CaseReport report;
  report.c = &run.cases[0];
  report.status = CaseStatus::diverged;
  report.message = "loss is nan at step 1";
  report.stopped_step = 1;
  report.summary = {{"mi=2", "mean", 1.625}, {"", "steps", 2}};
  reporter.case_finished(report);
  RunEnd end;
  end.status = CaseStatus::finished;
  end.finished_at = "2026-01-01T00:01:00.000Z";
  reporter.run_finished(end);

  Database ro(dir.path() / "r.db", Database::Mode::read_only);
  auto r = ro.prepare("SELECT suite_name, git_sha, threads, status, device FROM runs");
  ASSERT_TRUE(r.step());
  EXPECT_EQ(r.column_text(0), "fake");
  EXPECT_EQ(r.column_text(1), "deadbeef");
  EXPECT_EQ(r.column_int(2), 2);
  EXPECT_EQ(r.column_text(3), "finished");
  auto c = ro.prepare("SELECT status, message, stopped_step, seed, threads FROM cases WHERE case_key = 'dataset=d/objective=o/repeat=0'");
  ASSERT_TRUE(c.step());
  EXPECT_EQ(c.column_text(0), "diverged");
  EXPECT_EQ(c.column_text(1), "loss is nan at step 1");
  EXPECT_EQ(c.column_int(2), 1);
  EXPECT_EQ(c.column_int(3), 100);
  auto s = ro.prepare("SELECT step, value FROM samples WHERE name = 'mi' ORDER BY step");
  ASSERT_TRUE(s.step());
  EXPECT_DOUBLE_EQ(s.column_double(1), 1.5);
  ASSERT_TRUE(s.step());
  EXPECT_DOUBLE_EQ(s.column_double(1), 1.75);
  EXPECT_EQ(count(ro, "SELECT count(*) FROM samples WHERE name = 'loss' AND value IS NULL"), 1);  // NaN → NULL
  EXPECT_EQ(count(ro, "SELECT count(*) FROM case_summaries WHERE scope = 'mi=2' AND name = 'mean' AND value = 1.625"), 1);
}

TEST(Database, AbandonedRunIsMarkedKilledAndResumeRerunsOnlyIncompleteCases) {
  test::TempDir dir;
  FakeRun run;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  run.info.provenance["host"] = host;
  {
    Database db(dir.path() / "r.db", Database::Mode::read_write);
    SqliteReporter reporter(db);
    reporter.run_started(run.info);
    reporter.case_started(run.cases[0]);
    CaseReport done;
    done.c = &run.cases[0];
    done.status = CaseStatus::finished;
    reporter.case_finished(done);
    reporter.case_started(run.cases[1]);
    reporter.metrics(run.cases[1], {{0, "mi", 0.5}});
    // The process "dies" here: pretend it was another, long gone pid.
    db.exec("UPDATE runs SET pid = 2147483000");
  }
  Database db(dir.path() / "r.db", Database::Mode::read_write);
  mark_abandoned_runs(db);
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs WHERE status = 'killed'"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE status = 'killed'"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM samples"), 1);  // its data is kept

  // A run recorded without an ensemble mode ran one case at a time: refused in the other mode where
  // cases would group (nothing touched), resumed where the mode does not matter (nullopt).
  EXPECT_THROW(prepare_resume(db, run.suite, "auto"), InputError);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases"), 2);
  const auto point = prepare_resume(db, run.suite, std::nullopt);
  ASSERT_TRUE(point.has_value());
  EXPECT_EQ(point->completed_case_keys, std::set<std::string>{"dataset=d/objective=o/repeat=0"});
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM samples"), 0);
}

TEST(Database, ResumeRefusesARunWhoseProcessIsAlive) {
  test::TempDir dir;
  FakeRun run;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  Database db(dir.path() / "r.db", Database::Mode::read_write);
  SqliteReporter reporter(db);
  reporter.run_started(run.info);  // status 'running' under this (live) process
  reporter.case_started(run.cases[0]);
  db.exec(std::string("UPDATE runs SET host = '") + host + "'");
  mark_abandoned_runs(db);
  try {
    prepare_resume(db, run.suite, "off");
    FAIL() << "a live run was taken over";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(getpid())), std::string::npos) << e.what();
  }
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases"), 1);  // nothing was deleted
  db.exec("UPDATE runs SET host = 'elsewhere'");
  EXPECT_THROW(prepare_resume(db, run.suite, "off"), InputError);  // cannot tell: refused too
}

TEST(Database, CaseIdsAreNeverReused) {
  test::TempDir dir;
  FakeRun run;
  Database db(dir.path() / "r.db", Database::Mode::read_write);
  {
    SqliteReporter reporter(db);
    reporter.run_started(run.info);
    reporter.case_started(run.cases[0]);
    reporter.case_started(run.cases[1]);  // the highest id, never finished
    db.exec("UPDATE runs SET status = 'killed'");
  }
  const std::int64_t old_id = count(db, "SELECT max(case_id) FROM cases");
  const auto point = prepare_resume(db, run.suite, "off");  // deletes both unfinished cases
  ASSERT_TRUE(point.has_value());
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases"), 0);
  SqliteReporter resumed(db, point->run_id);
  resumed.run_started(run.info);
  resumed.case_started(run.cases[1]);
  EXPECT_GT(count(db, "SELECT max(case_id) FROM cases"), old_id);
}

TEST(Database, MigratesASchemaOneDatabaseKeepingItsRows) {
  test::TempDir dir;
  const auto path = dir.path() / "old.db";
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, migration_sql(0), nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, R"sql(
    PRAGMA user_version = 1;
    INSERT INTO runs (run_id, suite_name, suite_path, suite_sha256, profile, task, seed, resolved_suite, resolved_hash,
                      provenance, started_at, status) VALUES (1, 's', 'p', 'h', '', 'mi', 0, '{}', 'x', '{}', 't', 'finished');
    INSERT INTO cases (case_id, run_id, case_key, dataset, encoder, objective, repeat, seed, config_text, config_hash,
                       device, threads, started_at, status) VALUES (7, 1, 'k', 'd', 'e', 'o', 0, 0, '{}', 'h', 'cpu', 1, 't', 'finished');
    INSERT INTO samples VALUES (7, 'mi', 0, 1.5);
    INSERT INTO summaries VALUES (7, '', 'steps', 1.0);
  )sql", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);

  Database db(path, Database::Mode::read_write);
  EXPECT_EQ(db.schema_version(), kSchemaVersion);
  EXPECT_EQ(count(db, "SELECT count(*) FROM case_summaries WHERE case_id = 7 AND name = 'steps'"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM samples WHERE case_id = 7"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM sqlite_master WHERE name = 'cases' AND sql LIKE '%AUTOINCREMENT%'"), 1);
  db.exec("DELETE FROM runs");  // foreign keys still cascade after the rebuild
  EXPECT_EQ(count(db, "SELECT count(*) FROM samples"), 0);
}

TEST(Database, BadPathsAndForeignFilesAreInputErrors) {
  test::TempDir dir;
  EXPECT_THROW(Database(dir.path() / "missing" / "r.db", Database::Mode::read_write), InputError);
  EXPECT_THROW(Database(dir.path() / "absent.db", Database::Mode::read_only), InputError);
  const auto text = dir.write("notes.txt", "not a database at all, just some text that is long enough");
  EXPECT_THROW(Database(text, Database::Mode::read_write), InputError);
  sqlite3* other = nullptr;
  sqlite3_open((dir.path() / "other.db").c_str(), &other);
  sqlite3_exec(other, "CREATE TABLE t (x)", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_THROW(Database(dir.path() / "other.db", Database::Mode::read_write), InputError);
  EXPECT_THROW(Database(dir.path() / "other.db", Database::Mode::read_only), InputError);
}

TEST(Database, ASchemaVersionOutsideTheKnownRangeIsRefusedNamingIt) {
  // user_version is whatever a user set: negative (it indexed the migration table before), or
  // from a newer harness. Every way of opening it refuses, naming the file and the version.
  test::TempDir dir;
  for (const int version : {-1000000, -1, 999}) {
    const auto path = dir.path() / ("v" + std::to_string(version) + ".db");
    { Database made(path, Database::Mode::read_write); }
    sqlite3* raw = nullptr;
    sqlite3_open(path.c_str(), &raw);
    sqlite3_exec(raw, ("PRAGMA user_version = " + std::to_string(version)).c_str(), nullptr, nullptr, nullptr);
    sqlite3_close(raw);
    for (const auto mode : {Database::Mode::read_write, Database::Mode::read_only}) {
      try {
        Database db(path, mode);
        ADD_FAILURE() << "schema version " << version << " was accepted";
      } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("schema version " + std::to_string(version) + ", outside"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
      }
    }
    Database target(dir.path() / "target.db", Database::Mode::read_write);
    EXPECT_THROW(merge_database(target, path), InputError);
  }
}

// The schema is checked, not trusted on user_version: a trigger (it fired during an import), a
// view the harness did not make, a view in place of a table (an endless CTE hung merge, query
// and report), a changed table: refused by every way of opening, naming the object, before any
// statement reads through it. An index of the user's own is harmless and allowed.
TEST(Database, PlantedTriggersViewsAndChangedTablesAreRefused) {
  test::TempDir dir;
  const std::vector<std::pair<std::string, std::string>> plants = {
      {"CREATE TRIGGER spy AFTER INSERT ON runs BEGIN DELETE FROM cases; END", "holds a trigger 'spy'"},
      {"CREATE VIEW extra AS SELECT 1", "holds a view 'extra' that rpcbench did not make"},
      {"DROP VIEW case_summaries; CREATE VIEW case_summaries AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
       "SELECT i + 1 FROM n) SELECT i FROM n",
       "holds a view 'case_summaries' that rpcbench did not make"},
      {"PRAGMA foreign_keys = OFF; DROP VIEW case_summaries; DROP TABLE runs; CREATE VIEW runs AS WITH RECURSIVE "
       "n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i AS run_id FROM n",
       "'runs' is a view, not rpcbench's table"},
      {"ALTER TABLE cases ADD COLUMN note TEXT", "table 'cases' is not rpcbench's"},
      // Rows written past CREATE: a type in capitals (SQLite reads it case-insensitively) and a
      // name in SQLite's own namespace (which it does not enforce there) are triggers all the same.
      {"PRAGMA writable_schema = ON; INSERT INTO sqlite_master VALUES ('TRIGGER', 'loud', 'summaries', 0, "
       "'CREATE TRIGGER loud AFTER INSERT ON summaries BEGIN UPDATE summaries SET value = -999; END')",
       "holds a trigger 'loud'"},
      // A trigger named like the view (triggers have a namespace of their own), its row before the view's.
      {"CREATE TRIGGER case_summaries AFTER INSERT ON runs BEGIN UPDATE runs SET suite_name = 'x'; END; "
       "PRAGMA writable_schema = ON; CREATE TEMP TABLE v AS SELECT * FROM sqlite_master WHERE type = 'view'; "
       "DELETE FROM sqlite_master WHERE type = 'view'; INSERT INTO sqlite_master SELECT * FROM v",
       "holds a trigger 'case_summaries'"},
      {"PRAGMA writable_schema = ON; INSERT INTO sqlite_master VALUES ('trigger', 'sqlite_hidden', 'runs', 0, "
       "'CREATE TRIGGER sqlite_hidden AFTER INSERT ON runs BEGIN DELETE FROM cases; END')",
       "holds a trigger 'sqlite_hidden'"},
  };
  for (std::size_t i = 0; i < plants.size(); ++i) {
    const auto path = dir.path() / ("p" + std::to_string(i) + ".db");
    { Database made(path, Database::Mode::read_write); }
    sqlite3* raw = nullptr;
    sqlite3_open(path.c_str(), &raw);
    ASSERT_EQ(sqlite3_exec(raw, plants[i].first.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << plants[i].first;
    sqlite3_close(raw);
    for (const auto mode : {Database::Mode::read_write, Database::Mode::read_only}) {
      try {
        Database db(path, mode);
        ADD_FAILURE() << plants[i].first << " was accepted";
      } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find(plants[i].second), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
      }
    }
    Database target(dir.path() / "target.db", Database::Mode::read_write);
    EXPECT_THROW(merge_database(target, path), InputError) << plants[i].first;
  }
  // The same columns without UNIQUE (run_id, case_key): a case could then count twice as a seed.
  {
    const auto path = dir.path() / "unique.db";
    { Database made(path, Database::Mode::read_write); }
    sqlite3* raw = nullptr;
    sqlite3_open(path.c_str(), &raw);
    sqlite3_stmt* q = nullptr;
    sqlite3_prepare_v2(raw, "SELECT sql FROM sqlite_master WHERE name = 'cases'", -1, &q, nullptr);
    ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
    std::string sql = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    const auto unique = sql.find("UNIQUE (run_id, case_key)");
    ASSERT_NE(unique, std::string::npos) << sql;
    sql.erase(sql.rfind(',', unique), unique + std::strlen("UNIQUE (run_id, case_key)") - sql.rfind(',', unique));
    ASSERT_EQ(sqlite3_exec(raw, ("PRAGMA foreign_keys = OFF; DROP TABLE cases; " + sql).c_str(), nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(raw);
    sqlite3_close(raw);
    try {
      Database db(path, Database::Mode::read_only);
      ADD_FAILURE() << "a cases table without its UNIQUE constraint was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("table 'cases' is not rpcbench's (its columns or constraints differ)"),
                std::string::npos)
          << e.what();
    }
  }
  const auto indexed = dir.path() / "indexed.db";
  { Database made(indexed, Database::Mode::read_write); }
  sqlite3* raw = nullptr;
  sqlite3_open(indexed.c_str(), &raw);
  ASSERT_EQ(sqlite3_exec(raw, "CREATE INDEX mine ON summaries (name)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  EXPECT_NO_THROW(Database(indexed, Database::Mode::read_write));
  EXPECT_NO_THROW(Database(indexed, Database::Mode::read_only));
}

// Writes one finished run of FakeRun (two cases, three samples each) into `path`.
void write_run(const std::filesystem::path& path, const std::string& started_at, const std::string& sha) {
  FakeRun run;
  run.info.started_at = started_at;
  run.info.provenance["git_sha"] = sha;
  run.info.provenance["json"] = "{\"git_sha\": \"" + sha + "\"}";
  Database db(path, Database::Mode::read_write);
  SqliteReporter reporter(db);
  reporter.run_started(run.info);
  for (const Case& c : run.cases) {
    reporter.case_started(c);
    reporter.metrics(c, {{0, "mi", 1.0}, {1, "mi", 2.0}, {2, "mi", 3.0}});
    CaseReport report;
    report.c = &c;
    report.status = CaseStatus::finished;
    report.summary = {{"", "final", 3.0}};
    reporter.case_finished(report);
  }
  RunEnd end;
  end.finished_at = started_at;
  reporter.run_finished(end);
}

TEST(Merge, CombinesRunsKeepsProvenanceAndIsIdempotent) {
  test::TempDir dir;
  write_run(dir.path() / "a.db", "2026-01-01T00:00:00.000Z", "aaaa");
  write_run(dir.path() / "b.db", "2026-01-02T00:00:00.000Z", "bbbb");
  Database out(dir.path() / "out.db", Database::Mode::read_write);
  MergeStats first = merge_database(out, dir.path() / "a.db");
  EXPECT_EQ(first.runs_added, 1u);
  EXPECT_EQ(first.samples, 6u);
  merge_database(out, dir.path() / "b.db");
  EXPECT_EQ(count(out, "SELECT count(*) FROM runs"), 2);
  EXPECT_EQ(count(out, "SELECT count(*) FROM cases"), 4);
  EXPECT_EQ(count(out, "SELECT count(*) FROM samples"), 12);
  EXPECT_EQ(count(out, "SELECT count(*) FROM summaries"), 4);
  EXPECT_EQ(count(out, "SELECT count(*) FROM runs WHERE git_sha IN ('aaaa', 'bbbb')"), 2);
  EXPECT_EQ(count(out, "SELECT count(*) FROM run_plugins"), 0);
  // Every case points at a run of its own database, every sample at a case.
  EXPECT_EQ(count(out, "SELECT count(*) FROM cases c JOIN runs r USING (run_id)"), 4);
  EXPECT_EQ(count(out, "SELECT count(*) FROM samples s JOIN cases c USING (case_id)"), 12);
  // Again: nothing changes.
  const MergeStats again = merge_database(out, dir.path() / "a.db");
  EXPECT_EQ(again.runs_added, 0u);
  EXPECT_EQ(again.runs_skipped, 1u);
  EXPECT_EQ(count(out, "SELECT count(*) FROM samples"), 12);
  EXPECT_THROW(merge_database(out, dir.path() / "missing.db"), InputError);
}

// Merges into one output at once: each waits for the other's write, then skips what is there,
// instead of failing at once with "database is locked". The output holds every run once.
TEST(Merge, ConcurrentMergesIntoOneOutputWaitAndSkip) {
  test::TempDir dir;
  for (int i = 0; i < 30; ++i) {
    char started[40];
    std::snprintf(started, sizeof started, "2026-01-%02dT00:00:00.000Z", i + 1);
    write_run(dir.path() / "many.db", started, "sha" + std::to_string(i));
  }
  for (int round = 0; round < 8; ++round) {  // a race: the old code failed about one round in ten
    const auto out = dir.path() / ("out" + std::to_string(round) + ".db");
    std::vector<test::CommandResult> results(3);
    std::vector<std::thread> merges;
    for (auto& r : results)
      merges.emplace_back([&r, &dir, &out] {
        r = test::run_command(test::harness() + " merge " + (dir.path() / "many.db").string() + " -o " + out.string());
      });
    for (auto& m : merges) m.join();
    for (const auto& r : results) EXPECT_EQ(r.exit_code, 0) << r.output;
    Database merged(out, Database::Mode::read_only);
    EXPECT_EQ(count(merged, "SELECT count(*) FROM runs"), 30);
    EXPECT_EQ(count(merged, "SELECT count(DISTINCT git_sha) FROM runs"), 30);
    EXPECT_EQ(count(merged, "SELECT count(*) FROM samples"), 30 * 6);
  }
}

}  // namespace
}  // namespace rpcbench
