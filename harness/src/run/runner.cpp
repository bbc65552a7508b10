#include "run/runner.hpp"

#include "run/aggregates.hpp"
#include "run/environment.hpp"
#include "util/errors.hpp"
#include "util/hash.hpp"

#include <c10/util/Exception.h>

#include <algorithm>
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

std::vector<std::vector<const Case*>> plan_units(const RunRequest& request, const std::vector<const Case*>& cases,
                                                 std::size_t parts) {
  std::vector<std::vector<const Case*>> groups;
  std::vector<std::size_t> max_members;
  std::map<std::string, std::size_t> group_of_key;
  for (const Case* c : cases) {
    Task::EnsembleSlot slot;
    if (request.ensemble == EnsembleMode::automatic) {
      try {
        slot = request.task->ensemble_slot(*c, *request.registry);
      } catch (const std::exception&) {
        slot = {};  // a plugin that fails here fails its case alone, where the failure is recorded
      }
    }
    if (slot.key.empty()) {
      groups.push_back({c});
      max_members.push_back(1);
      continue;
    }
    auto [it, added] = group_of_key.emplace(slot.key, groups.size());
    if (added) {
      groups.emplace_back();
      max_members.push_back(std::max<std::size_t>(slot.max_members, 1));
    }
    groups[it->second].push_back(c);
  }
  std::vector<std::vector<const Case*>> units;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto& group = groups[g];
    // Near-equal parts, in order: ceil(n / max) of them, or `parts` when the group has that many.
    const std::size_t n = group.size();
    const std::size_t count = std::max((n + max_members[g] - 1) / max_members[g], std::min(parts, n));
    std::size_t begin = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t end = begin + n / count + (i < n % count ? 1 : 0);
      units.emplace_back(group.begin() + static_cast<long>(begin), group.begin() + static_cast<long>(end));
      begin = end;
    }
  }
  return units;
}

std::vector<CaseReport> run_unit(RunRequest& request, const std::vector<const Case*>& unit, Reporter& reporter) {
  // A case the task can group trains as an ensemble even alone (an ensemble of one), so that its
  // values are the same in any grouping (--jobs, --shard, --resume split the groups differently).
  if (unit.size() == 1) {
    bool groupable = false;
    if (request.ensemble == EnsembleMode::automatic) {
      try {
        groupable = !request.task->ensemble_slot(*unit.front(), *request.registry).key.empty();
      } catch (const std::exception&) {
        groupable = false;  // run alone, where the failure is recorded
      }
    }
    if (!groupable) return {run_case(request, *unit.front(), reporter)};
  }
  static const std::atomic<bool> never{false};
  const std::atomic<bool>& stop = request.stop_requested ? *request.stop_requested : never;
  std::vector<CaseReport> reports(unit.size());
  std::vector<bool> done(unit.size(), false);
  std::vector<CaseRun> members;
  std::vector<std::size_t> member_case;  // members[i] is unit[member_case[i]]
  const auto start = std::chrono::steady_clock::now();
  auto finish = [&](std::size_t i, CaseStatus status, std::string message) {
    reports[i].status = status;
    reports[i].message = std::move(message);
    reports[i].finished_at = utc_now();
    reporter.case_finished(reports[i]);
    done[i] = true;
  };
  for (std::size_t i = 0; i < unit.size(); ++i) {
    const Case& c = *unit[i];
    reporter.case_started(c);
    reports[i].c = &c;
    reports[i].started_at = utc_now();
    try {
      check_files_unchanged(c);
    } catch (const std::exception& e) {
      finish(i, CaseStatus::failed, e.what());
      continue;
    }
    members.push_back(CaseRun{*request.suite, c, *request.registry, request.device, reporter, stop,
                              request.checkpoint_dir, request.resuming});
    member_case.push_back(i);
  }
  // A member's wall time is its share of the ensemble's (CaseOutcome::seconds); a member the task
  // did not report gets the time until the ensemble ended over the members.
  auto elapsed_share = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
           static_cast<double>(std::max<std::size_t>(members.size(), 1));
  };
  std::string failure;
  try {
    if (!members.empty())
      request.task->run_ensemble(members, [&](std::size_t member, CaseOutcome outcome) {
        const std::size_t i = member_case.at(member);
        RPCBENCH_CHECK(!done[i], "ensemble member '" + unit[i]->key + "' finished twice");
        reports[i].stopped_step = outcome.stopped_step;
        reports[i].summary = std::move(outcome.summary);
        reports[i].wall_seconds = outcome.seconds.value_or(elapsed_share());
        finish(i, outcome.status, std::move(outcome.message));
      });
  } catch (const c10::Error& e) {
    failure = first_line(e.what_without_backtrace());
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  for (std::size_t i = 0; i < unit.size(); ++i) {
    if (done[i]) continue;
    reports[i].wall_seconds = elapsed_share();
    finish(i, CaseStatus::failed, failure.empty() ? "the ensemble ended without reporting this member" : failure);
  }
  return reports;
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
  std::vector<const Case*> to_run;
  for (const Case& c : cases) {
    if (request.skip_case_keys.count(c.key) == 0) {
      to_run.push_back(&c);
      continue;
    }
    // Completed in the run being resumed: its recorded outcome joins the tables and aggregates.
    auto done = request.completed.find(c.key);
    if (done != request.completed.end()) {
      CaseReport report = done->second;
      report.c = &c;
      reports.push_back(std::move(report));
    }
  }
  for (const auto& unit : plan_units(request, to_run)) {
    if (stop.load()) break;
    for (CaseReport& report : run_unit(request, unit, reporter)) {
      if (report.status == CaseStatus::failed) status = CaseStatus::failed;
      reports.push_back(std::move(report));
    }
  }
  // Tables and aggregates see the cases in suite order.
  std::stable_sort(reports.begin(), reports.end(),
                   [](const CaseReport& a, const CaseReport& b) { return a.c->index < b.c->index; });
  if (stop.load()) status = CaseStatus::killed;
  return finish_run(request, reports, reporter, status);
}

}  // namespace rpcbench
