// The linear probe and kNN on toy sets with known answers.
#include "eval/probes.hpp"

#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

namespace rpcbench {
namespace {

// Three well-separated Gaussian blobs in 8-d: linearly separable.
std::pair<torch::Tensor, torch::Tensor> blobs(std::int64_t n, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  const torch::Tensor y = torch::randint(3, {n}, gen, torch::kLong);
  const torch::Tensor centres = torch::eye(3, 8) * 6.0;
  return {centres.index_select(0, y) + torch::randn({n, 8}, gen), y};
}

TEST(Probes, SeparableBlobsAreClassifiedAlmostPerfectly) {
  const auto [xtr, ytr] = blobs(600, 1);
  const auto [xte, yte] = blobs(300, 2);
  auto gen = at::detail::createCPUGenerator(3);
  LinearProbeConfig cfg;
  cfg.epochs = 20;
  EXPECT_GT(linear_probe_top1(xtr, ytr, xte, yte, 3, cfg, gen), 0.99);
  EXPECT_GT(knn_top1(xtr, ytr, xte, yte, 3, 20, 0.1), 0.99);
}

TEST(Probes, FeaturesWithoutInformationGiveChance) {
  auto gen = at::detail::createCPUGenerator(6);
  const torch::Tensor xtr = torch::randn({900, 8}, gen), xte = torch::randn({900, 8}, gen);
  const torch::Tensor ytr = torch::randint(3, {900}, gen, torch::kLong), yte = torch::randint(3, {900}, gen, torch::kLong);
  LinearProbeConfig cfg;
  cfg.epochs = 10;
  EXPECT_NEAR(linear_probe_top1(xtr, ytr, xte, yte, 3, cfg, gen), 1.0 / 3.0, 0.07);
  EXPECT_NEAR(knn_top1(xtr, ytr, xte, yte, 3, 20, 0.1), 1.0 / 3.0, 0.07);
}

TEST(Probes, SameGeneratorSeedSameAccuracy) {
  const auto [xtr, ytr] = blobs(300, 7);
  const auto [xte, yte] = blobs(100, 8);
  LinearProbeConfig cfg;
  cfg.epochs = 3;
  auto g1 = at::detail::createCPUGenerator(9), g2 = at::detail::createCPUGenerator(9);
  EXPECT_EQ(linear_probe_top1(xtr, ytr, xte, yte, 3, cfg, g1), linear_probe_top1(xtr, ytr, xte, yte, 3, cfg, g2));
}

}  // namespace
}  // namespace rpcbench
