// Two-sample tests for comparing a metric across seeds (Boost.Math distributions).
#pragma once

#include <cstddef>
#include <vector>

namespace rpcbench {

// Two-sided p-value of the Mann–Whitney U test. Exact (the permutation distribution of U with
// mid-ranks, so ties are handled exactly) while C(n1 + n2, n1) ≤ kExactMannWhitneyLimit; beyond
// that the normal approximation with tie and continuity corrections. 1.0 when a sample is empty.
// Throws std::invalid_argument on a non-finite value: NaN has no rank.
double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b);
inline constexpr double kExactMannWhitneyLimit = 2e5;

// The smallest two-sided p-value the Mann–Whitney test can give with n1 and n2 values (no ties):
// 2 / C(n1 + n2, n1), capped at 1. A gate whose α is below this can never fire.
double mann_whitney_min_p(std::size_t n1, std::size_t n2);

// Two-sided p-value of Welch's t test (unequal variances, Welch–Satterthwaite degrees of
// freedom). Throws std::invalid_argument with fewer than two values on a side or a non-finite
// value; 0.0 or 1.0 when both variances are zero.
double welch_p(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace rpcbench
