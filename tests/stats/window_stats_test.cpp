#include "stats/window_stats.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

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

}  // namespace
}  // namespace rpcbench
