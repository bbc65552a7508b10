#include "db/merge.hpp"

#include "util/errors.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace rpcbench {
namespace {

std::vector<std::string> columns(Database& db, const std::string& table, const std::string& skip) {
  std::vector<std::string> out;
  auto s = db.prepare("PRAGMA main.table_info(" + table + ")");
  while (s.step())
    if (s.column_text(1) != skip) out.push_back(s.column_text(1));
  return out;
}

std::string join(const std::vector<std::string>& v, const std::string& prefix = "") {
  std::string out;
  for (const auto& c : v) out += (out.empty() ? "" : ", ") + prefix + c;
  return out;
}

}  // namespace

MergeStats merge_database(Database& target, const std::filesystem::path& source) {
  { Database check(source, Database::Mode::read_only); }  // an rpcbench database, not newer
  MergeStats stats;
  auto attach = target.prepare("ATTACH DATABASE ?1 AS src");
  attach.bind(1, source.string());
  attach.run();
  struct Detach {
    Database& db;
    ~Detach() {
      try {
        db.exec("DETACH DATABASE src");
      } catch (...) {
      }
    }
  } detach{target};

  auto has_table = [&](const char* name) {
    auto q = target.prepare("SELECT count(*) FROM src.sqlite_master WHERE name = ?1");
    q.bind(1, std::string(name));
    q.step();
    return q.column_int(0) > 0;
  };
  const bool source_has_aggregates = has_table("aggregates");  // schema 3 and later
  const bool source_has_shards = has_table("run_shards");      // schema 4 and later
  const auto run_cols = columns(target, "runs", "run_id");
  const auto case_cols = columns(target, "cases", "case_id");
  std::vector<std::int64_t> runs;
  {
    auto s = target.prepare("SELECT run_id FROM src.runs ORDER BY run_id");
    while (s.step()) runs.push_back(s.column_int(0));
  }
  for (std::int64_t run : runs) {
    // The check and the copy in one write transaction: BEGIN IMMEDIATE waits for another writer
    // (a concurrent merge into the same output), then sees what it added. A read before it would
    // pin an older snapshot, which SQLite refuses to upgrade at once ("database is locked").
    Transaction t(target);
    // Already here as a run, or as a shard of a combined run.
    auto exists = target.prepare(
        "SELECT (SELECT count(*) FROM main.runs m JOIN src.runs s ON m.host IS s.host AND m.pid IS s.pid "
        "AND m.started_at = s.started_at AND m.resolved_hash = s.resolved_hash WHERE s.run_id = ?1) + "
        "(SELECT count(*) FROM main.run_shards m JOIN main.runs r USING (run_id) JOIN src.runs s ON m.host IS s.host "
        "AND m.pid IS s.pid AND m.started_at = s.started_at AND r.resolved_hash = s.resolved_hash WHERE s.run_id = ?1)");
    exists.bind(1, run);
    exists.step();
    const bool present = exists.column_int(0) > 0;
    exists.reset();
    if (present) {
      ++stats.runs_skipped;
      continue;
    }
    target.prepare("INSERT INTO main.runs (" + join(run_cols) + ") SELECT " + join(run_cols) +
                   " FROM src.runs WHERE run_id = ?1")
        .bind(1, run)
        .run();
    const std::int64_t new_run = target.last_insert_id();
    target.prepare("INSERT INTO main.run_plugins SELECT ?2, kind, name, version, build_id, path, file_sha256 "
                   "FROM src.run_plugins WHERE run_id = ?1")
        .bind(1, run)
        .bind(2, new_run)
        .run();
    if (source_has_aggregates)
      target.prepare("INSERT INTO main.aggregates SELECT ?2, grouping, scope, name, statistic, value "
                     "FROM src.aggregates WHERE run_id = ?1")
          .bind(1, run)
          .bind(2, new_run)
          .run();
    if (!source_has_aggregates) stats.without_aggregates.push_back(new_run);
    if (source_has_shards)  // a run combined from shards brings each part's provenance
      target.prepare("INSERT INTO main.run_shards SELECT ?2, shard, host, pid, started_at, finished_at, status, provenance "
                     "FROM src.run_shards WHERE run_id = ?1")
          .bind(1, run)
          .bind(2, new_run)
          .run();
    std::vector<std::int64_t> cases;
    {
      auto s = target.prepare("SELECT case_id FROM src.cases WHERE run_id = ?1 ORDER BY case_id");
      s.bind(1, run);
      while (s.step()) cases.push_back(s.column_int(0));
    }
    std::vector<std::string> case_values = case_cols;
    for (auto& c : case_values) c = c == "run_id" ? "?2" : c;
    for (std::int64_t c : cases) {
      target.prepare("INSERT INTO main.cases (" + join(case_cols) + ") SELECT " + join(case_values) +
                     " FROM src.cases WHERE case_id = ?1")
          .bind(1, c)
          .bind(2, new_run)
          .run();
      const std::int64_t new_case = target.last_insert_id();
      target.prepare("INSERT INTO main.samples (case_id, name, step, value) SELECT ?2, name, step, value "
                     "FROM src.samples WHERE case_id = ?1")
          .bind(1, c)
          .bind(2, new_case)
          .run();
      stats.samples += static_cast<std::size_t>(target.changes());
      target.prepare("INSERT INTO main.summaries (case_id, scope, name, value) SELECT ?2, scope, name, value "
                     "FROM src.summaries WHERE case_id = ?1")
          .bind(1, c)
          .bind(2, new_case)
          .run();
      ++stats.cases;
    }
    t.commit();
    ++stats.runs_added;
  }
  return stats;
}

