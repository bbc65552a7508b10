#include "stats/window_stats.hpp"

#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace rpcbench {

WindowStats window_stats(const std::vector<double>& estimates, double truth) {
  if (estimates.empty()) throw std::invalid_argument("window_stats: empty window");
  const auto e = xt::adapt(estimates, {estimates.size()});
  WindowStats s;
  s.count = estimates.size();
  s.mean = xt::mean(e)();
  s.variance = xt::variance(e)();
  s.std = std::sqrt(s.variance);
  s.bias = s.mean - truth;
  s.mse = xt::mean(xt::square(e - truth))();
  return s;
}

double trend_variance(const std::vector<double>& values, std::size_t half_width) {
  const std::size_t n = values.size();
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  // Prefix sums give each centred mean in O(1); long double keeps a 20 000-step sum exact enough
  // that a constant series has residuals of 0.
  std::vector<long double> prefix(n + 1, 0.0L);
  for (std::size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + values[i];
  long double sum = 0.0L;
  for (std::size_t i = 0; i < n; ++i) {
    // Symmetric at the ends too (the half-width shrinks to the nearer end), so that a straight
    // line is its own trend everywhere.
    const std::size_t h = std::min({half_width, i, n - 1 - i});
    const std::size_t lo = i - h, hi = i + h + 1;
    const long double trend = (prefix[hi] - prefix[lo]) / static_cast<long double>(hi - lo);
    const long double r = static_cast<long double>(values[i]) - trend;
    sum += r * r;
  }
  return static_cast<double>(sum / static_cast<long double>(n));
}

}  // namespace rpcbench
