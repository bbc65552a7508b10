#include "stats/two_sample.hpp"

#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/binomial.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace rpcbench {
namespace {

double mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / v.size(); }

double sample_variance(const std::vector<double>& v, double m) {
  double s = 0.0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(v.size() - 1);
}

void require_finite(const std::vector<double>& v, const char* test) {
  for (double x : v)
    if (!std::isfinite(x)) throw std::invalid_argument(std::string(test) + ": non-finite sample");
}

// Mid-ranks (1-based) of the pooled values, ties sharing their average rank.
std::vector<double> mid_ranks(const std::vector<double>& pooled, double* tie_term) {
  std::vector<std::size_t> order(pooled.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t l, std::size_t r) { return pooled[l] < pooled[r]; });
  std::vector<double> ranks(pooled.size());
  *tie_term = 0.0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && pooled[order[j]] == pooled[order[i]]) ++j;
    const double average = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    const double t = static_cast<double>(j - i);
    *tie_term += t * t * t - t;
    for (std::size_t k = i; k < j; ++k) ranks[order[k]] = average;
    i = j;
  }
  return ranks;
}

// P(|R − E R| ≥ |r − E R|) over every way of choosing which n1 of the pooled ranks belong to the
// first sample: the exact conditional null distribution of the rank sum R.
double exact_rank_sum_p(const std::vector<double>& ranks, std::size_t n1, double observed) {
  const std::size_t n = ranks.size();
  const double expected = static_cast<double>(n1) * (static_cast<double>(n) + 1.0) / 2.0;
  const double distance = std::abs(observed - expected) - 1e-9;  // mid-ranks are multiples of 0.5
  std::vector<std::size_t> pick(n1);
  std::iota(pick.begin(), pick.end(), 0);
  double extreme = 0.0, total = 0.0;
  while (true) {
    double sum = 0.0;
    for (std::size_t i : pick) sum += ranks[i];
    total += 1.0;
    if (std::abs(sum - expected) >= distance) extreme += 1.0;
    // Next combination in lexicographic order.
    std::size_t i = n1;
    while (i > 0 && pick[i - 1] == n - n1 + i - 1) --i;
    if (i == 0) break;
    ++pick[i - 1];
    for (std::size_t j = i; j < n1; ++j) pick[j] = pick[j - 1] + 1;
  }
  return std::min(1.0, extreme / total);
}

}  // namespace

double mann_whitney_min_p(std::size_t n1, std::size_t n2) {
  if (n1 == 0 || n2 == 0) return 1.0;
  const double ways = boost::math::binomial_coefficient<double>(static_cast<unsigned>(n1 + n2), static_cast<unsigned>(n1));
  return std::min(1.0, 2.0 / ways);
}

double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b) {
  require_finite(a, "Mann-Whitney");
  require_finite(b, "Mann-Whitney");
  if (a.empty() || b.empty()) return 1.0;
  std::vector<double> pooled(a);
  pooled.insert(pooled.end(), b.begin(), b.end());
  double tie_term = 0.0;
  const std::vector<double> ranks = mid_ranks(pooled, &tie_term);
  const double rank_sum_a = std::accumulate(ranks.begin(), ranks.begin() + static_cast<long>(a.size()), 0.0);
  const double n1 = a.size(), n2 = b.size(), n = n1 + n2;
  const double ways = boost::math::binomial_coefficient<double>(static_cast<unsigned>(n), static_cast<unsigned>(n1));
  if (ways <= kExactMannWhitneyLimit) return exact_rank_sum_p(ranks, a.size(), rank_sum_a);

  const double u = rank_sum_a - n1 * (n1 + 1) / 2.0;
  const double mu = n1 * n2 / 2.0;
  const double sigma = std::sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))));
  if (!(sigma > 0)) return 1.0;
  const double z = std::max(0.0, std::abs(u - mu) - 0.5) / sigma;
  return std::min(1.0, 2.0 * boost::math::cdf(boost::math::complement(boost::math::normal(), z)));
}

double welch_p(const std::vector<double>& a, const std::vector<double>& b) {
  require_finite(a, "Welch");
  require_finite(b, "Welch");
  if (a.size() < 2 || b.size() < 2) throw std::invalid_argument("Welch: needs at least two values per side");
  const double ma = mean(a), mb = mean(b);
  const double va = sample_variance(a, ma) / a.size(), vb = sample_variance(b, mb) / b.size();
  if (va + vb == 0.0) return ma == mb ? 1.0 : 0.0;
  const double t = (ma - mb) / std::sqrt(va + vb);
  const double df = (va + vb) * (va + vb) /
                    (va * va / static_cast<double>(a.size() - 1) + vb * vb / static_cast<double>(b.size() - 1));
  return 2.0 * boost::math::cdf(boost::math::complement(boost::math::students_t(df), std::abs(t)));
}

}  // namespace rpcbench
