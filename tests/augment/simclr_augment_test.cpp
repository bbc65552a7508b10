// Augmentation properties: shapes, ranges, determinism per seed, and exact flip/crop geometry.
#include "augment/simclr_augment.hpp"

#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

namespace rpcbench {
namespace {

torch::Tensor images(std::int64_t n, std::int64_t c, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::rand({n, c, 16, 16}, gen);
}

TEST(Augment, ShapesRangesAndDeterminismPerSeed) {
  AugmentConfig cfg;
  cfg.blur_p = 0.5;
  for (std::int64_t c : {1, 3}) {
    const torch::Tensor x = images(8, c, 1);
    auto g1 = at::detail::createCPUGenerator(42), g2 = at::detail::createCPUGenerator(42), g3 = at::detail::createCPUGenerator(43);
    const torch::Tensor a = augment(x, cfg, g1), b = augment(x, cfg, g2), d = augment(x, cfg, g3);
    EXPECT_EQ(a.sizes(), x.sizes());
    EXPECT_GE(a.min().item<float>(), 0.0f);
    EXPECT_LE(a.max().item<float>(), 1.0f);
    EXPECT_TRUE(torch::equal(a, b));   // same seed, same views
    EXPECT_FALSE(torch::equal(a, d));  // another seed, other views
    EXPECT_FALSE(torch::equal(a, x));
  }
}

TEST(Augment, FullCropIsIdentityAndFlipMirrors) {
  const torch::Tensor x = images(2, 3, 2);
  const torch::Tensor identity = torch::tensor({{1.0f, 1.0f, 0.0f, 0.0f, 1.0f}, {1.0f, 1.0f, 0.0f, 0.0f, 1.0f}});
  EXPECT_TRUE(torch::allclose(resized_crop(x, identity), x, 1e-5, 1e-5));
  const torch::Tensor mirror = torch::tensor({{1.0f, 1.0f, 0.0f, 0.0f, -1.0f}, {1.0f, 1.0f, 0.0f, 0.0f, -1.0f}});
  EXPECT_TRUE(torch::allclose(resized_crop(x, mirror), torch::flip(x, {3}), 1e-5, 1e-5));
}

TEST(Augment, CropOfARampSamplesTheChosenRegion) {
  // Pixel value = its normalised x coordinate; bilinear resampling of a ramp is exact inside.
  const std::int64_t w = 16;
  const torch::Tensor coords = (2 * torch::arange(w, torch::kFloat32) + 1) / w - 1;
  const torch::Tensor ramp = coords.view({1, 1, 1, w}).expand({1, 1, w, w}).contiguous();
  const torch::Tensor left_half = torch::tensor({{0.5f, 1.0f, -0.5f, 0.0f, 1.0f}});
  const torch::Tensor out = resized_crop(ramp, left_half);
  const torch::Tensor expected = 0.5 * coords - 0.5;
  EXPECT_TRUE(torch::allclose(out[0][0][5].narrow(0, 1, w - 1), expected.narrow(0, 1, w - 1), 1e-5, 1e-5));
}

TEST(Augment, GrayscaleImagesOnlyGetBrightnessAndContrast) {
  AugmentConfig cfg;
  cfg.crop_scale_min = 1.0;  // no crop
  cfg.flip_p = 0.0;
  cfg.jitter_p = 1.0;
  cfg.brightness = 0.0;
  cfg.contrast = 0.0;  // factors exactly 1
  cfg.saturation = 0.9;
  cfg.hue = 0.4;       // ignored on one channel
  const torch::Tensor x = images(4, 1, 3);
  auto gen = at::detail::createCPUGenerator(1);
  // Aspect ratio still varies the crop; pin it too.
  cfg.crop_ratio_min = cfg.crop_ratio_max = 1.0;
  EXPECT_TRUE(torch::allclose(augment(x, cfg, gen), x, 1e-5, 1e-5));
}

TEST(Augment, RandomGrayscaleMakesChannelsEqualAndBlurKeepsConstants) {
  AugmentConfig cfg;
  cfg.gray_p = 1.0;
  auto gen = at::detail::createCPUGenerator(5);
  const torch::Tensor g = augment(images(4, 3, 4), cfg, gen);
  EXPECT_TRUE(torch::allclose(g.select(1, 0), g.select(1, 1)));
  EXPECT_TRUE(torch::allclose(g.select(1, 1), g.select(1, 2)));
  const torch::Tensor flat = torch::full({2, 3, 16, 16}, 0.25f);
  EXPECT_TRUE(torch::allclose(gaussian_blur(flat, torch::tensor({0.5f, 2.0f}), 5), flat, 1e-6, 1e-6));
  const torch::Tensor noise = images(2, 1, 6);
  EXPECT_LT(gaussian_blur(noise, torch::tensor({2.0f, 2.0f}), 5).std().item<float>(), noise.std().item<float>());
}

}  // namespace
}  // namespace rpcbench
