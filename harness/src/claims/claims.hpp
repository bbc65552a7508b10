// The RPC paper's three claims, checked against the results in a database: for each claim, the
// runs that declare it as their evidence (`[suite] evidence`), the metric, the subject's value and
// each baseline's with 95% intervals, and a verdict per pair — at every grid point, and pooled over
// a dataset's grid points unless they point different ways (then `mixed`).
#pragma once

#include "db/database.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace rpcbench {

// `mixed`: a pooled row whose grid points disagree, one favouring the subject and another the
// baseline (no verdict for the pool).
enum class ClaimVerdict { supported, contradicted, inconclusive, mixed };
const char* to_string(ClaimVerdict v);

struct Estimate {
  double value = 0, low = 0, high = 0;
  std::size_t n = 0;  // cases (or points) behind it
};

struct ClaimRow {
  std::string context;   // "run 4 stability-mi, gaussian, learning_rate=0.0005, true MI 8"
  std::string metric;    // "diverged fraction (Wilson 95%)"
  std::string baseline;  // objective label
  Estimate subject_value, baseline_value;
  ClaimVerdict verdict = ClaimVerdict::inconclusive;
  std::string reason;
  bool pooled = false;  // every grid point of the dataset together (mixed where the points disagree)
};

struct ClaimSection {
  std::string evidence;   // "stability", "batch_size", "mi_estimation"
  std::string statement;  // the claim, in words
  std::vector<std::string> budget;  // one line per run used (what it was measured at), and runs left out
  std::vector<std::int64_t> runs;   // the runs the rows come from
  std::string missing;              // non-empty: no verdict, and why
  std::vector<ClaimRow> rows;
};

struct ClaimsQuery {
  std::string subject = "rpc";  // the objective label whose claims are checked
  // Only these runs (e.g. the one a report is about). Empty: for every suite, profile and resolved
  // suite (hash) the latest complete run, by start time: a quick run does not stand in for a
  // default one, nor an edited suite for the original.
  std::vector<std::int64_t> runs;
};

std::vector<ClaimSection> evaluate_claims(Database& db, const ClaimsQuery& query);
inline std::vector<ClaimSection> evaluate_claims(Database& db, const std::string& subject) {
  return evaluate_claims(db, ClaimsQuery{subject, {}});
}

// Claim 1's and claim 3's rule for a variance compared at comparable bias: a verdict for the side
// with the lower variance stands only when that side's mean |bias| (per seed, then averaged) is at
// most kComparableBiasNats larger than the other side's — low variance bought with bias is no
// evidence. A verdict that does not stand becomes inconclusive, the reason saying why.
inline constexpr double kComparableBiasNats = 0.5;
ClaimVerdict at_comparable_bias(ClaimVerdict verdict, double subject_abs_bias, double baseline_abs_bias,
                                std::string& reason);

// Variances on the log scale: the geometric mean of `values` with a Student-t 95% interval on
// log10, every finite value kept; a value below kVarianceFloor (a constant estimate, variance 0)
// counts as the floor.
inline constexpr double kVarianceFloor = 1e-12;
Estimate geometric_mean_interval(const std::vector<double>& values);

}  // namespace rpcbench
