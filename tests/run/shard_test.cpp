// Shards: every case in exactly one part, the same parts for the same N, balanced by cost.
#include "run/shard.hpp"
#include "util/errors.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace rpcbench {
namespace {

std::vector<Case> cases(int n) {
  std::vector<Case> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<std::size_t>(i)].key = "case" + std::to_string(100 + i);
  return out;
}

TEST(Shard, EveryCaseInExactlyOnePartAndStable) {
  const auto all = cases(23);
  std::vector<double> costs;
  for (int i = 0; i < 23; ++i) costs.push_back(1.0 + (i * 7) % 5);
  for (int n : {1, 2, 3, 7, 30}) {
    std::map<std::size_t, int> seen;
    for (int i = 0; i < n; ++i) {
      const auto part = shard_cases(all, costs, {i, n});
      EXPECT_EQ(part, shard_cases(all, costs, {i, n}));  // the same parts every time
      EXPECT_TRUE(std::is_sorted(part.begin(), part.end()));
      for (std::size_t c : part) ++seen[c];
    }
    EXPECT_EQ(seen.size(), 23u) << n;
    for (const auto& [c, times] : seen) EXPECT_EQ(times, 1) << "case " << c << " with N = " << n;
  }
}

TEST(Shard, PartsAreBalancedByCost) {
  // Costs 8, 4, 2, 2 (plus ones): largest first to the lightest part gives 8 | 4 2 2.
  const auto all = cases(4);
  const std::vector<double> costs = {2, 8, 2, 4};
  EXPECT_EQ(shard_cases(all, costs, {0, 2}), (std::vector<std::size_t>{1}));
  EXPECT_EQ(shard_cases(all, costs, {1, 2}), (std::vector<std::size_t>{0, 2, 3}));
}

TEST(Shard, BadSpecsAreInputErrors) {
  EXPECT_EQ(parse_shard("1/2").index, 1);
  EXPECT_EQ(parse_shard("1/2").count, 2);
  for (const char* bad : {"3/2", "2/2", "1/0", "a/b", "1", "-1/2", "1/2/3", ""}) EXPECT_THROW(parse_shard(bad), InputError) << bad;
}

}  // namespace
}  // namespace rpcbench
