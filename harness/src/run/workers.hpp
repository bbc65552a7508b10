// `harness run --jobs N`: N units at once (a case, or an ensemble's members: plan_units), each in a
// worker process of its own (the harness binary itself, run with one --worker-case KEY per case), so
// every unit runs exactly as it would in a --jobs 1 run: its own thread settings, global RNG and
// LibTorch state. A worker writes its events as JSON lines on
// stdout; the parent is the only writer of the database and the console, and forwards each event to
// its reporters.
#pragma once

#include "report/reporter.hpp"
#include "run/runner.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace rpcbench {

// The descriptor a worker writes its events to (its stdout goes to the parent's stderr).
inline constexpr int kEventsDescriptor = 3;

// The worker's side: every event as one JSON line (non-finite numbers as "nan", "inf", "-inf").
class PipeReporter : public Reporter {
 public:
  explicit PipeReporter(std::FILE* out) : out_(out) {}
  void run_started(const RunInfo&) override {}
  void case_started(const Case& c) override;
  void metrics(const Case& c, const std::vector<MetricSample>& samples) override;
  void progress(const Progress& p) override;
  void case_finished(const CaseReport& report) override;
  void run_finished(const RunEnd&) override {}

 private:
  void line(const std::string& text);
  std::FILE* out_;
};

// The parent's side: runs `cases` (those not skipped) in at most `jobs` workers, one per unit, each
// started as `worker_command` + {"--worker-case", key, "--worker-config-hash", hash} per case,
// forwarding their events (each names its case) to `reporter`. A worker that dies without reporting
// a case (a crash, a kill) leaves that case failed with the reason. On a
// stop request no new worker starts and the running ones are asked to stop (SIGTERM).
RunEnd run_suite_in_workers(RunRequest& request, const std::vector<Case>& cases, Reporter& reporter, int jobs,
                            const std::vector<std::string>& worker_command);

}  // namespace rpcbench
