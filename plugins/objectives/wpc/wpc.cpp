// WPC: InfoNCE with a critic pushed towards 1-Lipschitz by a gradient penalty the task computes.
#include "../common/score_math.hpp"

#include <rpcbench/plugin.hpp>

#include <cmath>

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"temperature", ParamType::real, "1.0", "scores are divided by τ > 0 before the softmax"},
    {"gradient_penalty", ParamType::real, "10.0",
     "λ > 0 of the one-sided penalty λ·E[max(0, ‖∇_(x,y) f‖ − 1)²] (WGAN-GP's 10)"},
};

class Wpc : public rpcbench::Objective {
 public:
  explicit Wpc(const rpcbench::Params& p)
      : temperature_(p.get_double_in("temperature", 1e-12, 1e12)),
        penalty_(p.get_double_in("gradient_penalty", 1e-12, 1e12)) {}

  rpcbench::ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    const double ceiling = std::log(static_cast<double>(neg.size(1) + 1));
    rpcbench::ObjectiveResult result;
    result.loss = -rpcbench::objectives::infonce_log_softmax_positive(pos, neg, temperature_).mean();
    result.mi = ceiling - result.loss.detach();  // InfoNCE's bound holds for any critic
    result.diagnostics = {{"mi_ceiling", torch::full({}, ceiling, pos.options())}};
    return result;
  }

  double critic_gradient_penalty() const override { return penalty_; }

 private:
  double temperature_;
  double penalty_;
};

}  // namespace

RPCBENCH_OBJECTIVE(Wpc, "wpc", "1.0.0",
                   "Wasserstein predictive coding: InfoNCE with a gradient-penalised (≈1-Lipschitz) critic", kParams)
