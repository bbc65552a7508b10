// StackedAdam against torch::optim::Adam run on each member alone, its closed-form first step, and
// the member bookkeeping an ensemble relies on (dropping members, per-member gradient norms).
#include "optim/stacked_adam.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace rpcbench {
namespace {

// Three members' parameters: a weight [4, 3] and a bias [4] each, different values per member.
std::vector<std::vector<torch::Tensor>> three_members() {
  std::vector<std::vector<torch::Tensor>> members;
  for (int m = 0; m < 3; ++m) {
    torch::manual_seed(100 + m);
    members.push_back({torch::randn({4, 3}), torch::randn({4})});
  }
  return members;
}

// Gradients for step t: member m's own, deterministic.
torch::Tensor gradient_for(int member, int k, int t, torch::IntArrayRef shape) {
  torch::manual_seed(1000 * t + 10 * member + k);
  return torch::randn(shape) * (1.0 + member);
}

TEST(StackedAdam, StackingKeepsEveryMembersValuesAndStoresWeightsTransposed) {
  const auto members = three_members();
  const auto stacked = stack_member_parameters(members, torch::kCPU);
  ASSERT_EQ(stacked.size(), 2u);
  EXPECT_EQ(stacked[0].sizes(), (std::vector<std::int64_t>{3, 4, 3}));
  EXPECT_TRUE(stacked[0].transpose(1, 2).is_contiguous());  // x·Wᵀ reads W contiguously
  for (int m = 0; m < 3; ++m)
    for (int k = 0; k < 2; ++k) EXPECT_TRUE(torch::equal(stacked[k][m], members[m][k])) << m << " " << k;
  for (const auto& p : stacked) EXPECT_TRUE(p.is_leaf() && p.requires_grad());
}

TEST(StackedAdam, EachMemberFollowsTorchAdamWithItsOwnLearningRate) {
  const auto members = three_members();
  const std::vector<double> rates = {1e-3, 5e-2, 2e-4};
  StackedAdam stacked(stack_member_parameters(members, torch::kCPU), rates);
  std::vector<std::vector<torch::Tensor>> alone;
  std::vector<std::unique_ptr<torch::optim::Adam>> adams;
  for (int m = 0; m < 3; ++m) {
    alone.push_back({members[m][0].clone().requires_grad_(), members[m][1].clone().requires_grad_()});
    adams.push_back(std::make_unique<torch::optim::Adam>(alone[m], torch::optim::AdamOptions(rates[m])));
  }
  for (int t = 0; t < 6; ++t) {
    stacked.zero_grad();
    for (int k = 0; k < 2; ++k) {
      std::vector<torch::Tensor> grads;
      for (int m = 0; m < 3; ++m) grads.push_back(gradient_for(m, k, t, members[m][k].sizes()));
      stacked.params()[k].mutable_grad() = torch::stack(grads);
      for (int m = 0; m < 3; ++m) alone[m][k].mutable_grad() = grads[m];
    }
    stacked.step();
    for (auto& adam : adams) adam->step();
  }
  for (int m = 0; m < 3; ++m)
    for (int k = 0; k < 2; ++k) {
      const torch::Tensor moved = alone[m][k] - members[m][k];
      EXPECT_GT(moved.abs().max().item<double>(), rates[m]);  // six steps of about lr each moved it
      EXPECT_TRUE(torch::allclose(stacked.params()[k][m], alone[m][k], 1e-6, 1e-7)) << "member " << m << " tensor " << k;
    }
}

TEST(StackedAdam, FirstStepIsLearningRateTimesTheGradientsSign) {
  // Step 1: m̂ = g, v̂ = g², so p₁ = p₀ − η·g / (|g| + ε).
  torch::Tensor p = torch::zeros({2, 3}).requires_grad_();
  StackedAdam adam({p}, {0.1, 0.01});
  adam.params()[0].mutable_grad() = torch::tensor({{2.0f, -3.0f, 1e-3f}, {-0.5f, 4.0f, 0.0f}});
  adam.step();
  const torch::Tensor expected = torch::tensor({{-0.1f, 0.1f, -0.1f * 1e-3f / (1e-3f + 1e-8f)}, {0.01f, -0.01f, 0.0f}});
  EXPECT_TRUE(torch::allclose(adam.params()[0], expected, 1e-6, 1e-9)) << adam.params()[0];
}

TEST(StackedAdam, DroppingAMemberLeavesTheOthersBitForBit) {
  const auto members = three_members();
  StackedAdam all(stack_member_parameters(members, torch::kCPU), {1e-2, 2e-2, 3e-2});
  StackedAdam kept(stack_member_parameters(members, torch::kCPU), {1e-2, 2e-2, 3e-2});
  for (int t = 0; t < 5; ++t) {
    for (StackedAdam* adam : {&all, &kept}) {
      const bool dropped = adam == &kept && t >= 2;
      adam->zero_grad();
      for (int k = 0; k < 2; ++k) {
        std::vector<torch::Tensor> grads;
        for (int m : dropped ? std::vector<int>{0, 2} : std::vector<int>{0, 1, 2})
          grads.push_back(gradient_for(m, k, t, members[m][k].sizes()));
        adam->params()[k].mutable_grad() = torch::stack(grads);
      }
      if (adam == &kept && t == 2) {  // member 1 leaves with this step's gradients in place
        kept.params()[0].mutable_grad() = torch::stack({gradient_for(0, 0, t, {4, 3}), gradient_for(1, 0, t, {4, 3}),
                                                        gradient_for(2, 0, t, {4, 3})});
        kept.params()[1].mutable_grad() = torch::stack({gradient_for(0, 1, t, {4}), gradient_for(1, 1, t, {4}),
                                                        gradient_for(2, 1, t, {4})});
        kept.keep_members({0, 2});
      }
      adam->step();
    }
  }
  ASSERT_EQ(kept.members(), 2);
  for (int k = 0; k < 2; ++k) {
    EXPECT_TRUE(torch::equal(kept.params()[k][0], all.params()[k][0]));
    EXPECT_TRUE(torch::equal(kept.params()[k][1], all.params()[k][2]));
    EXPECT_EQ(kept.params()[k].strides(), all.params()[k].strides());  // the layout survives
  }
}

TEST(StackedAdam, GradientNormsArePerMember) {
  torch::Tensor w = torch::zeros({2, 2, 2}).requires_grad_(), b = torch::zeros({2, 1}).requires_grad_();
  StackedAdam adam({w, b}, {1.0, 1.0});
  adam.params()[0].mutable_grad() = torch::tensor({{{3.0f, 0.0f}, {0.0f, 0.0f}}, {{1.0f, 2.0f}, {2.0f, 0.0f}}});
  adam.params()[1].mutable_grad() = torch::tensor({{4.0f}, {4.0f}});
  const std::vector<double> norms = adam.member_grad_norms();
  ASSERT_EQ(norms.size(), 2u);
  EXPECT_DOUBLE_EQ(norms[0], 5.0);   // √(9 + 16)
  EXPECT_DOUBLE_EQ(norms[1], 5.0);   // √(1 + 4 + 4 + 16)
}

// The tensor-op update (other devices and types; here float64 on the CPU) is the same Adam.
TEST(StackedAdam, TheTensorPathFollowsTorchAdamToo) {
  std::vector<std::vector<torch::Tensor>> members;
  for (int m = 0; m < 2; ++m) {
    torch::manual_seed(200 + m);
    members.push_back({torch::randn({3, 2}, torch::kDouble), torch::randn({3}, torch::kDouble)});
  }
  const std::vector<double> rates = {3e-3, 1e-2};
  StackedAdam stacked(stack_member_parameters(members, torch::kCPU), rates);
  std::vector<std::vector<torch::Tensor>> alone;
  std::vector<std::unique_ptr<torch::optim::Adam>> adams;
  for (int m = 0; m < 2; ++m) {
    alone.push_back({members[m][0].clone().requires_grad_(), members[m][1].clone().requires_grad_()});
    adams.push_back(std::make_unique<torch::optim::Adam>(alone[m], torch::optim::AdamOptions(rates[m])));
  }
  for (int t = 0; t < 4; ++t) {
    stacked.zero_grad();
    for (int k = 0; k < 2; ++k) {
      std::vector<torch::Tensor> grads;
      for (int m = 0; m < 2; ++m) grads.push_back(gradient_for(m, k, t, members[m][k].sizes()).to(torch::kDouble));
      stacked.params()[k].mutable_grad() = torch::stack(grads);
      for (int m = 0; m < 2; ++m) alone[m][k].mutable_grad() = grads[m];
    }
    const std::vector<double> norms = stacked.member_grad_norms();
    for (int m = 0; m < 2; ++m)
      EXPECT_NEAR(norms[m], std::sqrt(alone[m][0].grad().square().sum().item<double>() + alone[m][1].grad().square().sum().item<double>()), 1e-12);
    stacked.step();
    for (auto& adam : adams) adam->step();
  }
  for (int m = 0; m < 2; ++m)
    for (int k = 0; k < 2; ++k) EXPECT_TRUE(torch::allclose(stacked.params()[k][m], alone[m][k], 1e-12, 1e-14)) << m << " " << k;
}

// Denormal gradients and moments count as zero in the fused pass (they would slow every later step
// a hundredfold): a parameter whose only gradient is denormal does not move. Without the flush it
// would move by η·1e-39/ε ≈ 1e-34, a normal float.
TEST(StackedAdam, DenormalValuesAreFlushedToZero) {
  StackedAdam adam({torch::zeros({1, 4}).requires_grad_()}, {0.01});
  adam.params()[0].mutable_grad() = torch::full({1, 4}, 1e-39f);
  ASSERT_NE(adam.params()[0].grad()[0][0].item<float>(), 0.0f);  // the gradient is a denormal, not 0
  adam.step();
  EXPECT_TRUE(torch::equal(adam.params()[0], torch::zeros({1, 4}))) << adam.params()[0];
}

}  // namespace
}  // namespace rpcbench
