#pragma once

#include "report/reporter.hpp"

#include <chrono>
#include <cstdio>

namespace rpcbench {

// Progress on stderr (one rewritten line on a terminal, a line every few seconds otherwise), one
// line per finished case, and the task's tables at the end on stdout.
class ConsoleReporter : public Reporter {
 public:
  explicit ConsoleReporter(std::FILE* out = stdout, std::FILE* err = stderr, bool quiet = false);
  void run_started(const RunInfo& run) override;
  void case_started(const Case& c) override;
  void progress(const Progress& p) override;
  void case_finished(const CaseReport& report) override;
  void run_finished(const RunEnd& end) override;

 private:
  std::FILE* out_;
  std::FILE* err_;
  bool quiet_;
  bool tty_;
  bool line_open_ = false;
  std::size_t case_count_ = 0, cases_done_ = 0;
  double seconds_per_case_ = 0.0;
  std::chrono::steady_clock::time_point last_plain_line_{};
};

void print_table(std::FILE* out, const ResultTable& table);

}  // namespace rpcbench
