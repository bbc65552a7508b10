// InfoNCE / CPC: cross-entropy of the positive against its K negatives, in logsumexp form.
#include "../common/score_math.hpp"

#include <rpcbench/plugin.hpp>

#include <cmath>

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"temperature", ParamType::real, "1.0", "scores are divided by τ > 0 before the softmax"},
};

class InfoNce : public rpcbench::Objective {
 public:
  explicit InfoNce(const rpcbench::Params& p)
      : temperature_(p.get_double_in("temperature", 1e-12, 1e12)) {}

  rpcbench::ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    const torch::Tensor log_softmax_pos = rpcbench::objectives::infonce_log_softmax_positive(pos, neg, temperature_);
    // The estimate cannot exceed log(K + 1): the number of candidates per anchor.
    const double ceiling = std::log(static_cast<double>(neg.size(1) + 1));
    rpcbench::ObjectiveResult result;
    result.loss = -log_softmax_pos.mean();
    result.mi = ceiling - result.loss.detach();
    result.diagnostics = {{"mi_ceiling", torch::full({}, ceiling, pos.options())}};
    return result;
  }

 private:
  double temperature_;
};

}  // namespace

RPCBENCH_OBJECTIVE(InfoNce, "infonce", "1.0.0", "InfoNCE / CPC (temperature τ; ceiling log(K+1))",
                   kParams)
