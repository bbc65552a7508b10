// The run loop: one case at a time, seeded, each failure recorded as data while the suite goes on.
#pragma once

#include "plugin/registry.hpp"
#include "report/reporter.hpp"
#include "suite/suite.hpp"
#include "tasks/task.hpp"

#include <atomic>
#include <map>
#include <set>

namespace rpcbench {

// `--ensemble`: off runs every case alone; automatic trains the cases a task can group
// (Task::ensemble_slot) together.
enum class EnsembleMode { off, automatic };

struct RunRequest {
  const Suite* suite = nullptr;
  const Task* task = nullptr;
  const PluginRegistry* registry = nullptr;
  torch::Device device = torch::kCPU;
  RunInfo info;                              // provenance, filled by the caller
  std::set<std::string> skip_case_keys;      // completed in the run being resumed
  std::map<std::string, CaseReport> completed;  // their recorded outcomes, by case key
  const std::atomic<bool>* stop_requested = nullptr;
  std::filesystem::path checkpoint_dir;
  bool resuming = false;
  EnsembleMode ensemble = EnsembleMode::off;
};

RunEnd run_suite(RunRequest& request, const std::vector<Case>& cases, Reporter& reporter);

// One case through its task, a failure inside it caught and recorded as data.
CaseReport run_case(RunRequest& request, const Case& c, Reporter& reporter);

// What runs at once: `cases` (suite order) in units of one case, or, with EnsembleMode::automatic,
// the cases of one ensemble key, in order of their first case. A key's cases are split into
// near-equal parts of at most its max_members, and into at least `parts` (--jobs) when it has that
// many, so that every worker gets some. A member's results (its timing aside) do not depend on which
// others share its ensemble.
std::vector<std::vector<const Case*>> plan_units(const RunRequest& request, const std::vector<const Case*>& cases,
                                                 std::size_t parts = 1);

// One unit: the task's run_ensemble (with EnsembleMode::automatic, for cases the task groups, one
// case included), else run_case; one report per case, in order.
std::vector<CaseReport> run_unit(RunRequest& request, const std::vector<const Case*>& unit, Reporter& reporter);

// The end of a run over `reports` (every case, in suite order): the task's tables, the aggregates
// and their tables, then run_finished.
RunEnd finish_run(RunRequest& request, std::vector<CaseReport>& reports, Reporter& reporter, CaseStatus status);

// SIGINT/SIGTERM set the returned flag; the running case stops at its next step, is recorded as
// 'killed', and the run ends cleanly.
const std::atomic<bool>& install_stop_handlers();

}  // namespace rpcbench
