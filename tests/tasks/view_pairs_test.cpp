// The contrastive pair layout against a naive loop that knows only "views b and b′ show the
// same image when b mod N = b′ mod N".
#include "tasks/view_pairs.hpp"

#include <gtest/gtest.h>

namespace rpcbench {
namespace {

TEST(ViewPairs, PositiveIsTheOtherViewOfTheSameImageNegativesTheRestInOrder) {
  for (const std::int64_t n : {2, 3, 5}) {
    SCOPED_TRACE(n);
    torch::manual_seed(n);
    const torch::Tensor scores = torch::randn({2 * n, 2 * n}, torch::kFloat64);
    const ViewPairScores split = split_view_scores(scores);
    ASSERT_EQ(split.pos.sizes(), (std::vector<std::int64_t>{2 * n}));
    ASSERT_EQ(split.neg.sizes(), (std::vector<std::int64_t>{2 * n, 2 * n - 2}));
    for (std::int64_t a = 0; a < 2 * n; ++a) {
      std::vector<double> negatives;
      int positives = 0;
      for (std::int64_t b = 0; b < 2 * n; ++b) {
        if (b == a) continue;
        if (b % n == a % n) {
          ++positives;
          EXPECT_EQ(split.pos[a].item<double>(), scores[a][b].item<double>()) << a;
          EXPECT_EQ(positive_view(a, n), b);
        } else {
          negatives.push_back(scores[a][b].item<double>());
        }
      }
      ASSERT_EQ(positives, 1);
      for (std::size_t k = 0; k < negatives.size(); ++k)
        EXPECT_EQ(split.neg[a][static_cast<std::int64_t>(k)].item<double>(), negatives[k]) << a << "," << k;
    }
  }
}

TEST(ViewPairs, GradientsReachTheScores) {
  const torch::Tensor scores = torch::randn({6, 6}).requires_grad_(true);
  const ViewPairScores split = split_view_scores(scores);
  (split.pos.sum() - split.neg.sum()).backward();
  // +1 on the positives, −1 on negatives, 0 on the diagonal.
  const torch::Tensor g = scores.grad();
  EXPECT_EQ(g.sum().item<double>(), 6.0 - 6.0 * 4.0);
  EXPECT_EQ(g.diagonal().abs().sum().item<double>(), 0.0);
  EXPECT_EQ(g[0][3].item<double>(), 1.0);
  EXPECT_EQ(g[4][1].item<double>(), 1.0);
  EXPECT_EQ(g[0][1].item<double>(), -1.0);
}

TEST(ViewPairs, PairTop1CountsAnchorsWhosePositiveBeatsEveryNegative) {
  // Two images, identical views: each anchor's positive is its exact copy, the top score.
  const torch::Tensor z = torch::nn::functional::normalize(torch::tensor({{1.0, 0.0}, {0.0, 1.0}, {1.0, 0.0}, {0.0, 1.0}}),
                                                           torch::nn::functional::NormalizeFuncOptions().dim(1));
  EXPECT_EQ(pair_top1(split_view_scores(torch::matmul(z, z.t()))), 1.0);
  // All scores equal: no positive is strictly above its negatives.
  EXPECT_EQ(pair_top1(split_view_scores(torch::ones({4, 4}))), 0.0);
  // Anchor 0's positive (column 2) loses to a negative, the others win.
  torch::Tensor s = torch::eye(4).roll(2, 1) * 2.0;
  s[0][1] = 3.0;
  EXPECT_EQ(pair_top1(split_view_scores(s)), 0.75);
}

TEST(ViewPairs, RefusesMatricesThatAreNotTwoNByTwoN) {
  EXPECT_THROW(split_view_scores(torch::zeros({3, 3})), std::invalid_argument);
  EXPECT_THROW(split_view_scores(torch::zeros({4, 6})), std::invalid_argument);
  EXPECT_THROW(split_view_scores(torch::zeros({2, 2})), std::invalid_argument);
}

TEST(MiPairs, PositiveIsTheOwnPairNegativesTheRestOfTheRowInOrder) {
  // scores[i][j] = f(x_j, y_i): a non-symmetric matrix, so a transposed or shifted layout shows.
  for (const std::int64_t n : {2, 3, 6}) {
    SCOPED_TRACE(n);
    torch::manual_seed(100 + n);
    const torch::Tensor scores = torch::randn({n, n}, torch::kFloat64);
    const ViewPairScores split = split_paired_scores(scores);
    ASSERT_EQ(split.pos.sizes(), (std::vector<std::int64_t>{n}));
    ASSERT_EQ(split.neg.sizes(), (std::vector<std::int64_t>{n, n - 1}));
    for (std::int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(split.pos[i].item<double>(), scores[i][i].item<double>()) << i;
      std::int64_t k = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        EXPECT_EQ(split.neg[i][k++].item<double>(), scores[i][j].item<double>()) << i << "," << j;
      }
    }
  }
  EXPECT_THROW(split_paired_scores(torch::zeros({3, 2})), std::invalid_argument);
  EXPECT_THROW(split_paired_scores(torch::zeros({1, 1})), std::invalid_argument);
}

}  // namespace
}  // namespace rpcbench
