// The critic gradient penalty (WPC): each pair's input-gradient norm against finite differences of
// the critic itself, and the constraint doing its job — a critic trained with WPC on correlated
// Gaussians is close to 1-Lipschitz on random inputs, the same critic trained with InfoNCE is not.
#include "tasks/critic_penalty.hpp"
#include "tasks/view_pairs.hpp"
#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace rpcbench {
namespace {

std::shared_ptr<Encoder> critic(std::int64_t dim, std::uint64_t seed) {
  torch::manual_seed(seed);
  const PluginDescriptor* d = test::real_plugins().find(PluginKind::encoder, "separable");
  return test::real_plugins().make_encoder(
      *d, test::declared_params(*d, {{"hidden", std::int64_t{32}}, {"embed", std::int64_t{8}}}), {{dim}, {dim}, 0});
}

std::shared_ptr<Objective> objective(const std::string& name) {
  const PluginDescriptor* d = test::real_plugins().find(PluginKind::objective, name);
  return test::real_plugins().make_objective(*d, test::declared_params(*d, {}));
}

// f(x, y) of one pair, through the critic's score matrix, times `scale`.
double score(Encoder& c, const torch::Tensor& x, const torch::Tensor& y, double scale = 1.0) {
  return scale * c.score_matrix(x.unsqueeze(0), y.unsqueeze(0))[0][0].item<double>();
}

// ‖∇_(x,y) (scale·f)‖ by central differences in double precision.
double finite_difference_norm(Encoder& c, const torch::Tensor& x, const torch::Tensor& y, double scale) {
  const double h = 1e-4;
  double squared = 0;
  for (int which = 0; which < 2; ++which) {
    const torch::Tensor& v = which == 0 ? x : y;
    for (std::int64_t i = 0; i < v.size(0); ++i) {
      torch::Tensor up = v.clone(), down = v.clone();
      up[i] += h, down[i] -= h;
      const double d =
          which == 0 ? score(c, up, y, scale) - score(c, down, y, scale) : score(c, x, up, scale) - score(c, x, down, scale);
      squared += (d / (2 * h)) * (d / (2 * h));
    }
  }
  return std::sqrt(squared);
}

TEST(CriticPenalty, EachPairsGradientNormMatchesFiniteDifferences) {
  auto c = critic(3, 1);
  c->module().to(torch::kFloat64);
  torch::manual_seed(2);
  const torch::Tensor x = (3 * torch::randn({6, 3}, torch::kFloat64)).requires_grad_(true);
  const torch::Tensor y = (3 * torch::randn({6, 3}, torch::kFloat64)).requires_grad_(true);
  // The critic scale·f with scale chosen so that about half the pairs are above 1 (penalised) and
  // half below (free): the positive pairs' median gradient norm is 1/scale.
  std::vector<double> unscaled;
  for (int i = 0; i < 6; ++i) unscaled.push_back(finite_difference_norm(*c, x.detach()[i], y.detach()[i], 1.0));
  std::sort(unscaled.begin(), unscaled.end());
  const double scale = 2.0 / (unscaled[2] + unscaled[3]);
  const torch::Tensor penalty = critic_gradient_penalty(scale * c->score_matrix(x, y), x, y);
  double expected = 0;
  int above = 0;
  for (int i = 0; i < 6; ++i) {
    const torch::Tensor xi = x.detach()[i], yi = y.detach()[i], xn = x.detach()[(i + 1) % 6];
    for (double norm : {finite_difference_norm(*c, xi, yi, scale), finite_difference_norm(*c, xn, yi, scale)}) {
      expected += std::pow(std::max(0.0, norm - 1.0), 2);
      above += norm > 1.0;
    }
  }
  expected /= 12;
  ASSERT_GT(above, 0);
  ASSERT_LT(above, 12);
  EXPECT_NEAR(penalty.item<double>(), expected, 1e-6 * std::max(1.0, expected));
  // It trains: the penalty has a gradient with respect to the critic's parameters.
  penalty.backward();
  double grad = 0;
  for (const auto& p : c->module().parameters())
    if (p.grad().defined()) grad += p.grad().abs().sum().item<double>();
  EXPECT_GT(grad, 0.0);
}

// Largest input-gradient norm ‖∇_(x,y) f‖ of the critic over 200 random (x, y) (autograd; the
// first test checks autograd against finite differences).
double lipschitz_estimate(Encoder& c, std::int64_t dim) {
  torch::manual_seed(99);
  const torch::Tensor x = torch::randn({200, dim}).requires_grad_(true), y = torch::randn({200, dim}).requires_grad_(true);
  const torch::Tensor f = c.score_matrix(x, y).diagonal();  // f(x_i, y_i): each pair once
  const auto g = torch::autograd::grad({f.sum()}, {x, y});
  return (g[0].square().sum(1) + g[1].square().sum(1)).sqrt().max().item<double>();
}

double train_and_measure(const std::string& name) {
  const std::int64_t dim = 2, n = 64;
  auto c = critic(dim, 5);
  auto o = objective(name);
  torch::optim::Adam adam(c->module().parameters(), torch::optim::AdamOptions(1e-3));
  auto gen = at::detail::createCPUGenerator(6);
  const double rho = 0.95;  // 2 × 1.16 nats: a steep log-ratio an unconstrained critic follows
  const torch::Tensor mask = off_diagonal_mask(n, torch::kCPU);
  for (int step = 0; step < 600; ++step) {
    const torch::Tensor x = torch::randn({n, dim}, gen).requires_grad_(true);
    const torch::Tensor y = (rho * x.detach() + std::sqrt(1 - rho * rho) * torch::randn({n, dim}, gen)).requires_grad_(true);
    const torch::Tensor scores = c->score_matrix(x, y);
    const ViewPairScores pairs = split_paired_scores(scores, mask);
    torch::Tensor loss = o->evaluate(pairs.pos, pairs.neg).loss;
    if (o->critic_gradient_penalty() > 0) loss = loss + o->critic_gradient_penalty() * critic_gradient_penalty(scores, x, y);
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
  return lipschitz_estimate(*c, dim);
}

TEST(CriticPenalty, WpcKeepsTheCriticNearOneLipschitzWhereInfoNceDoesNot) {
  const double wpc = train_and_measure("wpc");
  const double infonce = train_and_measure("infonce");
  // The penalty is soft (λ = 10, one-sided): near 1, not at most 1.
  EXPECT_LT(wpc, 2.0) << "infonce " << infonce;
  EXPECT_GT(infonce, 5 * wpc) << "wpc " << wpc;
  std::printf("largest input-gradient norm after 600 steps: wpc %.3f, infonce %.3f\n", wpc, infonce);
}

}  // namespace
}  // namespace rpcbench
