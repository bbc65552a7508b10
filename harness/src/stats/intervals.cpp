#include "stats/intervals.hpp"

#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xsort.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

namespace rpcbench {

Interval wilson_interval(std::int64_t k, std::int64_t n, double level) {
  if (n <= 0) return {0.0, 1.0};
  const double z = boost::math::quantile(boost::math::normal(), 0.5 + level / 2.0);
  const double p = static_cast<double>(k) / static_cast<double>(n), nn = static_cast<double>(n);
  const double centre = (p + z * z / (2 * nn)) / (1 + z * z / nn);
  const double half = z / (1 + z * z / nn) * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

Interval bootstrap_mean_interval(const std::vector<double>& values, std::uint64_t seed, double level, int resamples) {
  if (values.empty()) throw std::invalid_argument("bootstrap: empty sample");
  for (double v : values)
    if (!std::isfinite(v)) throw std::invalid_argument("bootstrap: non-finite value");
  std::mt19937_64 engine(seed);
  std::uniform_int_distribution<std::size_t> pick(0, values.size() - 1);
  xt::xtensor<double, 1> means = xt::zeros<double>({static_cast<std::size_t>(resamples)});
  for (int b = 0; b < resamples; ++b) {
    double sum = 0.0;
    for (std::size_t i = 0; i < values.size(); ++i) sum += values[pick(engine)];
    means(b) = sum / static_cast<double>(values.size());
  }
  const xt::xtensor<double, 1> sorted = xt::sort(means);
  // Quantiles by linear interpolation between order statistics (numpy's default).
  auto quantile = [&](double p) {
    const double h = (static_cast<double>(sorted.size()) - 1.0) * p;
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted(lo) + (h - static_cast<double>(lo)) * (sorted(hi) - sorted(lo));
  };
  const double tail = (1.0 - level) / 2.0;
  return {quantile(tail), quantile(1.0 - tail)};
}

Slope least_squares_slope(const std::vector<double>& xs, const std::vector<double>& ys, double level) {
  if (xs.size() != ys.size()) throw std::invalid_argument("least_squares_slope: x and y differ in length");
  Slope s;
  s.n = xs.size();
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (s.n < 2) {
    s.slope = s.intercept = std::numeric_limits<double>::quiet_NaN();
    s.ci = {-inf, inf};
    return s;
  }
  const auto x = xt::adapt(xs, {xs.size()});
  const auto y = xt::adapt(ys, {ys.size()});
  const double mx = xt::mean(x)(), my = xt::mean(y)();
  const double sxx = xt::sum(xt::square(x - mx))();
  if (!(sxx > 0)) {
    s.slope = s.intercept = std::numeric_limits<double>::quiet_NaN();
    s.ci = {-inf, inf};
    return s;
  }
  s.slope = xt::sum((x - mx) * (y - my))() / sxx;
  s.intercept = my - s.slope * mx;
  if (s.n < 3) {
    s.ci = {-inf, inf};
    return s;
  }
  const double residual = xt::sum(xt::square(y - (s.intercept + s.slope * x)))();
  const double se = std::sqrt(residual / static_cast<double>(s.n - 2) / sxx);
  const double t = boost::math::quantile(boost::math::students_t(static_cast<double>(s.n - 2)), 0.5 + level / 2.0);
  s.ci = {s.slope - t * se, s.slope + t * se};
  return s;
}

Interval t_interval(double mean, double std, std::size_t n, double level) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (n < 2 || !std::isfinite(mean) || !std::isfinite(std)) return {-inf, inf};
  const double t = boost::math::quantile(boost::math::students_t(static_cast<double>(n - 1)), 0.5 + level / 2.0);
  const double half = t * std / std::sqrt(static_cast<double>(n));
  return {mean - half, mean + half};
}

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd m;
  m.n = values.size();
  if (values.empty()) {
    m.mean = m.std = std::numeric_limits<double>::quiet_NaN();
    return m;
  }
  const auto v = xt::adapt(values, {values.size()});
  m.mean = xt::mean(v)();
  m.std = values.size() > 1 ? std::sqrt(xt::sum(xt::square(v - m.mean))() / static_cast<double>(values.size() - 1)) : 0.0;
  return m;
}

double trailing_variance(const std::vector<double>& values, std::size_t window) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  const std::size_t k = std::min(window == 0 ? values.size() : window, values.size());
  const auto v = xt::adapt(values, {values.size()});
  return xt::variance(xt::view(v, xt::range(values.size() - k, values.size())))();
}

}  // namespace rpcbench
