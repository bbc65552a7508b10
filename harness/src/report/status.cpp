#include "report/reporter.hpp"

namespace rpcbench {

const char* to_string(CaseStatus status) {
  switch (status) {
    case CaseStatus::running: return "running";
    case CaseStatus::finished: return "finished";
    case CaseStatus::failed: return "failed";
    case CaseStatus::diverged: return "diverged";
    case CaseStatus::killed: return "killed";
    case CaseStatus::skipped: return "skipped";
  }
  return "unknown";
}

CaseStatus case_status_from(const std::string& text) {
  for (CaseStatus s : {CaseStatus::running, CaseStatus::finished, CaseStatus::failed, CaseStatus::diverged,
                       CaseStatus::killed, CaseStatus::skipped})
    if (text == to_string(s)) return s;
  return CaseStatus::failed;
}

}  // namespace rpcbench
