#include "report/sqlite_reporter.hpp"

#include "util/errors.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <fstream>

namespace rpcbench {
namespace {

std::string get(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

// Alive and not a zombie: a killed process whose parent has not reaped it no longer runs.
bool process_running(pid_t pid) {
  if (kill(pid, 0) != 0) return errno != ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

std::string hostname() {
  char buffer[256] = {};
  gethostname(buffer, sizeof buffer - 1);
  return buffer;
}

}  // namespace

SqliteReporter::SqliteReporter(Database& db, std::optional<std::int64_t> resume_run_id)
    : db_(db), run_id_(resume_run_id.value_or(0)), resuming_(resume_run_id.has_value()) {}

void SqliteReporter::run_started(const RunInfo& run) {
  const auto& p = run.provenance;
  const Suite& suite = *run.suite;
  device_ = get(p, "device");
  threads_ = std::stoll(get(p, "threads"));
  Transaction t(db_);
  if (resuming_) {
    db_.prepare("UPDATE runs SET status = 'running', message = 'resumed', pid = ?2, "
                "finished_at = NULL WHERE run_id = ?1")
        .bind(1, run_id_)
        .bind(2, static_cast<std::int64_t>(getpid()))
        .run();
  } else {
    auto s = db_.prepare(
        "INSERT INTO runs (suite_name, suite_path, suite_sha256, profile, task, seed, "
        "resolved_suite, resolved_hash, git_sha, git_dirty, harness_version, libtorch_version, "
        "compiler, build_type, cpu_model, host, device, threads, blas, command_line, pid, "
        "provenance, started_at, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
        "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, 'running')");
    s.bind(1, suite.name).bind(2, suite.path.string()).bind(3, suite.file_sha256);
    s.bind(4, suite.profile).bind(5, suite.task).bind(6, static_cast<std::int64_t>(suite.seed));
    s.bind(7, suite.resolved_text).bind(8, suite.resolved_hash).bind(9, get(p, "git_sha"));
    s.bind(10, static_cast<std::int64_t>(get(p, "git_dirty") == "1"));
    s.bind(11, get(p, "harness_version")).bind(12, get(p, "libtorch_version"));
    s.bind(13, get(p, "compiler")).bind(14, get(p, "build_type")).bind(15, get(p, "cpu_model"));
    s.bind(16, get(p, "host")).bind(17, device_).bind(18, threads_).bind(19, get(p, "blas"));
    s.bind(20, get(p, "command_line")).bind(21, static_cast<std::int64_t>(getpid()));
    s.bind(22, get(p, "json")).bind(23, run.started_at);
    s.run();
    run_id_ = db_.last_insert_id();
  }
  auto plugin = db_.prepare(
      "INSERT OR REPLACE INTO run_plugins (run_id, kind, name, version, build_id, path, "
      "file_sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  for (const PluginDescriptor* d : run.plugins) {
    plugin.bind(1, run_id_).bind(2, std::string(to_string(d->kind))).bind(3, d->name);
    plugin.bind(4, d->version).bind(5, d->build_id).bind(6, d->path.string()).bind(7, d->file_sha256);
    plugin.run();
  }
  t.commit();
}

void SqliteReporter::case_started(const Case& c) {
  Transaction t(db_);
  auto s = db_.prepare(
      "INSERT INTO cases (run_id, case_key, dataset, encoder, objective, repeat, seed, "
      "config_text, config_hash, device, threads, started_at, status) VALUES (?1, ?2, ?3, ?4, "
      "?5, ?6, ?7, ?8, ?9, ?10, ?11, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'running')");
  s.bind(1, run_id_).bind(2, c.key).bind(3, c.dataset->label).bind(4, c.encoder->label);
  s.bind(5, objective_label(c)).bind(6, c.repeat).bind(7, static_cast<std::int64_t>(c.seed));
  s.bind(8, c.config_text).bind(9, c.config_hash).bind(10, device_).bind(11, threads_);
  s.run();
  case_ids_[c.index] = db_.last_insert_id();
  t.commit();
}

void SqliteReporter::metrics(const Case& c, const std::vector<MetricSample>& samples) {
  const std::int64_t case_id = case_ids_.at(c.index);
  Transaction t(db_);
  auto s = db_.prepare("INSERT OR REPLACE INTO samples (case_id, name, step, value) VALUES (?1, ?2, ?3, ?4)");
  for (const auto& m : samples) {
    s.bind(1, case_id).bind(2, m.name).bind(3, m.step).bind(4, m.value);
    s.run();
  }
  t.commit();
}

void SqliteReporter::case_finished(const CaseReport& report) {
  auto it = case_ids_.find(report.c->index);
  if (it == case_ids_.end()) return;  // never started (skipped on resume)
  const std::int64_t case_id = it->second;
  Transaction t(db_);
  auto s = db_.prepare(
      "UPDATE cases SET status = ?2, message = ?3, stopped_step = ?4, wall_seconds = ?5, "
      "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE case_id = ?1");
  s.bind(1, case_id).bind(2, std::string(to_string(report.status))).bind(3, report.message);
  if (report.stopped_step) s.bind(4, *report.stopped_step); else s.bind_null(4);
  s.bind(5, report.wall_seconds);
  s.run();
  auto v = db_.prepare("INSERT OR REPLACE INTO summaries (case_id, scope, name, value) VALUES (?1, ?2, ?3, ?4)");
  for (const auto& sv : report.summary) {
    v.bind(1, case_id).bind(2, sv.group).bind(3, sv.name).bind(4, sv.value);
    v.run();
  }
  t.commit();
}

void SqliteReporter::run_finished(const RunEnd& end) {
  Transaction t(db_);
  // Aggregates are over every case of the run, so a resumed run recomputes them all.
  db_.prepare("DELETE FROM aggregates WHERE run_id = ?1").bind(1, run_id_).run();
  auto a = db_.prepare("INSERT OR REPLACE INTO aggregates (run_id, grouping, scope, name, statistic, value) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  for (const auto& v : end.aggregates) {
    a.bind(1, run_id_).bind(2, v.grouping).bind(3, v.scope).bind(4, v.name).bind(5, v.statistic).bind(6, v.value);
    a.run();
  }
  db_.prepare("UPDATE runs SET status = ?2, finished_at = ?3, message = ?4 WHERE run_id = ?1")
      .bind(1, run_id_)
      .bind(2, std::string(to_string(end.status)))
      .bind(3, end.finished_at)
      .bind(4, end.status == CaseStatus::finished ? std::string() : std::string("see cases"))
      .run();
  t.commit();
}

void mark_abandoned_runs(Database& db) {
  auto runs = db.prepare("SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ?1");
  runs.bind(1, hostname());
  std::vector<std::int64_t> abandoned;
  while (runs.step()) {
    const auto pid = static_cast<pid_t>(runs.column_int(1));
    if (pid != getpid() && !process_running(pid)) abandoned.push_back(runs.column_int(0));
  }
  if (abandoned.empty()) return;
  Transaction t(db);
  for (std::int64_t id : abandoned) {
    db.prepare("UPDATE cases SET status = 'killed', message = 'the process ended during this "
               "case (killed or crashed)' WHERE run_id = ?1 AND status = 'running'")
        .bind(1, id)
        .run();
    db.prepare("UPDATE runs SET status = 'killed', message = 'the process ended before the run "
               "finished' WHERE run_id = ?1")
        .bind(1, id)
        .run();
  }
  t.commit();
}

std::optional<ResumePoint> prepare_resume(Database& db, const Suite& suite, const std::optional<std::string>& ensemble) {
  auto s = db.prepare(
      "SELECT run_id, status, host, pid, coalesce(CASE WHEN json_valid(provenance) THEN json_extract(provenance, '$.ensemble') END, 'off') FROM runs "
      "WHERE resolved_hash = ?1 AND status != 'finished' ORDER BY started_at DESC, run_id DESC LIMIT 1");
  s.bind(1, suite.resolved_hash);
  if (!s.step()) return std::nullopt;
  ResumePoint point{s.column_int(0), {}, {}};
  // Two processes writing one run would interleave their cases: a run still in progress is not
  // resumable. (mark_abandoned_runs has already marked this host's dead runs 'killed'.)
  if (s.column_text(1) == "running") {
    const std::string host = s.column_text(2), id = std::to_string(point.run_id), pid = std::to_string(s.column_int(3));
    if (host == hostname())
      throw InputError("--resume: run " + id + " is still running under pid " + pid +
                       " on this host; wait for it or stop it (kill -INT " + pid + ") first");
    throw InputError("--resume: run " + id + " is marked running by pid " + pid + " on host '" + host +
                     "', which this host cannot check; resume it there");
  }
  // Ensembles and single cases differ in float rounding: one run's cases come from one mode.
  if (ensemble && s.column_text(4) != *ensemble)
    throw InputError("--resume: run " + std::to_string(point.run_id) + " was started with --ensemble " + s.column_text(4) +
                     "; resume it with --ensemble " + s.column_text(4) + " (or start a new run without --resume)");
  Transaction t(db);
  auto done = db.prepare(
      "SELECT case_id, case_key, status, message, stopped_step, wall_seconds, started_at, finished_at FROM cases "
      "WHERE run_id = ?1 AND status IN ('finished', 'diverged')");
  done.bind(1, point.run_id);
  while (done.step()) {
    const std::string key = done.column_text(1);
    point.completed_case_keys.insert(key);
    CaseReport& report = point.completed[key];
    report.status = case_status_from(done.column_text(2));
    report.message = done.column_text(3);
    if (!done.is_null(4)) report.stopped_step = done.column_int(4);
    report.wall_seconds = done.column_double(5);
    report.started_at = done.column_text(6);
    report.finished_at = done.column_text(7);
    auto summary = db.prepare("SELECT scope, name, value FROM summaries WHERE case_id = ?1 ORDER BY scope, name");
    summary.bind(1, done.column_int(0));
    while (summary.step())
      report.summary.push_back({summary.column_text(0), summary.column_text(1),
                                summary.is_null(2) ? NAN : summary.column_double(2)});
  }
  // ON DELETE CASCADE takes their samples and summaries along.
  db.prepare("DELETE FROM cases WHERE run_id = ?1 AND status NOT IN ('finished', 'diverged')")
      .bind(1, point.run_id)
      .run();
  t.commit();
  return point;
}

bool latest_run_finished(Database& db, const Suite& suite) {
  auto s = db.prepare("SELECT status FROM runs WHERE resolved_hash = ?1 ORDER BY started_at DESC, run_id DESC LIMIT 1");
  s.bind(1, suite.resolved_hash);
  return s.step() && s.column_text(0) == "finished";
}

}  // namespace rpcbench
