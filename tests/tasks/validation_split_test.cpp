// The tuning split: held out of train, disjoint from what pretrains, the same for every call.
#include "tasks/validation_split.hpp"

#include <gtest/gtest.h>

namespace rpcbench {
namespace {

DatasetSpec spec(std::int64_t train, std::int64_t test) {
  DatasetSpec s;
  s.split_sizes = {{"train", train}, {"test", test}};
  return s;
}

TEST(ValidationSplit, WithoutAFractionEverythingTrainsAndTestScores) {
  const EvalSplits s = eval_splits(spec(10, 4), 0.0);
  EXPECT_EQ(s.eval_split, "test");
  EXPECT_TRUE(torch::equal(s.train, torch::arange(10, torch::kLong)));
  EXPECT_TRUE(torch::equal(s.eval, torch::arange(4, torch::kLong)));
}

TEST(ValidationSplit, HoldsOutAFixedDisjointPartOfTrain) {
  const EvalSplits s = eval_splits(spec(1000, 50), 0.2);
  EXPECT_EQ(s.eval_split, "train");
  ASSERT_EQ(s.eval.size(0), 200);
  ASSERT_EQ(s.train.size(0), 800);
  const torch::Tensor all = std::get<0>(torch::cat({s.train, s.eval}).sort());
  EXPECT_TRUE(torch::equal(all, torch::arange(1000, torch::kLong)));  // disjoint and complete
  EXPECT_GT(s.eval.max().item<std::int64_t>(), 900);                  // drawn, not the first 200
  EXPECT_LT(s.eval.min().item<std::int64_t>(), 100);
  const EvalSplits again = eval_splits(spec(1000, 50), 0.2);
  EXPECT_TRUE(torch::equal(s.eval, again.eval));
}

}  // namespace
}  // namespace rpcbench
