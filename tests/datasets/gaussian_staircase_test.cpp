// The staircase sampler: schedule, true MI, and the sampled correlation.
#include "test_support.hpp"

#include <cmath>

namespace rpcbench {
namespace {

std::shared_ptr<Dataset> make(std::string transform, std::vector<double> levels, std::int64_t dim = 4) {
  const auto& registry = test::real_plugins();
  const PluginDescriptor* d = registry.find(PluginKind::dataset, "gaussian_staircase");
  return registry.make_dataset(*d, Params("dataset", {{"dim", dim},
                                                      {"mi_levels", std::move(levels)},
                                                      {"steps_per_level", std::int64_t{10}},
                                                      {"transform", std::move(transform)}}));
}

TEST(GaussianStaircase, ScheduleAndTrueMi) {
  auto ds = make("identity", {2.0, 4.0, 6.0});
  EXPECT_EQ(ds->spec().stream_steps, 30);
  EXPECT_EQ(ds->spec().input.x_shape, std::vector<std::int64_t>{4});
  EXPECT_NEAR(ds->true_mi(0), 2.0, 1e-12);
  EXPECT_NEAR(ds->true_mi(9), 2.0, 1e-12);
  EXPECT_NEAR(ds->true_mi(10), 4.0, 1e-12);
  EXPECT_NEAR(ds->true_mi(29), 6.0, 1e-12);
  EXPECT_NEAR(ds->true_mi(1000), 6.0, 1e-12);  // past the end: the last level
}

TEST(GaussianStaircase, SampledCorrelationMatchesRho) {
  auto ds = make("identity", {2.0}, 4);
  auto gen = at::detail::createCPUGenerator(3);
  const Batch b = ds->sample(0, 200000, gen);
  const double rho = std::sqrt(1.0 - std::exp(-2.0 * 2.0 / 4.0));
  for (int k = 0; k < 4; ++k) {
    const torch::Tensor xs = b.x.select(1, k).to(torch::kFloat64), ys = b.y.select(1, k).to(torch::kFloat64);
    const double corr = ((xs * ys).mean() / (xs.std() * ys.std())).item<double>();
    EXPECT_NEAR(corr, rho, 0.01);
  }
}

TEST(GaussianStaircase, CubicIsTheCubeOfTheGaussianDraw) {
  auto gauss = make("identity", {2.0});
  auto cubic = make("cubic", {2.0});
  auto g1 = at::detail::createCPUGenerator(5), g2 = at::detail::createCPUGenerator(5);
  const Batch a = gauss->sample(0, 16, g1), b = cubic->sample(0, 16, g2);
  EXPECT_TRUE(torch::equal(a.x, b.x));
  EXPECT_TRUE(torch::allclose(a.y.pow(3), b.y));
  EXPECT_EQ(cubic->true_mi(0), gauss->true_mi(0));
}

}  // namespace
}  // namespace rpcbench
