#pragma once

#include "db/database.hpp"
#include "report/reporter.hpp"

#include <map>
#include <optional>
#include <set>

namespace rpcbench {

// Writes runs, cases, samples and summaries. A case's samples are committed in batches as they
// arrive; its status and summaries in one transaction at its end. A case that never ends (the
// process was killed) keeps its samples and is marked 'killed' by the next writer.
class SqliteReporter : public Reporter {
 public:
  // resume_run_id: continue that run (see prepare_resume) instead of inserting a new one.
  SqliteReporter(Database& db, std::optional<std::int64_t> resume_run_id = std::nullopt);
  std::int64_t run_id() const { return run_id_; }

  void run_started(const RunInfo& run) override;
  void case_started(const Case& c) override;
  void metrics(const Case& c, const std::vector<MetricSample>& samples) override;
  void case_finished(const CaseReport& report) override;
  void run_finished(const RunEnd& end) override;

 private:
  Database& db_;
  std::int64_t run_id_ = 0;
  bool resuming_ = false;
  std::string device_;
  std::int64_t threads_ = 0;
  std::map<std::size_t, std::int64_t> case_ids_;  // case index → case_id
};

// Runs left 'running' by a process of this host that no longer exists become 'killed'.
void mark_abandoned_runs(Database& db);

struct ResumePoint {
  std::int64_t run_id;
  std::set<std::string> completed_case_keys;  // finished or diverged: not run again
  std::map<std::string, CaseReport> completed;  // their recorded outcomes (c unset), by case key
};
// The latest unfinished run of the same resolved suite; its incomplete cases are deleted so
// they run again. nullopt when there is none.
// `ensemble`: the mode of this run ("auto" or "off"); a run started in the other is refused (a run
// recorded before ensembles counts as "off"). nullopt: the mode does not matter (nothing groups).
std::optional<ResumePoint> prepare_resume(Database& db, const Suite& suite, const std::optional<std::string>& ensemble);

// Whether the latest run of this resolved suite in `db` finished (a group's --resume skips it).
bool latest_run_finished(Database& db, const Suite& suite);

}  // namespace rpcbench
