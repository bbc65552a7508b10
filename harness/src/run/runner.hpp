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
};

RunEnd run_suite(RunRequest& request, const std::vector<Case>& cases, Reporter& reporter);

// One case through its task, a failure inside it caught and recorded as data.
CaseReport run_case(RunRequest& request, const Case& c, Reporter& reporter);

// The end of a run over `reports` (every case, in suite order): the task's tables, the aggregates
// and their tables, then run_finished.
RunEnd finish_run(RunRequest& request, std::vector<CaseReport>& reports, Reporter& reporter, CaseStatus status);

// SIGINT/SIGTERM set the returned flag; the running case stops at its next step, is recorded as
// 'killed', and the run ends cleanly.
const std::atomic<bool>& install_stop_handlers();

}  // namespace rpcbench
