#include "compare/statistics.hpp"

#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace rpcbench {
namespace {

double mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / v.size(); }

double sample_variance(const std::vector<double>& v, double m) {
  double s = 0.0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(v.size() - 1);
}

}  // namespace

double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) return 1.0;
  struct Item {
    double value;
    bool from_a;
  };
  std::vector<Item> all;
  for (double x : a) all.push_back({x, true});
  for (double x : b) all.push_back({x, false});
  std::sort(all.begin(), all.end(), [](const Item& l, const Item& r) { return l.value < r.value; });
  const double n1 = a.size(), n2 = b.size(), n = n1 + n2;
  double rank_sum_a = 0.0, tie_term = 0.0;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    while (j < all.size() && all[j].value == all[i].value) ++j;
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    const double t = static_cast<double>(j - i);
    tie_term += t * t * t - t;
    for (std::size_t k = i; k < j; ++k)
      if (all[k].from_a) rank_sum_a += average_rank;
    i = j;
  }
  const double u = rank_sum_a - n1 * (n1 + 1) / 2.0;
  const double mu = n1 * n2 / 2.0;
  const double sigma = std::sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))));
  if (!(sigma > 0)) return 1.0;
  const double z = std::max(0.0, std::abs(u - mu) - 0.5) / sigma;
  return std::min(1.0, 2.0 * boost::math::cdf(boost::math::complement(boost::math::normal(), z)));
}

double welch_p(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() < 2 || b.size() < 2) return 1.0;
  const double ma = mean(a), mb = mean(b);
  const double va = sample_variance(a, ma) / a.size(), vb = sample_variance(b, mb) / b.size();
  if (va + vb == 0.0) return ma == mb ? 1.0 : 0.0;
  const double t = (ma - mb) / std::sqrt(va + vb);
  const double df = (va + vb) * (va + vb) /
                    (va * va / static_cast<double>(a.size() - 1) + vb * vb / static_cast<double>(b.size() - 1));
  return 2.0 * boost::math::cdf(boost::math::complement(boost::math::students_t(df), std::abs(t)));
}

}  // namespace rpcbench
