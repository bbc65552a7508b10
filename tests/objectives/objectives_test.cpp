// Each objective against closed forms: with the optimal critic of a Gaussian pair whose MI is
// known, the estimates match the true MI within sampling tolerance.
#include "test_support.hpp"
#include "util/errors.hpp"

#include <cmath>

namespace rpcbench {
namespace {

using test::real_plugins;

// N pairs of d-dim Gaussians with per-dimension correlation ρ; true MI = −(d/2) log(1 − ρ²).
struct GaussianPairs {
  GaussianPairs(std::int64_t n, std::int64_t d, double mi, std::uint64_t seed) : d(d), mi(mi) {
    rho = std::sqrt(1.0 - std::exp(-2.0 * mi / static_cast<double>(d)));
    auto gen = at::detail::createCPUGenerator(seed);
    const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    x = torch::randn({n, d}, gen, opts);
    y = rho * x + std::sqrt(1 - rho * rho) * torch::randn({n, d}, gen, opts);
  }
  // S[i, j] = log r(x_j, y_i), the density ratio in closed form.
  torch::Tensor log_ratio() const {
    const double k = 1.0 - rho * rho;
    const torch::Tensor xx = x.square().sum(1).unsqueeze(0);  // over j
    const torch::Tensor yy = y.square().sum(1).unsqueeze(1);  // over i
    const torch::Tensor xy = torch::matmul(y, x.t());
    return -0.5 * d * std::log(k) - (rho * rho * (xx + yy) - 2.0 * rho * xy) / (2.0 * k);
  }
  std::int64_t d;
  double mi, rho;
  torch::Tensor x, y;
};

std::pair<torch::Tensor, torch::Tensor> split(const torch::Tensor& s) {
  const std::int64_t n = s.size(0);
  const torch::Tensor off = ~torch::eye(n, torch::TensorOptions().dtype(torch::kBool));
  return {s.diagonal(), s.masked_select(off).view({n, n - 1})};
}

std::shared_ptr<Objective> make(const std::string& name, std::map<std::string, ParamValue> values) {
  const PluginDescriptor* d = real_plugins().find(PluginKind::objective, name);
  if (d == nullptr) throw std::runtime_error("plugin not built: " + name);
  return real_plugins().make_objective(*d, Params("objective '" + name + "'", std::move(values)));
}

double value(const torch::Tensor& t) { return t.item<double>(); }

double diagnostic(const ObjectiveResult& r, const std::string& name) {
  for (const auto& [k, v] : r.diagnostics)
    if (k == name) return v.item<double>();
  throw std::runtime_error("no diagnostic " + name);
}

class AtOptimalCritic : public ::testing::Test {
 protected:
  GaussianPairs pairs{1000, 5, 2.0, 7};
  torch::Tensor log_r = pairs.log_ratio();
};

TEST_F(AtOptimalCritic, InfoNceMatchesSmallMiAndSaturatesAtLogN) {
  auto infonce = make("infonce", {{"temperature", 1.0}});
  GaussianPairs low(1000, 5, 1.0, 3);
  auto [pos, neg] = split(low.log_ratio());
  const auto r = infonce->evaluate(pos, neg);
  EXPECT_NEAR(value(r.mi), 1.0, 0.1);
  EXPECT_DOUBLE_EQ(diagnostic(r, "mi_ceiling"), std::log(1000.0));

  GaussianPairs high(128, 20, 10.0, 4);
  auto [hpos, hneg] = split(high.log_ratio());
  const double est = value(infonce->evaluate(hpos, hneg).mi);
  EXPECT_LE(est, std::log(128.0) + 1e-9);  // the log N ceiling
  EXPECT_GT(est, std::log(128.0) - 0.6);   // and it sits near it when MI ≫ log N
}

TEST_F(AtOptimalCritic, NwjWithShiftedCriticMatchesMi) {
  auto [pos, neg] = split(log_r + 1.0);  // NWJ's optimum is 1 + log r
  EXPECT_NEAR(value(make("nwj", {{"shift", 0.0}})->evaluate(pos, neg).mi), pairs.mi, 0.25);
  auto [p0, n0] = split(log_r);
  EXPECT_NEAR(value(make("nwj", {{"shift", 1.0}})->evaluate(p0, n0).mi), pairs.mi, 0.25);
}

TEST_F(AtOptimalCritic, JsReadOutsDifferByOneOverE) {
  auto [pos, neg] = split(log_r);  // the JS optimum is log r
  const auto r = make("js", {{"readout", std::string("nwj_plus_one")}})->evaluate(pos, neg);
  EXPECT_NEAR(value(r.mi), pairs.mi, 0.25);
  EXPECT_DOUBLE_EQ(value(r.mi), diagnostic(r, "mi_nwj_plus_one"));
  EXPECT_NEAR(diagnostic(r, "mi_nwj_plus_one") - diagnostic(r, "mi_nwj"), std::exp(-1.0), 0.05);
  const auto plain = make("js", {{"readout", std::string("nwj")}})->evaluate(pos, neg);
  EXPECT_DOUBLE_EQ(value(plain.mi), diagnostic(r, "mi_nwj"));
}

TEST_F(AtOptimalCritic, DvMatchesMiAndIgnoresConstantShifts) {
  auto dv = make("dv", {{"scale", 1.0}});
  auto [pos, neg] = split(log_r);
  const double est = value(dv->evaluate(pos, neg).mi);
  EXPECT_NEAR(est, pairs.mi, 0.25);
  auto [p3, n3] = split(log_r + 3.0);
  EXPECT_NEAR(value(dv->evaluate(p3, n3).mi), est, 1e-9);
}

TEST_F(AtOptimalCritic, SmileWithoutClipIsDvAndClipLowersTheLogPartition) {
  auto [pos, neg] = split(log_r);
  const double dv = value(make("dv", {{"scale", 1.0}})->evaluate(pos, neg).mi);
  EXPECT_NEAR(value(make("smile", {{"clip", INFINITY}})->evaluate(pos, neg).mi), dv, 1e-12);
  const double clipped = value(make("smile", {{"clip", 1.0}})->evaluate(pos, neg).mi);
  const torch::Tensor c = neg.clamp(-1.0, 1.0);
  const double expected = value(pos.mean() - (torch::logsumexp(c.reshape(-1), 0) - std::log(c.numel())));
  EXPECT_NEAR(clipped, expected, 1e-12);
}

TEST_F(AtOptimalCritic, MineValueIsDvAndItsAverageFollowsTheMomentum) {
  auto mine = make("mine", {{"momentum", 0.9}});
  auto [pos, neg] = split(log_r);
  torch::Tensor p = pos.clone().requires_grad_(true);
  const auto first = mine->evaluate(p, neg);
  const double l1 = value(torch::logsumexp(neg.reshape(-1), 0)) - std::log(neg.numel());
  EXPECT_NEAR(diagnostic(first, "log_moving_average"), l1, 1e-12);
  EXPECT_NEAR(value(first.mi), value(make("dv", {{"scale", 1.0}})->evaluate(pos, neg).mi), 1e-12);
  const torch::Tensor neg2 = neg + 0.5;
  const auto second = mine->evaluate(p, neg2);
  const double l2 = l1 + 0.5;
  EXPECT_NEAR(diagnostic(second, "log_moving_average"),
              std::log(0.9 * std::exp(l1) + 0.1 * std::exp(l2)), 1e-9);
  {
    torch::NoGradGuard no_grad;  // evaluation does not move the average
    const auto third = mine->evaluate(pos, neg2 + 10.0);
    EXPECT_NEAR(diagnostic(third, "log_moving_average"), diagnostic(second, "log_moving_average"), 1e-12);
  }
}

struct RpcParams {
  double alpha, beta, gamma;
};

class RpcAtItsOptimum : public AtOptimalCritic, public ::testing::WithParamInterface<RpcParams> {};

TEST_P(RpcAtItsOptimum, RatioReadOutInvertsTheOptimalCritic) {
  const auto [alpha, beta, gamma] = GetParam();
  const torch::Tensor r = log_r.exp();
  const torch::Tensor f_star = (r - alpha) / (beta * r + gamma);
  auto [pos, neg] = split(f_star);
  auto rpc = make("rpc", {{"alpha", alpha}, {"beta", beta}, {"gamma", gamma},
                          {"readout", std::string("ratio")}});
  const auto result = rpc->evaluate(pos, neg);
  // r̂ = (γ f* + α) / (1 − β f*) = r exactly, so E_P[log r̂] is the sample mean of log r.
  const double expected = value(log_r.diagonal().clamp_min(std::log(1e-4)).mean());
  EXPECT_NEAR(value(result.mi), expected, 1e-6);
  EXPECT_NEAR(value(result.mi), pairs.mi, 0.15);
  // The public code's read-out: log r̂ at the mean positive score.
  const double m = value(pos.mean());
  EXPECT_NEAR(diagnostic(result, "mi_mean_score"),
              std::log(std::max((gamma * m + alpha) / (1.0 - beta * m), 1e-4)), 1e-9);
}

TEST_P(RpcAtItsOptimum, OptimalCriticMaximisesTheObjective) {
  const auto [alpha, beta, gamma] = GetParam();
  const torch::Tensor r = log_r.exp();
  const torch::Tensor f_star = (r - alpha) / (beta * r + gamma);
  auto rpc = make("rpc", {{"alpha", alpha}, {"beta", beta}, {"gamma", gamma},
                          {"readout", std::string("mean_score")}});
  auto j = [&](const torch::Tensor& f) {
    auto [pos, neg] = split(f);
    return -value(rpc->evaluate(pos, neg).loss);
  };
  const double best = j(f_star);
  for (const torch::Tensor& other : {f_star * 1.5, f_star * 0.5, f_star + 0.3, f_star - 0.3})
    EXPECT_GT(best, j(other));
}

INSTANTIATE_TEST_SUITE_P(PaperSettings, RpcAtItsOptimum,
                         ::testing::Values(RpcParams{1.0, 1e-4, 1.0},   // MI benchmark
                                           RpcParams{1.0, 0.0, 1.0},    // χ²
                                           RpcParams{0.3, 0.01, 0.1}));  // ImageNet

TEST(Chi2, IsRpcWithAlphaOneBetaZeroGammaOne) {
  GaussianPairs pairs(200, 5, 2.0, 11);
  auto [pos, neg] = split(pairs.log_ratio().exp() - 1.0);
  const auto chi2 = make("chi2", {{"readout", std::string("mean_score")}})->evaluate(pos, neg);
  const auto rpc = make("rpc", {{"alpha", 1.0}, {"beta", 0.0}, {"gamma", 1.0},
                                {"readout", std::string("mean_score")}})->evaluate(pos, neg);
  EXPECT_DOUBLE_EQ(value(chi2.loss), value(rpc.loss));
  EXPECT_DOUBLE_EQ(value(chi2.mi), value(rpc.mi));
}

const std::vector<std::pair<std::string, std::map<std::string, ParamValue>>> kAll = {
    {"rpc", {{"alpha", 1.0}, {"beta", 1e-4}, {"gamma", 1.0}, {"readout", std::string("mean_score")}}},
    {"chi2", {{"readout", std::string("ratio")}}},
    {"infonce", {{"temperature", 1.0}}},
    {"nwj", {{"shift", 0.0}}},
    {"js", {{"readout", std::string("nwj")}}},
    {"dv", {{"scale", 1.0}}},
    {"mine", {{"momentum", 0.9}}},
    {"smile", {{"clip", 5.0}}},
};

TEST(AllObjectives, LossIsAScalarWithFiniteGradients) {
  auto gen = at::detail::createCPUGenerator(5);
  const torch::Tensor pos0 = torch::randn({32}, gen), neg0 = torch::randn({32, 31}, gen);
  for (const auto& [name, params] : kAll) {
    SCOPED_TRACE(name);
    torch::Tensor pos = pos0.clone().requires_grad_(true), neg = neg0.clone().requires_grad_(true);
    const auto r = make(name, params)->evaluate(pos, neg);
    ASSERT_EQ(r.loss.dim(), 0);
    ASSERT_EQ(r.mi.numel(), 1);
    r.loss.backward();
    EXPECT_TRUE(torch::isfinite(pos.grad()).all().item<bool>());
    EXPECT_TRUE(torch::isfinite(neg.grad()).all().item<bool>());
    EXPECT_GT(pos.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(Stability, InfoNceAtTinyTemperatureAndDvAtHugeScoresStayFinite) {
  auto gen = at::detail::createCPUGenerator(9);
  torch::Tensor pos = (torch::randn({64}, gen) * 10).requires_grad_(true);
  torch::Tensor neg = (torch::randn({64, 126}, gen) * 10).requires_grad_(true);
  const auto r = make("infonce", {{"temperature", 0.01}})->evaluate(pos, neg);
  r.loss.backward();
  EXPECT_TRUE(std::isfinite(value(r.loss)));
  EXPECT_TRUE(torch::isfinite(pos.grad()).all().item<bool>());

  const torch::Tensor big_pos = torch::full({8}, 900.0), big_neg = torch::full({8, 7}, 800.0);
  EXPECT_NEAR(value(make("dv", {{"scale", 1.0}})->evaluate(big_pos, big_neg).mi), 100.0, 1e-9);
  EXPECT_TRUE(std::isfinite(value(make("mine", {{"momentum", 0.9}})->evaluate(big_pos, big_neg).mi)));
}

TEST(Params, BadValuesAreRefusedWithTheKeyNamed) {
  try {
    make("rpc", {{"alpha", 1.0}, {"beta", 0.0}, {"gamma", 1.0}, {"readout", std::string("bogus")}});
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("readout"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bogus"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make("smile", {{"clip", 0.0}}), InputError);
  EXPECT_THROW(make("infonce", {{"temperature", -1.0}}), InputError);
  EXPECT_THROW(make("rpc", {{"alpha", 1.0}}), InputError);  // missing keys
}

}  // namespace
}  // namespace rpcbench
