// One way to run a loaded suite, shared by the verbs that run one (`run`, `estimate`).
#pragma once

#include "cli/commands.hpp"
#include "report/reporter.hpp"
#include "run/environment.hpp"
#include "suite/suite.hpp"
#include "tasks/task.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace rpcbench::cli {

// One suite, loaded and checked, ready to run.
struct PreparedRun {
  Suite suite;
  const Task* task = nullptr;
  std::vector<Case> cases;
  std::string json_path;
};

// Its cases (the --shard part of them when args.shard is set).
PreparedRun prepare_suite(Suite suite, const RunArgs& args, const TaskCatalog& tasks);

struct ExecuteOutput {
  std::FILE* console = stdout;  // result tables (`estimate` keeps stdout for its number)
  Reporter* extra = nullptr;    // one more consumer of the run's events
};

// Records the run in args.db (SQLite), the console and args.json; returns the exit code.
int execute(PreparedRun& p, const RunArgs& args, const std::string& command_line, const torch::Device& device,
            const ThreadSettings& threads, PluginRegistry& registry, bool skip_if_finished, const ExecuteOutput& output);

}  // namespace rpcbench::cli
