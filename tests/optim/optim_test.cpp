// The learning-rate schedule and LARS against values worked out by hand.
#include "optim/lars.hpp"
#include "optim/lr_schedule.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace rpcbench {
namespace {

TEST(LrSchedule, WarmupThenCosineFromTheEndOfWarmup) {
  // peak 1, 10 steps, 2 of warm-up: 1/2, 2/2, then cos over the 8 remaining steps.
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(0, 10, 2.0, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(1, 10, 2.0, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(2, 10, 2.0, 1.0), 1.0);
  EXPECT_NEAR(warmup_cosine_lr(3, 10, 2.0, 1.0), 0.5 * (1.0 + std::cos(M_PI / 8.0)), 1e-15);  // 0.96194
  EXPECT_NEAR(warmup_cosine_lr(6, 10, 2.0, 1.0), 0.5, 1e-15);
  EXPECT_NEAR(warmup_cosine_lr(9, 10, 2.0, 1.0), 0.5 * (1.0 - std::cos(M_PI / 8.0)), 1e-15);  // 0.03806
  EXPECT_NEAR(warmup_cosine_lr(4, 10, 2.0, 0.3), 0.3 * 0.5 * (1.0 + std::cos(M_PI / 4.0)), 1e-15);
}

TEST(LrSchedule, WithoutWarmupIsAPlainCosine) {
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(0, 4, 0.0, 2.0), 2.0);
  EXPECT_NEAR(warmup_cosine_lr(1, 4, 0.0, 2.0), 1.0 + std::cos(M_PI / 4.0), 1e-15);
  EXPECT_NEAR(warmup_cosine_lr(2, 4, 0.0, 2.0), 1.0, 1e-15);
}

TEST(LrSchedule, NoJumpWhenWarmupEnds) {
  // 1000 steps, 100 of warm-up: warm-up rises by peak/100 a step, the cosine falls by at most
  // peak·π/(2·900) a step. Measuring the cosine from step 0 drops 2.4 % at step 100.
  double previous = 0.0, largest = 0.0;
  for (std::int64_t s = 0; s < 1000; ++s) {
    const double rate = warmup_cosine_lr(s, 1000, 100.0, 1.0);
    largest = std::max(largest, std::abs(rate - previous));
    previous = rate;
  }
  EXPECT_LE(largest, 0.01 + 1e-12);
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(99, 1000, 100.0, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(100, 1000, 100.0, 1.0), 1.0);
}

TEST(Lars, TrustRatioFollowsThePaper) {
  // w = [3, 4] (‖w‖ = 5), g = [0.8, −0.6] (‖g‖ = 1, orthogonal to w), β = 0.1, η = 1e-3:
  // λ = η‖w‖/(‖g‖ + β‖w‖) = 0.005/1.5. (‖g + βw‖ = √1.25 would give 0.005/1.118 instead.)
  torch::Tensor w = torch::tensor({{3.0, 4.0}}, torch::kFloat64).requires_grad_(true);
  Lars lars({w}, 0.9, 0.1, 1e-3);
  const torch::Tensor g = torch::tensor({{0.8, -0.6}}, torch::kFloat64);
  EXPECT_NEAR(lars.local_lr(w.detach(), g), 0.005 / 1.5, 1e-15);

  // Step 1, global lr 2: v = 2·λ·(g + βw) = (2/300)·[1.1, −0.2]; w ← w − v.
  w.mutable_grad() = g.clone();
  lars.step(2.0);
  const double v1x = 2.0 / 300.0 * 1.1, v1y = 2.0 / 300.0 * -0.2;
  EXPECT_NEAR(w[0][0].item<double>(), 3.0 - v1x, 1e-15);  // 2.992667
  EXPECT_NEAR(w[0][1].item<double>(), 4.0 - v1y, 1e-15);  // 4.001333

  // Step 2, the same gradient, global lr 1: λ from the new w; v = 0.9·v + λ·(g + βw).
  const double wx = 3.0 - v1x, wy = 4.0 - v1y, wn = std::hypot(wx, wy);
  const double lambda = 1e-3 * wn / (1.0 + 0.1 * wn);
  const double v2x = 0.9 * v1x + lambda * (0.8 + 0.1 * wx), v2y = 0.9 * v1y + lambda * (-0.6 + 0.1 * wy);
  w.mutable_grad() = g.clone();
  lars.step(1.0);
  EXPECT_NEAR(w[0][0].item<double>(), wx - v2x, 1e-15);
  EXPECT_NEAR(w[0][1].item<double>(), wy - v2y, 1e-15);
}

TEST(Lars, BiasesGetPlainMomentumWithoutDecay) {
  torch::Tensor b = torch::tensor({1.0, 2.0}, torch::kFloat64).requires_grad_(true);
  Lars lars({b}, 0.9, 0.1, 1e-3);
  b.mutable_grad() = torch::tensor({0.5, 0.5}, torch::kFloat64);
  lars.step(2.0);  // v = 1
  EXPECT_TRUE(torch::allclose(b, torch::tensor({0.0, 1.0}, torch::kFloat64)));
  lars.step(2.0);  // v = 0.9 + 1
  EXPECT_TRUE(torch::allclose(b, torch::tensor({-1.9, -0.9}, torch::kFloat64)));
}

TEST(Lars, ZeroWeightsOrGradientsUseTheGlobalRate) {
  Lars lars({}, 0.9, 0.1);
  EXPECT_EQ(lars.local_lr(torch::zeros({2, 2}), torch::ones({2, 2})), 1.0);
  EXPECT_EQ(lars.local_lr(torch::ones({2, 2}), torch::zeros({2, 2})), 1.0);
}

}  // namespace
}  // namespace rpcbench
