#include "report/json_reporter.hpp"

#include "util/atomic_file.hpp"

#include <cmath>
#include <fstream>

namespace rpcbench {

JsonReporter::JsonReporter(std::filesystem::path path) : path_(std::move(path)) {}

void JsonReporter::run_started(const RunInfo& run) {
  doc_ = nlohmann::json{{"schema", 1},
                        {"suite", nlohmann::json::parse(run.suite->resolved_text)},
                        {"provenance", run.provenance},
                        {"started_at", run.started_at},
                        {"cases", nlohmann::json::array()}};
  doc_["provenance"].erase("json");
}

void JsonReporter::case_finished(const CaseReport& report) {
  nlohmann::json summary = nlohmann::json::object();
  for (const auto& v : report.summary) {
    auto& slot = v.group.empty() ? summary[v.name] : summary[v.group][v.name];
    slot = std::isfinite(v.value) ? nlohmann::json(v.value) : nlohmann::json(nullptr);
  }
  nlohmann::json c{{"key", report.c->key},
                   {"seed", report.c->seed},
                   {"config_hash", report.c->config_hash},
                   {"status", to_string(report.status)},
                   {"message", report.message},
                   {"wall_seconds", report.wall_seconds},
                   {"summary", summary}};
  if (report.stopped_step) c["stopped_step"] = *report.stopped_step;
  doc_["cases"].push_back(c);
}

void JsonReporter::run_finished(const RunEnd& end) {
  doc_["status"] = to_string(end.status);
  doc_["finished_at"] = end.finished_at;
  for (const auto& t : end.tables)
    doc_["tables"].push_back({{"title", t.title}, {"columns", t.columns}, {"rows", t.rows}, {"notes", t.notes}});
  // Written whole to a temporary name first: a reader never sees half a file.
  write_file_atomically(path_, doc_.dump(2) + "\n");
}

}  // namespace rpcbench
