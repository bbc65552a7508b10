// Relative Predictive Coding (Tsai et al., ICLR 2021). Shared by the rpc and chi2 plugins.
#pragma once

#include <rpcbench/plugin.hpp>

#include <string>

namespace rpcbench::objectives {

class RpcObjective : public Objective {
 public:
  // readout: "mean_score" (the public code: log r̂ at the mean positive score) or
  // "ratio" (the paper: E_P[log r̂(f)]). Both are always reported; this picks `mi`.
  RpcObjective(double alpha, double beta, double gamma, std::string readout)
      : alpha_(alpha), beta_(beta), gamma_(gamma), readout_(std::move(readout)) {}

  ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    // J = E_P[f] − α E_Q[f] − (β/2) E_P[f²] − (γ/2) E_Q[f²]
    const torch::Tensor j = pos.mean() - alpha_ * neg.mean() - 0.5 * beta_ * pos.square().mean() -
                            0.5 * gamma_ * neg.square().mean();
    torch::Tensor mean_score, ratio;
    {
      torch::NoGradGuard no_grad;
      mean_score = log_ratio(pos.mean()).squeeze();
      ratio = log_ratio(pos).mean();
    }
    ObjectiveResult result;
    result.loss = -j;
    result.mi = readout_ == "ratio" ? ratio : mean_score;
    result.diagnostics = {{"mi_mean_score", mean_score}, {"mi_ratio", ratio}, {"objective", -result.loss.detach()}};
    return result;
  }

  // log r̂(f) with r̂ = (γ f + α) / (1 − β f), clamped at 1e-4 as in the public code. Past the
  // critic's upper bound 1/β the ratio is not defined; the clamp keeps it finite there too.
  torch::Tensor log_ratio(const torch::Tensor& f) const {
    const torch::Tensor r = (gamma_ * f + alpha_) / (1.0 - beta_ * f);
    return torch::log(torch::where(1.0 - beta_ * f > 0, r, torch::zeros_like(r)).clamp_min(1e-4));
  }

 private:
  double alpha_, beta_, gamma_;
  std::string readout_;
};

inline void check_readout(const Params& params) {
  const std::string& readout = params.get_string("readout");
  if (readout != "mean_score" && readout != "ratio")
    params.fail("readout", "must be \"mean_score\" or \"ratio\", got \"" + readout + "\"");
}

}  // namespace rpcbench::objectives
