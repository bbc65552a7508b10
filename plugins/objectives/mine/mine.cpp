// MINE (Belghazi et al. 2018): the DV bound, with the gradient of log E_Q[exp f] debiased by an
// exponential moving average of E_Q[exp f] in the denominator.
#include "../common/score_math.hpp"

#include <rpcbench/plugin.hpp>

#include <cmath>

namespace {

constexpr rpcbench::ParamSpec kParams[] = {
    {"momentum", rpcbench::ParamType::real, "0.9",
     "moving-average momentum m: ma ← m·ma + (1 − m)·E_Q[exp f]"},
};

class Mine : public rpcbench::Objective {
 public:
  explicit Mine(const rpcbench::Params& p) : momentum_(p.get_double_in("momentum", 0.0, 1.0)) {
    if (momentum_ >= 1.0) p.fail("momentum", "must be below 1");
  }

  rpcbench::ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    using rpcbench::objectives::log_mean_exp;
    const torch::Tensor log_partition = log_mean_exp(neg);
    if (torch::GradMode::is_enabled()) {
      // The average lives in log space: E_Q[exp f] overflows long before its log does.
      const torch::Tensor current = log_partition.detach();
      log_ma_ = log_ma_.defined() ? torch::logaddexp(log_ma_ + std::log(momentum_),
                                                     current + std::log1p(-momentum_))
                                  : current;
    }
    const torch::Tensor denominator = log_ma_.defined() ? log_ma_ : log_partition.detach();
    // d/dθ of exp(lme − log ma) = E_Q[exp f ∇f] / ma: the corrected gradient.
    const torch::Tensor surrogate = pos.mean() - torch::exp(log_partition - denominator);
    const torch::Tensor dv = (pos.mean() - log_partition).detach();
    return {-surrogate, dv, {{"log_moving_average", denominator.clone()}}};
  }

 private:
  double momentum_;
  torch::Tensor log_ma_;
};

}  // namespace

RPCBENCH_OBJECTIVE(Mine, "mine", "1.0.0", "MINE: DV with a moving-average gradient correction",
                   kParams)