std::vector<std::int64_t> combine_shard_runs(Database& db, std::vector<std::string>* left) {
  struct Part {
    std::int64_t run_id;
    int index;
  };
  // One write transaction for the plan and its changes: a concurrent merge waits, then sees the
  // shards combined.
  Transaction t(db);
  std::map<std::string, std::vector<Part>> by_suite;  // resolved hash + N → parts
  auto s = db.prepare(
      "SELECT run_id, resolved_hash, json_extract(provenance, '$.shard') FROM runs WHERE json_valid(provenance) AND "
      "json_extract(provenance, '$.shard') IS NOT NULL ORDER BY run_id");
  while (s.step()) {
    const std::string shard = s.column_text(2);
    const auto slash = shard.find('/');
    if (slash == std::string::npos) continue;
    by_suite[s.column_text(1) + " " + shard.substr(slash + 1)].push_back({s.column_int(0), std::stoi(shard.substr(0, slash))});
  }
  std::vector<std::int64_t> combined;
  for (const auto& [key, parts] : by_suite) {
    const int count = std::stoi(key.substr(key.rfind(' ') + 1));
    std::set<int> indices;
    for (const Part& p : parts) indices.insert(p.index);
    // Only a complete set, each part once: anything else stays as it is, and is said.
    if (static_cast<int>(parts.size()) != count || static_cast<int>(indices.size()) != count) {
      if (left != nullptr) {
        std::string missing;
        for (int i = 0; i < count; ++i)
          if (indices.count(i) == 0) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
        left->push_back(std::to_string(parts.size()) + " shard run(s) of one suite with N = " + std::to_string(count) +
                        (missing.empty() ? "" : ", missing part(s) " + missing) +
                        (static_cast<int>(parts.size()) > static_cast<int>(indices.size()) ? ", some part twice (two submissions?)" : "") +
                        ": left as separate runs");
      }
      continue;
    }
    const auto first = std::min_element(parts.begin(), parts.end(), [](const Part& a, const Part& b) { return a.index < b.index; });
    const std::int64_t keep = first->run_id;
    for (const Part& p : parts) {
      db.prepare("INSERT INTO run_shards (run_id, shard, host, pid, started_at, finished_at, status, provenance) "
                 "SELECT ?1, json_extract(provenance, '$.shard'), host, pid, started_at, finished_at, status, provenance "
                 "FROM runs WHERE run_id = ?2")
          .bind(1, keep)
          .bind(2, p.run_id)
          .run();
      if (p.run_id == keep) continue;
      db.prepare("UPDATE cases SET run_id = ?1 WHERE run_id = ?2").bind(1, keep).bind(2, p.run_id).run();
      db.prepare("DELETE FROM runs WHERE run_id = ?1").bind(1, p.run_id).run();
    }
    // The combined run: finished only if every part finished; it ends when the last part ended.
    db.prepare("UPDATE runs SET status = (SELECT CASE WHEN min(status = 'finished') = 1 THEN 'finished' ELSE "
               "'failed' END FROM run_shards WHERE run_id = ?1), finished_at = (SELECT max(finished_at) FROM run_shards "
               "WHERE run_id = ?1), provenance = json_set(provenance, '$.shard', 'all ' || ?2 || ' merged') WHERE run_id = ?1")
        .bind(1, keep)
        .bind(2, static_cast<std::int64_t>(count))
        .run();
    combined.push_back(keep);
  }
  t.commit();
  return combined;
}

}  // namespace rpcbench
