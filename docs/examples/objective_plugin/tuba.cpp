// TUBA (Poole et al. 2019, eq. 9) with a constant baseline a > 0:
//   I(X; Y) ≥ E_P[f] − E_Q[exp f] / a − log a + 1.
// a = e is exactly NWJ: E_P[f] − E_Q[exp(f − 1)]. a is a parameter here (as log a).
#include <rpcbench/plugin.hpp>

#include <cmath>

namespace {

constexpr rpcbench::ParamSpec kParams[] = {
    {"log_baseline", rpcbench::ParamType::real, "1.0", "log a of the constant baseline a"},
};

class Tuba : public rpcbench::Objective {
 public:
  explicit Tuba(const rpcbench::Params& params) : log_a_(params.get_double("log_baseline")) {
    if (!std::isfinite(log_a_)) params.fail("log_baseline", "must be finite");
  }

  rpcbench::ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    // E_Q[exp f] / a = exp(logmeanexp(f) − log a): no overflow before the result itself overflows.
    const double log_count = std::log(static_cast<double>(neg.numel()));
    const torch::Tensor log_partition = torch::logsumexp(neg.reshape({-1}), 0) - log_count;
    const torch::Tensor bound = pos.mean() - torch::exp(log_partition - log_a_) - log_a_ + 1.0;
    rpcbench::ObjectiveResult result;
    result.loss = -bound;            // minimised by the harness
    result.mi = bound.detach();      // the estimate in nats
    result.diagnostics = {{"log_partition", log_partition.detach()}};
    return result;
  }

 private:
  double log_a_;
};

}  // namespace

RPCBENCH_OBJECTIVE(Tuba, "tuba", "1.0.0", "TUBA bound with a constant baseline", kParams)
