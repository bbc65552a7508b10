// The bmi-style samplers: each closed-form MI against an independent value (a log-determinant, a
// Monte Carlo average of the log density ratio, a numerical integral), the sampled statistics, and
// each transform's invertibility and MI invariance.
#include "test_support.hpp"

#include <boost/math/special_functions/digamma.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace rpcbench {
namespace {

std::shared_ptr<Dataset> make(std::map<std::string, ParamValue> values) {
  const auto& registry = test::real_plugins();
  const PluginDescriptor* d = registry.find(PluginKind::dataset, "bmi");
  if (d == nullptr) throw std::runtime_error("no bmi plugin");
  // The plugin's declared defaults, then the test's values ("steps" kept small).
  values.emplace("steps", std::int64_t{100});
  return registry.make_dataset(*d, test::declared_params(*d, values));
}

Batch draw(Dataset& ds, std::int64_t n, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return ds.sample(0, n, gen);
}

double gaussian_mi_by_log_det(const torch::Tensor& cov, std::int64_t dx) {
  const std::int64_t d = cov.size(0);
  auto ld = [](const torch::Tensor& m) { return std::get<1>(torch::linalg_slogdet(m)).item<double>(); };
  return 0.5 * (ld(cov.slice(0, 0, dx).slice(1, 0, dx)) + ld(cov.slice(0, dx, d).slice(1, dx, d)) - ld(cov));
}

TEST(Bmi, DenseMultinormalMiIsTheLogDetFormulaAndTheSampleHasThatCovariance) {
  for (const auto& [dx, dy, c] : std::vector<std::tuple<std::int64_t, std::int64_t, double>>{{2, 2, 0.5}, {3, 5, 0.3}, {1, 1, 0.9}}) {
    auto ds = make({{"family", std::string("multinormal-dense")}, {"dim_x", dx}, {"dim_y", dy}, {"correlation", c}});
    const std::int64_t d = dx + dy;
    const torch::Tensor cov = (1.0 - c) * torch::eye(d, torch::kFloat64) + c * torch::ones({d, d}, torch::kFloat64);
    EXPECT_NEAR(ds->true_mi(0), gaussian_mi_by_log_det(cov, dx), 1e-12) << dx << "x" << dy << " c " << c;
    const Batch b = draw(*ds, 200000, 11);
    const torch::Tensor z = torch::cat({b.x, b.y}, 1).to(torch::kFloat64);
    const torch::Tensor sample_cov = z.t().mm(z) / static_cast<double>(z.size(0));
    EXPECT_LT((sample_cov - cov).abs().max().item<double>(), 0.02);
  }
}

TEST(Bmi, SparseMultinormalCorrelatesOnlyTheInteractingPairs) {
  auto ds = make({{"family", std::string("multinormal-sparse")}, {"dim_x", std::int64_t{4}}, {"dim_y", std::int64_t{3}},
                  {"correlation", 0.8}, {"interacting", std::int64_t{2}}});
  torch::Tensor cov = torch::eye(7, torch::kFloat64);
  for (int i = 0; i < 2; ++i) cov[i][4 + i] = cov[4 + i][i] = 0.8;
  EXPECT_NEAR(ds->true_mi(0), gaussian_mi_by_log_det(cov, 4), 1e-12);
  const Batch b = draw(*ds, 200000, 12);
  const torch::Tensor z = torch::cat({b.x, b.y}, 1).to(torch::kFloat64);
  EXPECT_LT((z.t().mm(z) / static_cast<double>(z.size(0)) - cov).abs().max().item<double>(), 0.02);
}

// log density of a multivariate t with dispersion Σ, from its quadratic form and log det Σ.
torch::Tensor student_log_density(const torch::Tensor& quad, double log_det, double nu, double d) {
  return std::lgamma((nu + d) / 2) - std::lgamma(nu / 2) - (d / 2) * std::log(nu * M_PI) - 0.5 * log_det -
         ((nu + d) / 2) * torch::log1p(quad / nu);
}

TEST(Bmi, StudentTMiMatchesAMonteCarloAverageOfTheLogDensityRatio) {
  // (ν, dx, dy, correlation of the one interacting pair): Σ = I as in bmi's student-t-dof-ν-dxXdy,
  // and a correlated dispersion.
  for (const auto& [nu, dx, dy, c] : std::vector<std::tuple<double, std::int64_t, std::int64_t, double>>{
           {3.0, 2, 2, 0.0}, {1.0, 1, 1, 0.0}, {5.0, 3, 2, 0.6}}) {
    auto ds = make({{"family", std::string("student-t")}, {"dim_x", dx}, {"dim_y", dy}, {"correlation", c},
                    {"dof", nu}, {"interacting", std::int64_t{1}}});
    const Batch b = draw(*ds, 400000, 13);
    const torch::Tensor x = b.x.to(torch::kFloat64), y = b.y.to(torch::kFloat64);
    // Σ⁻¹ quadratic form: the (x0, y0) block has correlation c, every other coordinate is free.
    const torch::Tensor x0 = x.select(1, 0), y0 = y.select(1, 0);
    const torch::Tensor joint_quad = (x0.square() - 2 * c * x0 * y0 + y0.square()) / (1 - c * c) +
                                     x.slice(1, 1).square().sum(1) + y.slice(1, 1).square().sum(1);
    const double log_det = std::log1p(-c * c);
    const auto ddx = static_cast<double>(dx), ddy = static_cast<double>(dy);
    const torch::Tensor ratio = student_log_density(joint_quad, log_det, nu, ddx + ddy) -
                                student_log_density(x.square().sum(1), 0.0, nu, ddx) -
                                student_log_density(y.square().sum(1), 0.0, nu, ddy);
    const double mc = ratio.mean().item<double>();
    const double se = ratio.std().item<double>() / std::sqrt(static_cast<double>(ratio.numel()));
    EXPECT_NEAR(ds->true_mi(0), mc, std::max(4 * se, 2e-3)) << "nu " << nu << " " << dx << "x" << dy << " c " << c;
    EXPECT_GT(ds->true_mi(0), -0.5 * std::log1p(-c * c));  // heavy tails add dependence
  }
}

TEST(Bmi, AdditiveUniformMiMatchesANumericalIntegral) {
  for (double eps : {0.1, 0.5, 0.75, 2.0}) {
    auto ds = make({{"family", std::string("additive-uniform")}, {"dim_x", std::int64_t{2}}, {"dim_y", std::int64_t{2}},
                    {"noise", eps}});
    // N ~ U(−ε, ε): p_Y(y) = |[0, 1] ∩ [y − ε, y + ε]| / 2ε on [−ε, 1 + ε];
    // I = h(Y) − h(N) = h(Y) − log 2ε per coordinate.
    const int cells = 2000000;
    const double width = (1.0 + 2 * eps) / cells;
    double h = 0.0;
    for (int i = 0; i < cells; ++i) {
      const double y = -eps + (i + 0.5) * width;
      const double p = (std::min(1.0, y + eps) - std::max(0.0, y - eps)) / (2 * eps);
      if (p > 0) h -= p * std::log(p) * width;
    }
    EXPECT_NEAR(ds->true_mi(0), 2 * (h - std::log(2 * eps)), 1e-6) << "noise " << eps;
    const Batch b = draw(*ds, 10000, 14);
    const torch::Tensor n = b.y - b.x;
    EXPECT_GE(n.min().item<double>(), -eps - 1e-6);
    EXPECT_LE(n.max().item<double>(), eps + 1e-6);
    EXPECT_LT(n.min().item<double>(), -0.9 * eps);  // both signs: the noise is centred
    EXPECT_NEAR(n.mean().item<double>(), 0.0, 0.02 * eps);
  }
}

// The Kraskov–Stögbauer–Grassberger estimator (2004, algorithm 1, max-norm): consistent, and not
// the harness's code, so a transform that lost information would show here as a drop in MI.
double ksg(const torch::Tensor& xs, const torch::Tensor& ys, int k) {
  const torch::Tensor x = xs.to(torch::kFloat64).contiguous(), y = ys.to(torch::kFloat64).contiguous();
  const auto n = x.size(0);
  const torch::Tensor dxm = torch::cdist(x, x, std::numeric_limits<double>::infinity());
  const torch::Tensor dym = torch::cdist(y, y, std::numeric_limits<double>::infinity());
  const torch::Tensor dz = torch::maximum(dxm, dym) + torch::eye(n, torch::kFloat64) * 1e300;
  const torch::Tensor eps = std::get<0>(dz.kthvalue(k, 1));  // distance to the k-th neighbour
  const torch::Tensor nx = (dxm < eps.unsqueeze(1)).sum(1) - 1, ny = (dym < eps.unsqueeze(1)).sum(1) - 1;
  double mean = 0.0;
  auto nxa = nx.accessor<std::int64_t, 1>(), nya = ny.accessor<std::int64_t, 1>();
  for (std::int64_t i = 0; i < n; ++i)
    mean += boost::math::digamma(static_cast<double>(nxa[i] + 1)) + boost::math::digamma(static_cast<double>(nya[i] + 1));
  return boost::math::digamma(static_cast<double>(k)) + boost::math::digamma(static_cast<double>(n)) -
         mean / static_cast<double>(n);
}

// Slow enough for KSG at 3000 samples to see through (its bias grows with the twist).
constexpr double kSpiralSpeed = 0.15;

torch::Tensor spiral_back(const torch::Tensor& u, double speed) {
  const torch::Tensor theta = -speed * u.square().sum(1);
  torch::Tensor v = u.clone();
  v.select(1, 0).copy_(torch::cos(theta) * u.select(1, 0) - torch::sin(theta) * u.select(1, 1));
  v.select(1, 1).copy_(torch::sin(theta) * u.select(1, 0) + torch::cos(theta) * u.select(1, 1));
  return v;
}

// Undoes each transform with its own inverse (written here, not in the plugin).
torch::Tensor invert(const std::string& transform, const torch::Tensor& u) {
  if (transform == "half-cube") return u.sign() * u.abs().pow(2.0 / 3.0);
  if (transform == "asinh") return torch::sinh(u);
  if (transform == "normal-cdf") return std::sqrt(2.0) * torch::erfinv(2 * u - 1);
  if (transform == "spiral") return spiral_back(u, kSpiralSpeed);
  if (transform == "wiggly") {
    // Bisection on a strictly increasing map: v + 0.4 sin v + 0.2 sin(2v + 1) is within 0.6 of v.
    torch::Tensor lo = u - 0.61, hi = u + 0.61;
    for (int i = 0; i < 60; ++i) {
      const torch::Tensor mid = (lo + hi) / 2;
      const torch::Tensor below = (mid + 0.4 * torch::sin(mid) + 0.2 * torch::sin(2 * mid + 1)) < u;
      lo = torch::where(below, mid, lo);
      hi = torch::where(below, hi, mid);
    }
    return (lo + hi) / 2;
  }
  return u;
}

TEST(Bmi, EachTransformIsInvertibleAndKeepsTheMi) {
  auto base = make({{"family", std::string("multinormal-sparse")}, {"correlation", 0.8}});
  const Batch plain = draw(*base, 3000, 15);
  const double truth = base->true_mi(0);
  EXPECT_NEAR(ksg(plain.x, plain.y, 5), truth, 0.08);
  for (const std::string transform : {"half-cube", "asinh", "normal-cdf", "wiggly", "spiral"}) {
    auto ds = make({{"family", std::string("multinormal-sparse")}, {"correlation", 0.8}, {"transform", transform},
                    {"spiral_speed", kSpiralSpeed}});
    EXPECT_EQ(ds->true_mi(0), truth) << transform;
    const Batch b = draw(*ds, 3000, 15);  // same generator: the same base draw, transformed
    EXPECT_FALSE(torch::allclose(b.x, plain.x, 1e-3, 1e-3)) << transform << " changed nothing";
    const double tol = transform == "normal-cdf" ? 2e-3 : 1e-4;  // Φ⁻¹ of float32 near 0 and 1
    EXPECT_TRUE(torch::allclose(invert(transform, b.x.to(torch::kFloat64)), plain.x.to(torch::kFloat64), tol, tol))
        << transform;
    EXPECT_TRUE(torch::allclose(invert(transform, b.y.to(torch::kFloat64)), plain.y.to(torch::kFloat64), tol, tol))
        << transform;
    EXPECT_NEAR(ksg(b.x, b.y, 5), truth, 0.15) << transform;
  }
}

TEST(Bmi, WigglyIsStrictlyIncreasing) {
  // The plugin's map, read off the same base draw: sorted by the base value, the wiggly values must
  // increase strictly.
  auto base = make({{"family", std::string("multinormal-sparse")}, {"dim_x", std::int64_t{1}}, {"dim_y", std::int64_t{1}},
                    {"correlation", 0.5}});
  auto wiggly = make({{"family", std::string("multinormal-sparse")}, {"dim_x", std::int64_t{1}}, {"dim_y", std::int64_t{1}},
                      {"correlation", 0.5}, {"transform", std::string("wiggly")}});
  const Batch plain = draw(*base, 20000, 16), b = draw(*wiggly, 20000, 16);
  const torch::Tensor order = plain.x.squeeze(1).argsort();
  const torch::Tensor base_sorted = plain.x.squeeze(1).index_select(0, order);
  const torch::Tensor mapped = b.x.squeeze(1).index_select(0, order);
  // float32 outputs: non-decreasing everywhere, strictly increasing where the base values are
  // further apart than float32 resolves after a map whose slope may be as low as 0.2.
  const torch::Tensor step = mapped.slice(0, 1) - mapped.slice(0, 0, -1);
  const torch::Tensor distinct = (base_sorted.slice(0, 1) - base_sorted.slice(0, 0, -1)) > 1e-4;
  const torch::Tensor tied = base_sorted.slice(0, 1) == base_sorted.slice(0, 0, -1);  // float32 ties: any order
  EXPECT_TRUE(((step >= 0) | tied).all().item<bool>());
  EXPECT_TRUE(((step > 0) | ~distinct).all().item<bool>());
  EXPECT_FALSE(torch::allclose(mapped, base_sorted, 1e-2, 1e-2));  // it is not the identity
  const torch::Tensor grid = torch::linspace(-20, 20, 400001, torch::kFloat64);
  const torch::Tensor w = grid + 0.4 * torch::sin(grid) + 0.2 * torch::sin(2 * grid + 1);
  EXPECT_TRUE((w.slice(0, 1) > w.slice(0, 0, -1)).all().item<bool>());
}

TEST(Bmi, BadParametersAreRefusedNamingTheKey) {
  auto refuses = [](std::map<std::string, ParamValue> values, const std::string& key) {
    try {
      make(std::move(values));
      ADD_FAILURE() << "accepted a bad '" << key << "'";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("'" + key + "'"), std::string::npos) << e.what();
    }
  };
  refuses({{"family", std::string("gauss")}}, "family");
  refuses({{"family", std::string("multinormal-dense")}, {"transform", std::string("cube")}}, "transform");
  refuses({{"family", std::string("multinormal-dense")}, {"correlation", 1.0}}, "correlation");
  refuses({{"family", std::string("multinormal-sparse")}, {"interacting", std::int64_t{3}}}, "interacting");
  refuses({{"family", std::string("additive-uniform")}, {"dim_y", std::int64_t{3}}}, "dim_y");
  refuses({{"family", std::string("multinormal-sparse")}, {"dim_x", std::int64_t{1}}, {"transform", std::string("spiral")}},
          "transform");
  refuses({{"family", std::string("student-t")}, {"dof", 0.1}}, "dof");
  refuses({{"family", std::string("student-t")}, {"transform", std::string("normal-cdf")}}, "transform");
  refuses({{"family", std::string("student-t")}, {"transform", std::string("spiral")}}, "transform");
}

}  // namespace
}  // namespace rpcbench
