#include "optim/stacked_adam.hpp"

#include "util/errors.hpp"

#include <cmath>

namespace rpcbench {

StackedAdam::StackedAdam(std::vector<torch::Tensor> params, std::vector<double> learning_rates, double beta1,
                         double beta2, double eps)
    : params_(std::move(params)), learning_rates_(std::move(learning_rates)), beta1_(beta1), beta2_(beta2), eps_(eps) {
  for (const auto& p : params_) {
    RPCBENCH_CHECK(p.dim() >= 1 && p.size(0) == members(), "stacked parameter of shape " + c10::str(p.sizes()) +
                                                               " for " + std::to_string(members()) + " members");
    exp_avg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
    exp_avg_sq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
  }
}

void StackedAdam::zero_grad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

void StackedAdam::step() {
  ++step_;
  const double bias_correction1 = 1.0 - std::pow(beta1_, static_cast<double>(step_));
  const double bias_correction2 = 1.0 - std::pow(beta2_, static_cast<double>(step_));
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  torch::NoGradGuard no_grad;
  for (std::size_t k = 0; k < params_.size(); ++k) {
    torch::Tensor& p = params_[k];
    if (!p.grad().defined()) continue;
    const torch::Tensor grad = p.grad().contiguous();
    const bool fused = p.device().is_cpu() && p.scalar_type() == torch::kFloat && p.is_contiguous();
    if (!fused) {
      exp_avg_[k].mul_(beta1_).add_(grad, 1 - beta1_);
      exp_avg_sq_[k].mul_(beta2_).addcmul_(grad, grad, 1 - beta2_);
      const torch::Tensor denom = (exp_avg_sq_[k].sqrt() / bias_correction2_sqrt).add_(eps_);
      std::vector<std::int64_t> shape(static_cast<std::size_t>(p.dim()), 1);
      shape[0] = members();
      const torch::Tensor step_size =
          (torch::tensor(learning_rates_, torch::kDouble) / bias_correction1).to(p.options()).reshape(shape);
      p.sub_(step_size * exp_avg_[k] / denom);
      continue;
    }
    // The same arithmetic in float, member by member, one pass over memory.
    const std::int64_t per_member = p.numel() / members();
    float* param = p.data_ptr<float>();
    float* m = exp_avg_[k].data_ptr<float>();
    float* v = exp_avg_sq_[k].data_ptr<float>();
    const float* g = grad.data_ptr<float>();
    const auto b1 = static_cast<float>(beta1_), b2 = static_cast<float>(beta2_);
    const auto one_minus_b1 = static_cast<float>(1 - beta1_), one_minus_b2 = static_cast<float>(1 - beta2_);
    const auto c2 = static_cast<float>(bias_correction2_sqrt), eps = static_cast<float>(eps_);
    for (std::int64_t member = 0; member < members(); ++member) {
      const auto neg_step = static_cast<float>(-learning_rates_[static_cast<std::size_t>(member)] / bias_correction1);
      const std::int64_t begin = member * per_member, end = begin + per_member;
      for (std::int64_t i = begin; i < end; ++i) {
        m[i] = m[i] * b1 + one_minus_b1 * g[i];
        v[i] = v[i] * b2 + one_minus_b2 * g[i] * g[i];
        const float denom = std::sqrt(v[i]) / c2 + eps;
        param[i] = param[i] + neg_step * (m[i] / denom);
      }
    }
  }
}

void StackedAdam::keep_members(const std::vector<std::int64_t>& keep) {
  const torch::Tensor index = torch::tensor(keep, torch::kLong);
  torch::NoGradGuard no_grad;
  for (std::size_t k = 0; k < params_.size(); ++k) {
    const torch::Tensor on_device = index.to(params_[k].device());
    torch::Tensor kept = params_[k].index_select(0, on_device).requires_grad_(true);
    if (params_[k].grad().defined()) kept.mutable_grad() = params_[k].grad().index_select(0, on_device);
    params_[k] = kept;
    exp_avg_[k] = exp_avg_[k].index_select(0, on_device);
    exp_avg_sq_[k] = exp_avg_sq_[k].index_select(0, on_device);
  }
  std::vector<double> rates;
  for (std::int64_t i : keep) rates.push_back(learning_rates_.at(static_cast<std::size_t>(i)));
  learning_rates_ = std::move(rates);
}

}  // namespace rpcbench
