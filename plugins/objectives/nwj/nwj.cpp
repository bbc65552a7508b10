// NWJ (Nguyen-Wainwright-Jordan; TUBA with a = e): E_P[f] − E_Q[exp(f − 1)].
#include "../common/score_math.hpp"

#include <rpcbench/plugin.hpp>

namespace {

constexpr rpcbench::ParamSpec kParams[] = {
    {"shift", rpcbench::ParamType::real, "0.0",
     "constant c added to the critic before the bound: NWJ(f + c)"},
};

class Nwj : public rpcbench::Objective {
 public:
  explicit Nwj(const rpcbench::Params& p) : shift_(p.get_double("shift")) {}

  rpcbench::ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    const torch::Tensor value = rpcbench::objectives::nwj_value(pos + shift_, neg + shift_);
    return {-value, value.detach(), {}};
  }

 private:
  double shift_;
};

}  // namespace

RPCBENCH_OBJECTIVE(Nwj, "nwj", "1.0.0", "NWJ / f-divergence bound E_P[f] - E_Q[exp(f-1)]", kParams)
