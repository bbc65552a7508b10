// Intervals and slopes against values computed by hand (or with R, as noted).
#include "stats/intervals.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace rpcbench {
namespace {

TEST(Intervals, WilsonMatchesHandComputedValues) {
  // 2 of 10, z = 1.959964: centre (0.2 + z²/20) / (1 + z²/10) = 0.30855, half-width
  // z / (1 + z²/10) · sqrt(0.016 + z²/400) = 0.22648 (R: prop.test(2, 10, correct = FALSE)$conf.int
  // gives 0.05668, 0.50984).
  const Interval w = wilson_interval(2, 10);
  EXPECT_NEAR(w.low, 0.056682, 1e-5);
  EXPECT_NEAR(w.high, 0.509838, 1e-5);
  // All or nothing: the interval still has width (the normal interval would be [0, 0]).
  EXPECT_DOUBLE_EQ(wilson_interval(0, 5).low, 0.0);
  EXPECT_NEAR(wilson_interval(0, 5).high, 0.434482, 1e-5);
  EXPECT_NEAR(wilson_interval(5, 5).low, 1.0 - 0.434482, 1e-5);
  EXPECT_DOUBLE_EQ(wilson_interval(0, 0).low, 0.0);
  EXPECT_DOUBLE_EQ(wilson_interval(0, 0).high, 1.0);
}

TEST(Intervals, BootstrapIsReproducibleAndBracketsTheMean) {
  const std::vector<double> v = {0.80, 0.82, 0.79, 0.85, 0.81};
  const Interval a = bootstrap_mean_interval(v, 42), b = bootstrap_mean_interval(v, 42);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_LT(a.low, 0.814);
  EXPECT_GT(a.high, 0.814);
  EXPECT_GE(a.low, 0.79);  // a mean of resampled values cannot leave their range
  EXPECT_LE(a.high, 0.85);
  // {0, 1}: resampled means are 0, 0.5 and 1 with probabilities 1/4, 1/2, 1/4, so the 2.5 % and
  // 97.5 % quantiles of 2000 of them are 0 and 1 exactly.
  const Interval two = bootstrap_mean_interval({0.0, 1.0}, 7);
  EXPECT_DOUBLE_EQ(two.low, 0.0);
  EXPECT_DOUBLE_EQ(two.high, 1.0);
  // At 40 % the interval spans the 30 % and 70 % quantiles, both inside the half of the mass at 0.5.
  const Interval half = bootstrap_mean_interval({0.0, 1.0}, 7, 0.4);
  EXPECT_DOUBLE_EQ(half.low, 0.5);
  EXPECT_DOUBLE_EQ(half.high, 0.5);
  // One value: no spread to resample.
  const Interval one = bootstrap_mean_interval({0.5}, 1);
  EXPECT_DOUBLE_EQ(one.low, 0.5);
  EXPECT_DOUBLE_EQ(one.high, 0.5);
  EXPECT_THROW(bootstrap_mean_interval({}, 1), std::invalid_argument);
  EXPECT_THROW(bootstrap_mean_interval({1.0, NAN}, 1), std::invalid_argument);
}

TEST(Intervals, LeastSquaresSlopeAndItsTInterval) {
  // x = 1..4, y = 2, 4, 5, 4.5: x̄ 2.5, ȳ 3.875, Sxx = 5, Sxy = 4.25, slope 0.85, intercept 1.75;
  // residuals −0.6, 0.55, 0.7, −0.65 (RSS 1.575); se = sqrt(1.575 / 2 / 5) = 0.396863;
  // t(0.975, 2) = 4.302653.
  const Slope s = least_squares_slope({1, 2, 3, 4}, {2, 4, 5, 4.5});
  EXPECT_NEAR(s.slope, 0.85, 1e-12);
  EXPECT_NEAR(s.intercept, 1.75, 1e-12);
  // Exactly: residuals −0.6, 0.55, 0.7, −0.65 (SS 1.575), se = √(1.575 / 2 / 5), and with two
  // degrees of freedom t(0.975) = q·√(2 / (1 − q²)), q = 0.95 (the t₂ CDF is ½ + t / (2√(2 + t²))).
  const double t2 = 0.95 * std::sqrt(2.0 / (1.0 - 0.95 * 0.95)), se = std::sqrt(1.575 / 2.0 / 5.0);
  EXPECT_NEAR(s.ci.low, 0.85 - t2 * se, 1e-12);
  EXPECT_NEAR(s.ci.high, 0.85 + t2 * se, 1e-12);
  EXPECT_EQ(s.n, 4u);
  // Two points: a slope but no interval; equal x: no slope.
  const Slope two = least_squares_slope({1, 2}, {1, 3});
  EXPECT_DOUBLE_EQ(two.slope, 2.0);
  EXPECT_TRUE(std::isinf(two.ci.low) && std::isinf(two.ci.high));
  EXPECT_TRUE(std::isnan(least_squares_slope({1, 1, 1}, {1, 2, 3}).slope));
}

TEST(Intervals, StudentTIntervalOfAMean) {
  // mean 1, std 0.5, n 4: 1 ± t(0.975, 3) · 0.5 / 2 with t = 3.182446.
  const Interval t = t_interval(1.0, 0.5, 4);
  EXPECT_NEAR(t.low, 1.0 - 3.182446 * 0.25, 1e-6);
  EXPECT_NEAR(t.high, 1.0 + 3.182446 * 0.25, 1e-6);
  EXPECT_TRUE(std::isinf(t_interval(1.0, 0.0, 1).high));
}

TEST(Intervals, MeanStdAndTrailingVariance) {
  const MeanStd m = mean_std({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(m.mean, 2.5);
  EXPECT_NEAR(m.std, std::sqrt(5.0 / 3.0), 1e-12);  // ddof 1
  EXPECT_DOUBLE_EQ(mean_std({7}).std, 0.0);
  EXPECT_DOUBLE_EQ(trailing_variance({100, 1, 2, 3}, 3), 2.0 / 3.0);  // of 1, 2, 3 (ddof 0)
  EXPECT_DOUBLE_EQ(trailing_variance({1, 2, 3}, 10), 2.0 / 3.0);
}

}  // namespace
}  // namespace rpcbench
