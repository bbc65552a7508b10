// Every objective pinned on one small fixed input: loss, MI read-outs and diagnostics against the
// formulas of reference/objectives.md written out again here with plain loops in double (no
// LibTorch), and the gradient against central finite differences of that independent loss — or,
// where the gradient is deliberately not the loss's (MINE), against the hand-derived expression.
#include "test_support.hpp"

#include <cmath>
#include <functional>

namespace rpcbench {
namespace {

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;

// M = 3 anchors, K = 2 negatives each; values chosen so clips, signs and softplus tails all matter.
const Vec kPos = {0.5, -0.3, 1.2};
const Mat kNeg = {{0.1, -0.7}, {0.4, 1.9}, {-1.1, 0.2}};

double mean(const Vec& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}
double mean_of(const Mat& m, const std::function<double(double)>& f) {
  double s = 0;
  std::size_t n = 0;
  for (const auto& row : m)
    for (double x : row) s += f(x), ++n;
  return s / n;
}
double mean_of(const Vec& v, const std::function<double(double)>& f) {
  double s = 0;
  for (double x : v) s += f(x);
  return s / v.size();
}
double softplus(double x) { return std::log1p(std::exp(x)); }
double identity(double x) { return x; }

// The objectives' values, from reference/objectives.md.
double nwj(const Vec& p, const Mat& n) { return mean(p) - mean_of(n, [](double f) { return std::exp(f - 1); }); }
double js(const Vec& p, const Mat& n) {
  return mean_of(p, [](double f) { return -softplus(-f); }) - mean_of(n, softplus);
}
double dv(const Vec& p, const Mat& n) { return mean(p) - std::log(mean_of(n, [](double f) { return std::exp(f); })); }
double rpc(const Vec& p, const Mat& n, double a, double b, double g) {
  return mean(p) - a * mean_of(n, identity) - b / 2 * mean_of(p, [](double f) { return f * f; }) -
         g / 2 * mean_of(n, [](double f) { return f * f; });
}
double infonce_loss(const Vec& p, const Mat& n, double tau) {
  double total = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    double z = std::exp(p[i] / tau);
    for (double f : n[i]) z += std::exp(f / tau);
    total += -(p[i] / tau - std::log(z));
  }
  return total / p.size();
}
Mat shifted(const Mat& n, double c) {
  Mat out = n;
  for (auto& row : out)
    for (auto& x : row) x += c;
  return out;
}
Vec shifted(const Vec& v, double c) {
  Vec out = v;
  for (auto& x : out) x += c;
  return out;
}

torch::Tensor tensor(const Vec& v) { return torch::tensor(v, torch::kFloat64); }
torch::Tensor tensor(const Mat& m) {
  Vec flat;
  for (const auto& row : m) flat.insert(flat.end(), row.begin(), row.end());
  return torch::tensor(flat, torch::kFloat64).view({static_cast<long>(m.size()), static_cast<long>(m[0].size())});
}

struct Evaluated {
  ObjectiveResult result;
  Vec grad_pos;
  Mat grad_neg;
  double diagnostic(const std::string& name) const {
    for (const auto& [k, v] : result.diagnostics)
      if (k == name) return v.item<double>();
    ADD_FAILURE() << "no diagnostic " << name;
    return NAN;
  }
};

Evaluated evaluate(Objective& objective, const Vec& p, const Mat& n) {
  torch::Tensor pos = tensor(p).requires_grad_(true), neg = tensor(n).requires_grad_(true);
  Evaluated e{objective.evaluate(pos, neg), {}, {}};
  e.result.loss.backward();
  for (std::size_t i = 0; i < p.size(); ++i) e.grad_pos.push_back(pos.grad()[i].item<double>());
  e.grad_neg.assign(n.size(), Vec(n[0].size()));
  for (std::size_t i = 0; i < n.size(); ++i)
    for (std::size_t k = 0; k < n[i].size(); ++k) e.grad_neg[i][k] = neg.grad()[i][k].item<double>();
  return e;
}

std::shared_ptr<Objective> make(const std::string& name, std::map<std::string, ParamValue> values) {
  const PluginDescriptor* d = test::real_plugins().find(PluginKind::objective, name);
  if (d == nullptr) throw std::runtime_error("plugin not built: " + name);
  return test::real_plugins().make_objective(*d, Params("objective '" + name + "'", std::move(values)));
}

// Central differences of an independent loss, compared with the autograd gradient.
void expect_gradient_of(const std::function<double(const Vec&, const Mat&)>& loss, const Evaluated& e) {
  const double h = 1e-6;
  for (std::size_t i = 0; i < kPos.size(); ++i) {
    Vec up = kPos, down = kPos;
    up[i] += h, down[i] -= h;
    EXPECT_NEAR(e.grad_pos[i], (loss(up, kNeg) - loss(down, kNeg)) / (2 * h), 1e-7) << "d/dpos[" << i << "]";
  }
  for (std::size_t i = 0; i < kNeg.size(); ++i)
    for (std::size_t k = 0; k < kNeg[i].size(); ++k) {
      Mat up = kNeg, down = kNeg;
      up[i][k] += h, down[i][k] -= h;
      EXPECT_NEAR(e.grad_neg[i][k], (loss(kPos, up) - loss(kPos, down)) / (2 * h), 1e-7)
          << "d/dneg[" << i << "][" << k << "]";
    }
}

TEST(PinnedValues, InfoNce) {
  for (double tau : {1.0, 0.3}) {
    SCOPED_TRACE(tau);
    auto o = make("infonce", {{"temperature", tau}});
    const Evaluated e = evaluate(*o, kPos, kNeg);
    const double loss = infonce_loss(kPos, kNeg, tau);
    EXPECT_NEAR(e.result.loss.item<double>(), loss, 1e-12);
    EXPECT_NEAR(e.result.mi.item<double>(), std::log(3.0) - loss, 1e-12);  // log(K + 1) − loss
    EXPECT_NEAR(e.diagnostic("mi_ceiling"), std::log(3.0), 1e-15);
    expect_gradient_of([&](const Vec& p, const Mat& n) { return infonce_loss(p, n, tau); }, e);
  }
}

// WPC's objective is InfoNCE's (its constraint lives in the critic's penalty, computed by the task):
// the same pinned values, and the penalty weight it declares through the SDK.
TEST(PinnedValues, WpcIsInfoNceWithADeclaredCriticPenalty) {
  auto o = make("wpc", {{"temperature", 0.3}, {"gradient_penalty", 7.5}});
  const Evaluated e = evaluate(*o, kPos, kNeg);
  const double loss = infonce_loss(kPos, kNeg, 0.3);
  EXPECT_NEAR(e.result.loss.item<double>(), loss, 1e-12);
  EXPECT_NEAR(e.result.mi.item<double>(), std::log(3.0) - loss, 1e-12);
  EXPECT_NEAR(e.diagnostic("mi_ceiling"), std::log(3.0), 1e-15);
  expect_gradient_of([&](const Vec& p, const Mat& n) { return infonce_loss(p, n, 0.3); }, e);
  EXPECT_EQ(o->critic_gradient_penalty(), 7.5);
  EXPECT_EQ(make("infonce", {{"temperature", 1.0}})->critic_gradient_penalty(), 0.0);
}

TEST(PinnedValues, Nwj) {
  auto o = make("nwj", {{"shift", 0.25}});
  const Evaluated e = evaluate(*o, kPos, kNeg);
  auto value = [](const Vec& p, const Mat& n) { return nwj(shifted(p, 0.25), shifted(n, 0.25)); };
  EXPECT_NEAR(e.result.loss.item<double>(), -value(kPos, kNeg), 1e-12);
  EXPECT_NEAR(e.result.mi.item<double>(), value(kPos, kNeg), 1e-12);
  expect_gradient_of([&](const Vec& p, const Mat& n) { return -value(p, n); }, e);
}

TEST(PinnedValues, JsTrainsOnTheSurrogateAndReadsOutBothNwjValues) {
  for (const std::string readout : {"nwj", "nwj_plus_one"}) {
    SCOPED_TRACE(readout);
    auto o = make("js", {{"readout", readout}});
    const Evaluated e = evaluate(*o, kPos, kNeg);
    EXPECT_NEAR(e.result.loss.item<double>(), -js(kPos, kNeg), 1e-12);
    EXPECT_NEAR(e.diagnostic("js"), js(kPos, kNeg), 1e-12);
    const double plain = nwj(kPos, kNeg), plus_one = nwj(shifted(kPos, 1.0), shifted(kNeg, 1.0));
    EXPECT_NEAR(e.diagnostic("mi_nwj"), plain, 1e-12);
    EXPECT_NEAR(e.diagnostic("mi_nwj_plus_one"), plus_one, 1e-12);
    EXPECT_NEAR(e.result.mi.item<double>(), readout == "nwj" ? plain : plus_one, 1e-12);
    expect_gradient_of([](const Vec& p, const Mat& n) { return -js(p, n); }, e);
  }
}

TEST(PinnedValues, Dv) {
  auto o = make("dv", {{"scale", 2.0}});
  const Evaluated e = evaluate(*o, kPos, kNeg);
  auto value = [](const Vec& p, const Mat& n) {
    Vec p2 = p;
    Mat n2 = n;
    for (auto& x : p2) x *= 2;
    for (auto& row : n2)
      for (auto& x : row) x *= 2;
    return dv(p2, n2);
  };
  EXPECT_NEAR(e.result.loss.item<double>(), -value(kPos, kNeg), 1e-12);
  EXPECT_NEAR(e.result.mi.item<double>(), value(kPos, kNeg), 1e-12);
  expect_gradient_of([&](const Vec& p, const Mat& n) { return -value(p, n); }, e);
}

TEST(PinnedValues, SmileClipsOnlyTheLogPartitionAndTrainsOnJs) {
  auto o = make("smile", {{"clip", 1.0}});
  const Evaluated e = evaluate(*o, kPos, kNeg);
  // 1.9 and −1.1 fall outside [−1, 1].
  const double value = mean(kPos) - std::log(mean_of(kNeg, [](double f) { return std::exp(std::clamp(f, -1.0, 1.0)); }));
  EXPECT_NEAR(e.result.mi.item<double>(), value, 1e-12);
  EXPECT_NEAR(e.result.loss.item<double>(), -js(kPos, kNeg), 1e-12);
  expect_gradient_of([](const Vec& p, const Mat& n) { return -js(p, n); }, e);
}

TEST(PinnedValues, RpcAndChi2) {
  struct Setting {
    const char* plugin;
    double a, b, g;
  };
  for (const Setting s : {Setting{"rpc", 1.0, 0.1, 0.5}, Setting{"rpc", 0.3, 0.01, 0.1}, Setting{"chi2", 1.0, 0.0, 1.0}}) {
    SCOPED_TRACE(std::string(s.plugin) + " " + std::to_string(s.a) + " " + std::to_string(s.b) + " " + std::to_string(s.g));
    std::map<std::string, ParamValue> params{{"readout", std::string("ratio")}};
    if (std::string(s.plugin) == "rpc") params.insert({{"alpha", s.a}, {"beta", s.b}, {"gamma", s.g}});
    auto o = make(s.plugin, params);
    const Evaluated e = evaluate(*o, kPos, kNeg);
    const double j = rpc(kPos, kNeg, s.a, s.b, s.g);
    EXPECT_NEAR(e.result.loss.item<double>(), -j, 1e-12);
    EXPECT_NEAR(e.diagnostic("objective"), j, 1e-12);
    // r̂ = (γ f + α) / (1 − β f), floored at 1e-4 as in the public code.
    auto log_r = [&](double f) { return std::log(std::max((s.g * f + s.a) / (1 - s.b * f), 1e-4)); };
    EXPECT_NEAR(e.diagnostic("mi_ratio"), mean_of(kPos, log_r), 1e-12);
    EXPECT_NEAR(e.diagnostic("mi_mean_score"), log_r(mean(kPos)), 1e-12);
    EXPECT_NEAR(e.result.mi.item<double>(), mean_of(kPos, log_r), 1e-12);  // readout = ratio
    expect_gradient_of([&](const Vec& p, const Mat& n) { return -rpc(p, n, s.a, s.b, s.g); }, e);
  }
}

TEST(PinnedValues, MineUsesTheMovingAverageInItsGradient) {
  // loss = −(E_P[f] − E_Q[e^f] / ma) with ma held constant: ∂/∂pos_i = −1/M and
  // ∂/∂neg_ik = e^{neg_ik} / (M K ma). The first call's ma is E_Q[e^f] itself (the DV gradient);
  // the second's is 0.9 ma₁ + 0.1 E_Q[e^{f₂}], which the plain DV gradient would ignore.
  auto o = make("mine", {{"momentum", 0.9}});
  const double q1 = mean_of(kNeg, [](double f) { return std::exp(f); });
  const Evaluated first = evaluate(*o, kPos, kNeg);
  EXPECT_NEAR(first.result.mi.item<double>(), dv(kPos, kNeg), 1e-12);
  EXPECT_NEAR(first.diagnostic("log_moving_average"), std::log(q1), 1e-12);
  EXPECT_NEAR(first.result.loss.item<double>(), -(mean(kPos) - 1.0), 1e-12);

  const Mat neg2 = shifted(kNeg, 0.8);
  const double q2 = mean_of(neg2, [](double f) { return std::exp(f); });
  const double ma = 0.9 * q1 + 0.1 * q2;
  const Evaluated second = evaluate(*o, kPos, neg2);
  EXPECT_NEAR(second.result.mi.item<double>(), dv(kPos, neg2), 1e-12);  // the value is DV
  EXPECT_NEAR(second.diagnostic("log_moving_average"), std::log(ma), 1e-12);
  EXPECT_NEAR(second.result.loss.item<double>(), -(mean(kPos) - q2 / ma), 1e-12);
  for (std::size_t i = 0; i < kPos.size(); ++i) EXPECT_NEAR(second.grad_pos[i], -1.0 / 3.0, 1e-12);
  for (std::size_t i = 0; i < neg2.size(); ++i)
    for (std::size_t k = 0; k < neg2[i].size(); ++k)
      EXPECT_NEAR(second.grad_neg[i][k], std::exp(neg2[i][k]) / (6.0 * ma), 1e-12) << i << "," << k;
  // Not the DV gradient e^{neg} / (M K E_Q[e^f]): the two differ by the factor q2 / ma here.
  EXPECT_GT(std::abs(q2 / ma - 1.0), 0.2);
}

}  // namespace
}  // namespace rpcbench
