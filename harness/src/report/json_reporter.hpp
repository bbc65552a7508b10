#pragma once

#include "report/reporter.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

namespace rpcbench {

// Writes one JSON document at the end of the run: provenance, cases with status and summaries,
// and the tables. Per-step samples stay in the database.
class JsonReporter : public Reporter {
 public:
  explicit JsonReporter(std::filesystem::path path);
  void run_started(const RunInfo& run) override;
  void case_finished(const CaseReport& report) override;
  void run_finished(const RunEnd& end) override;

 private:
  std::filesystem::path path_;
  nlohmann::json doc_;
};

}  // namespace rpcbench
