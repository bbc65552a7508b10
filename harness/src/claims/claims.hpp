// The RPC paper's three claims, checked against the results in a database: for each claim, the
// latest finished run of every suite that declares it as its evidence (`[suite] evidence`), the
// metric, the subject's value and each baseline's with 95% intervals, and a verdict per pair.
#pragma once

#include "db/database.hpp"

#include <string>
#include <vector>

namespace rpcbench {

enum class ClaimVerdict { supported, contradicted, inconclusive };
const char* to_string(ClaimVerdict v);

struct Estimate {
  double value = 0, low = 0, high = 0;
  std::size_t n = 0;  // cases (or points) behind it
};

struct ClaimRow {
  std::string context;   // "run 4 stability-mi, dataset gaussian", "… level mi=8"
  std::string metric;    // "diverged fraction (Wilson 95%)"
  std::string baseline;  // objective label
  Estimate subject_value, baseline_value;
  ClaimVerdict verdict = ClaimVerdict::inconclusive;
  std::string reason;
};

struct ClaimSection {
  std::string evidence;   // "stability", "batch_size", "mi_estimation"
  std::string statement;  // the claim, in words
  std::vector<std::string> budget;  // one line per run used: what it was measured at
  std::string missing;              // non-empty: no verdict, and why
  std::vector<ClaimRow> rows;
};

// `subject`: the objective label whose claims are checked (the paper's: "rpc").
std::vector<ClaimSection> evaluate_claims(Database& db, const std::string& subject);

}  // namespace rpcbench
