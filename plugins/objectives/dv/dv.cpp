// Donsker-Varadhan: E_P[f] − log E_Q[exp f], the log-partition in logmeanexp form.
#include "../common/score_math.hpp"

#include <rpcbench/plugin.hpp>

namespace {

constexpr rpcbench::ParamSpec kParams[] = {
    {"scale", rpcbench::ParamType::real, "1.0", "critic scores are multiplied by this first"},
};

class Dv : public rpcbench::Objective {
 public:
  explicit Dv(const rpcbench::Params& p) : scale_(p.get_double_in("scale", 1e-12, 1e12)) {}

  rpcbench::ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    const torch::Tensor value = rpcbench::objectives::dv_value(pos * scale_, neg * scale_);
    return {-value, value.detach(), {}};
  }

 private:
  double scale_;
};

}  // namespace

RPCBENCH_OBJECTIVE(Dv, "dv", "1.0.0", "Donsker-Varadhan bound E_P[f] - log E_Q[exp f]", kParams)
