// Shared, numerically stable pieces of the objectives in this folder (not part of the SDK).
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <string>

namespace rpcbench::objectives {

// log mean exp over every element: stable for any magnitude of x.
inline torch::Tensor log_mean_exp(const torch::Tensor& x) {
  return torch::logsumexp(x.reshape({-1}), 0) - std::log(static_cast<double>(x.numel()));
}

// InfoNCE / CPC: each anchor's log-softmax of its positive among its K + 1 candidates (scores / τ).
inline torch::Tensor infonce_log_softmax_positive(const torch::Tensor& pos, const torch::Tensor& neg,
                                                  double temperature) {
  const torch::Tensor logits = torch::cat({pos.unsqueeze(1), neg}, 1) / temperature;
  return logits.select(1, 0) - torch::logsumexp(logits, 1);
}

// NWJ / TUBA(a = e) value E_P[f] − E_Q[exp(f − 1)], with E_Q[exp(·)] from logsumexp.
inline torch::Tensor nwj_value(const torch::Tensor& pos, const torch::Tensor& neg) {
  return pos.mean() - torch::exp(log_mean_exp(neg - 1.0));
}

// Jensen-Shannon (f-GAN) lower-bound surrogate E_P[−softplus(−f)] − E_Q[softplus(f)].
inline torch::Tensor js_value(const torch::Tensor& pos, const torch::Tensor& neg) {
  return (-torch::nn::functional::softplus(-pos)).mean() -
         torch::nn::functional::softplus(neg).mean();
}

// Donsker-Varadhan value E_P[f] − log E_Q[exp f].
inline torch::Tensor dv_value(const torch::Tensor& pos, const torch::Tensor& neg) {
  return pos.mean() - log_mean_exp(neg);
}

}  // namespace rpcbench::objectives
