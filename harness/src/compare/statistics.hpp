// Two-sample tests for comparing a metric across seeds (Boost.Math distributions).
#pragma once

#include <vector>

namespace rpcbench {

// Two-sided p-value of the Mann–Whitney U test (normal approximation with tie correction and
// continuity correction). 1.0 when either sample is empty or all values are tied.
double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b);

// Two-sided p-value of Welch's t test (unequal variances, Welch–Satterthwaite degrees of
// freedom). Needs at least two values on each side; 1.0 otherwise, 0.0 or 1.0 for zero variance.
double welch_p(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace rpcbench
