#include "stats/window_stats.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace rpcbench {
namespace {

TEST(WindowStats, MatchesHandComputedValues) {
  const WindowStats s = window_stats({1.0, 2.0, 3.0, 6.0}, 2.0);
  EXPECT_EQ(s.count, 4u);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_DOUBLE_EQ(s.variance, (4.0 + 1.0 + 0.0 + 9.0) / 4.0);
  EXPECT_DOUBLE_EQ(s.std, std::sqrt(3.5));
  EXPECT_DOUBLE_EQ(s.bias, 1.0);
  EXPECT_DOUBLE_EQ(s.mse, (1.0 + 0.0 + 1.0 + 16.0) / 4.0);
  EXPECT_NEAR(s.mse, s.bias * s.bias + s.variance, 1e-12);
}

TEST(WindowStats, NonFiniteEstimatesPropagateAndEmptyIsAnError) {
  EXPECT_TRUE(std::isnan(window_stats({1.0, NAN}, 0.0).mean));
  EXPECT_THROW(window_stats({}, 0.0), std::invalid_argument);
}

TEST(WindowStats, TrendVarianceRemovesDriftAndKeepsJitter) {
  // A constant and a straight line are their own running trend.
  EXPECT_DOUBLE_EQ(trend_variance(std::vector<double>(40, 2.5), 5), 0.0);
  std::vector<double> line(300);
  for (std::size_t i = 0; i < line.size(); ++i) line[i] = 0.25 * static_cast<double>(i) - 3.0;
  EXPECT_NEAR(trend_variance(line, 50), 0.0, 1e-20);
  // ±1 alternating, h = 1: inside, a value's neighbours are both of the other sign, so the trend
  // is ∓1/3 and the residual ±4/3; the two end points are their own trend (h' = 0).
  std::vector<double> zigzag(10);
  for (std::size_t i = 0; i < zigzag.size(); ++i) zigzag[i] = i % 2 == 0 ? 1.0 : -1.0;
  EXPECT_NEAR(trend_variance(zigzag, 1), 8.0 * (16.0 / 9.0) / 10.0, 1e-15);
  // The same jitter on a ramp: the ramp adds nothing, where the window variance grows with it.
  std::vector<double> ramp = zigzag;
  for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] += 0.5 * static_cast<double>(i);
  EXPECT_NEAR(trend_variance(ramp, 1), trend_variance(zigzag, 1), 1e-14);
  EXPECT_GT(window_stats(ramp, 0.0).variance, window_stats(zigzag, 0.0).variance + 1.0);
  EXPECT_TRUE(std::isnan(trend_variance({}, 3)));
  EXPECT_TRUE(std::isnan(trend_variance({1.0, NAN, 2.0}, 1)));
}

}  // namespace
}  // namespace rpcbench
