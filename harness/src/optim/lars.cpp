#include "optim/lars.hpp"

#include <string>

namespace rpcbench {

Lars::Lars(std::vector<torch::Tensor> params, double momentum, double weight_decay, double trust)
    : params_(std::move(params)), velocity_(params_.size()), momentum_(momentum), weight_decay_(weight_decay), trust_(trust) {}

void Lars::zero_grad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.grad().zero_();
}

double Lars::local_lr(const torch::Tensor& w, const torch::Tensor& g) const {
  if (w.dim() <= 1) return 1.0;
  const double w_norm = w.norm().item<double>(), g_norm = g.norm().item<double>();
  if (w_norm == 0.0 || g_norm == 0.0) return 1.0;
  return trust_ * w_norm / (g_norm + weight_decay_ * w_norm);
}

void Lars::step(double lr) {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    const torch::Tensor& g = p.grad();
    const torch::Tensor update = p.dim() > 1 ? (g + weight_decay_ * p) * (lr * local_lr(p, g)) : g * lr;
    velocity_[i] = velocity_[i].defined() ? velocity_[i].mul_(momentum_).add_(update) : update.clone();
    p.sub_(velocity_[i]);
  }
}

void Lars::save(torch::serialize::OutputArchive& out) const {
  for (std::size_t i = 0; i < velocity_.size(); ++i)
    if (velocity_[i].defined()) out.write("lars_velocity_" + std::to_string(i), velocity_[i]);
}

void Lars::load(torch::serialize::InputArchive& in) {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor t;
    if (in.try_read("lars_velocity_" + std::to_string(i), t)) velocity_[i] = t;
  }
}

}  // namespace rpcbench
