// The run loop emits events; reporters (SQLite, console, JSON) consume them.
#pragma once

#include "suite/suite.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rpcbench {

enum class CaseStatus { running, finished, failed, diverged, killed, skipped };
const char* to_string(CaseStatus status);
// The status named by `text` (as to_string writes it); failed for anything else.
CaseStatus case_status_from(const std::string& text);

struct MetricSample {
  std::int64_t step;
  std::string name;
  double value;
};

// Per-case summary: `group` scopes a value ("mi=4" for one staircase level, "" for the case).
struct SummaryValue {
  std::string group;
  std::string name;
  double value;
};

struct RunInfo {
  const Suite* suite = nullptr;
  std::size_t case_count = 0;
  std::string started_at;
  std::map<std::string, std::string> provenance;  // git, versions, compiler, CPU, threads, …
  std::vector<const PluginDescriptor*> plugins;   // those the suite uses
};

struct CaseReport {
  const Case* c = nullptr;
  CaseStatus status = CaseStatus::running;
  std::string message;
  std::optional<std::int64_t> stopped_step;  // the step a diverged or killed case stopped at
  std::vector<SummaryValue> summary;
  std::string started_at, finished_at;
  double wall_seconds = 0.0;
};

struct Progress {
  const Case* c = nullptr;
  std::int64_t step = 0, total_steps = 0;
  double steps_per_second = 0.0;
};

// A table the task renders from its cases at the end of a run (console, report).
struct ResultTable {
  std::string title;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes;
};

// A statistic over several cases (computed by the runner from their summaries): over the seeds of
// one grid point (`grouping` = the case group key), or across an axis of the grid
// (`grouping` = the group key without that axis, statistic "slope_log2(batch_size)" …).
struct AggregateValue {
  std::string grouping, scope, name, statistic;
  double value;
};

struct RunEnd {
  CaseStatus status = CaseStatus::finished;  // finished, failed (a case failed) or killed
  std::string finished_at;
  std::vector<ResultTable> tables;
  std::vector<AggregateValue> aggregates;
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void run_started(const RunInfo& run) = 0;
  virtual void case_started(const Case& c) { (void)c; }
  // Called in batches during a case; each call is one transaction in the database.
  virtual void metrics(const Case& c, const std::vector<MetricSample>& samples) {
    (void)c, (void)samples;
  }
  virtual void progress(const Progress& p) { (void)p; }
  virtual void case_finished(const CaseReport& report) = 0;
  virtual void run_finished(const RunEnd& end) = 0;
};

// Fans every event out to several reporters, in order.
class ReporterList : public Reporter {
 public:
  void add(Reporter* r) { reporters_.push_back(r); }
  void run_started(const RunInfo& run) override { for (auto* r : reporters_) r->run_started(run); }
  void case_started(const Case& c) override { for (auto* r : reporters_) r->case_started(c); }
  void metrics(const Case& c, const std::vector<MetricSample>& s) override {
    for (auto* r : reporters_) r->metrics(c, s);
  }
  void progress(const Progress& p) override { for (auto* r : reporters_) r->progress(p); }
  void case_finished(const CaseReport& c) override {
    for (auto* r : reporters_) r->case_finished(c);
  }
  void run_finished(const RunEnd& e) override { for (auto* r : reporters_) r->run_finished(e); }

 private:
  std::vector<Reporter*> reporters_;
};

}  // namespace rpcbench
