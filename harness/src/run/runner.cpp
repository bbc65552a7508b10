#include "run/runner.hpp"

#include "run/aggregates.hpp"
#include "run/environment.hpp"
#include "util/hash.hpp"

#include <c10/util/Exception.h>

#include <chrono>
#include <csignal>

namespace rpcbench {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) { g_stop.store(true); }

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// A case runs on the files the suite was loaded with: one edited since is a failed case, not a
// result recorded under the old file's hash.
void check_files_unchanged(const Case& c) {
  for (const auto* use : {c.dataset.get(), c.encoder.get(), c.objective.get()}) {
    if (use == nullptr) continue;
    for (const auto& [key, file] : use->files) {
      const std::string& path = use->params.get_string(key);
      std::string now;
      try {
        now = sha256_file(path);
      } catch (const std::exception& e) {
        throw std::runtime_error("'" + use->label + "' parameter '" + key + "': " + e.what());
      }
      if (now != file.sha256)
        throw std::runtime_error("'" + use->label + "' parameter '" + key + "': " + path +
                                 " changed since the suite was loaded (SHA-256 " + file.sha256.substr(0, 12) + "… → " +
                                 now.substr(0, 12) + "…)");
    }
  }
}

}  // namespace

const std::atomic<bool>& install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  return g_stop;
}

CaseReport run_case(RunRequest& request, const Case& c, Reporter& reporter) {
  static const std::atomic<bool> never{false};
  const std::atomic<bool>& stop = request.stop_requested ? *request.stop_requested : never;
  reporter.case_started(c);
  CaseReport report;
  report.c = &c;
  report.started_at = utc_now();
  const auto start = std::chrono::steady_clock::now();
  try {
    check_files_unchanged(c);
    CaseRun run{*request.suite, c, *request.registry, request.device, reporter, stop, request.checkpoint_dir,
                request.resuming};
    CaseOutcome outcome = request.task->run(run);
    report.status = outcome.status;
    report.message = std::move(outcome.message);
    report.stopped_step = outcome.stopped_step;
    report.summary = std::move(outcome.summary);
  } catch (const c10::Error& e) {
    report.status = CaseStatus::failed;
    report.message = first_line(e.what_without_backtrace());
  } catch (const std::exception& e) {
    report.status = CaseStatus::failed;
    report.message = e.what();
  } catch (...) {
    report.status = CaseStatus::failed;
    report.message = "unknown exception";
  }
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.finished_at = utc_now();
  reporter.case_finished(report);
  return report;
}

RunEnd finish_run(RunRequest& request, std::vector<CaseReport>& reports, Reporter& reporter, CaseStatus status) {
  RunEnd end;
  end.status = status;
  end.tables = request.task->tables(*request.suite, reports);
  const std::vector<HeadlineMetric> headline = request.task->headline_metrics();
  end.aggregates = compute_aggregates(*request.suite, reports, headline);
  for (auto& table : aggregate_tables(*request.suite, reports, end.aggregates, headline))
    end.tables.push_back(std::move(table));
  end.finished_at = utc_now();
  reporter.run_finished(end);
  return end;
}

RunEnd run_suite(RunRequest& request, const std::vector<Case>& cases, Reporter& reporter) {
  static const std::atomic<bool> never{false};
  const std::atomic<bool>& stop = request.stop_requested ? *request.stop_requested : never;
  request.info.suite = request.suite;
  request.info.case_count = cases.size();
  reporter.run_started(request.info);

  CaseStatus status = CaseStatus::finished;
  std::vector<CaseReport> reports;
  for (const Case& c : cases) {
    if (stop.load()) break;
    if (request.skip_case_keys.count(c.key) != 0) {
      // Completed in the run being resumed: its recorded outcome joins the tables and aggregates.
      auto done = request.completed.find(c.key);
      if (done != request.completed.end()) {
        CaseReport report = done->second;
        report.c = &c;
        reports.push_back(std::move(report));
      }
      continue;
    }
    reports.push_back(run_case(request, c, reporter));
    if (reports.back().status == CaseStatus::failed) status = CaseStatus::failed;
  }
  if (stop.load()) status = CaseStatus::killed;
  return finish_run(request, reports, reporter, status);
}

}  // namespace rpcbench
