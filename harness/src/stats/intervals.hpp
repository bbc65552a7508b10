// Statistics across seeds and cases (xtensor, outside autograd): intervals for a proportion and a
// mean, and the slope of a metric against an axis.
#pragma once

#include <cstdint>
#include <vector>

namespace rpcbench {

struct Interval {
  double low = 0.0, high = 0.0;
};

// Wilson score interval for k successes in n trials at confidence `level` (two-sided). Better
// than the normal interval near 0 and 1, where divergence fractions live. n = 0 gives [0, 1].
Interval wilson_interval(std::int64_t k, std::int64_t n, double level = 0.95);

// Percentile bootstrap interval of the mean: `resamples` draws of n values with replacement from
// an mt19937_64 seeded with `seed` (so the interval is reproducible). Throws std::invalid_argument
// on an empty sample or a non-finite value.
Interval bootstrap_mean_interval(const std::vector<double>& values, std::uint64_t seed, double level = 0.95,
                                 int resamples = 2000);

// Ordinary least squares y = a + b·x with a t-interval for the slope b (n − 2 degrees of
// freedom). With fewer than three points, or all x equal, the interval is unbounded (±inf) or the
// slope is NaN.
struct Slope {
  double slope = 0.0, intercept = 0.0;
  Interval ci;
  std::size_t n = 0;
};
Slope least_squares_slope(const std::vector<double>& x, const std::vector<double>& y, double level = 0.95);

// Student-t interval of a mean from its sample mean, std (ddof 1) and n: valid for small n, where
// a bootstrap interval is too narrow. Unbounded below two values.
Interval t_interval(double mean, double std, std::size_t n, double level = 0.95);

struct MeanStd {
  double mean = 0.0, std = 0.0;  // std with ddof = 1 (0 for one value): seed-to-seed spread
  std::size_t n = 0;
};
MeanStd mean_std(const std::vector<double>& values);

// Population variance (ddof = 0) of the last `window` values (all of them when fewer): the
// step-to-step variability of a training curve.
double trailing_variance(const std::vector<double>& values, std::size_t window);

}  // namespace rpcbench
