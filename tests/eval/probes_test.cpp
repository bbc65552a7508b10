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

// Separable features, but labels drawn independently of them: nothing to learn, on either probe,
// however well the training labels are fitted.
TEST(Probes, RandomLabelsOnSeparableFeaturesGiveChance) {
  auto [xtr, ignored_train] = blobs(900, 10);
  auto [xte, ignored_test] = blobs(900, 11);
  auto gen = at::detail::createCPUGenerator(12);
  const torch::Tensor ytr = torch::randint(3, {900}, gen, torch::kLong), yte = torch::randint(3, {900}, gen, torch::kLong);
  LinearProbeConfig cfg;
  cfg.epochs = 20;
  EXPECT_NEAR(linear_probe_top1(xtr, ytr, xte, yte, 3, cfg, gen), 1.0 / 3.0, 0.07);
  EXPECT_NEAR(knn_top1(xtr, ytr, xte, yte, 3, 20, 0.1), 1.0 / 3.0, 0.07);
}

// Ten classes, separable only jointly (class = the argmax of a random projection, points within a
// margin of a boundary dropped), features on scales from 1e-3 to 1e3: the standardised probe
// still finds the boundaries.
TEST(Probes, LinearlySeparableTenClassesOnMixedScales) {
  auto gen = at::detail::createCPUGenerator(13);
  const torch::Tensor w = torch::randn({16, 10}, gen);
  const torch::Tensor scale = torch::logspace(-3, 3, 16);
  auto make = [&](std::int64_t n) {
    const torch::Tensor x = torch::randn({n, 16}, gen);
    const auto [top, label] = torch::matmul(x, w).topk(2, 1);
    const torch::Tensor keep = (top.select(1, 0) - top.select(1, 1)).gt(1.0).nonzero().squeeze(1);
    return std::make_pair(x.index_select(0, keep) * scale, label.select(1, 0).index_select(0, keep));
  };
  const auto [xtr, ytr] = make(8000);
  const auto [xte, yte] = make(2000);
  ASSERT_GT(xte.size(0), 500);
  LinearProbeConfig cfg;
  cfg.epochs = 30;
  EXPECT_GT(linear_probe_top1(xtr, ytr, xte, yte, 10, cfg, gen), 0.98);
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
