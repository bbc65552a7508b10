#include "optim/stacked_adam.hpp"

#include "util/errors.hpp"

#include <cmath>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace rpcbench {

StackedAdam::StackedAdam(std::vector<torch::Tensor> params, std::vector<double> learning_rates, double beta1,
                         double beta2, double eps)
    : params_(std::move(params)), learning_rates_(std::move(learning_rates)), beta1_(beta1), beta2_(beta2), eps_(eps) {
  for (const auto& p : params_) {
    RPCBENCH_CHECK(p.dim() >= 1 && p.size(0) == members(), "stacked parameter of shape " + c10::str(p.sizes()) +
                                                               " for " + std::to_string(members()) + " members");
    RPCBENCH_CHECK(p.is_non_overlapping_and_dense() && p.stride(0) * p.size(0) == p.numel(),
                   "a stacked parameter must be dense with its member dimension outermost");
    exp_avg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
  }
}

void StackedAdam::zero_grad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

namespace {

// Denormal floats (|x| < 1.2e-38) cost a hundred cycles an operation: Adam's first moment of a
// weight that gets no gradient (a dead ReLU unit) decays into them after ~800 steps, and the whole
// update slowed 3× over the default MI suite. While it lives, denormal inputs and results of the
// fused passes are zero (x86 MXCSR DAZ and FTZ, as torch.set_flush_denormal); restored after.
class FlushDenormals {
 public:
#if defined(__SSE__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned int saved_;
#endif
};

// The gradient in the parameter's memory layout (autograd usually delivers it so already).
torch::Tensor in_layout_of(const torch::Tensor& grad, const torch::Tensor& param) {
  if (grad.strides() == param.strides()) return grad;
  return torch::empty_like(param, torch::MemoryFormat::Preserve).copy_(grad);
}

// The members at `index` of t, in t's memory layout.
torch::Tensor select_members(const torch::Tensor& t, const torch::Tensor& index) {
  return torch::empty_like(t.narrow(0, 0, index.numel()), torch::MemoryFormat::Preserve).copy_(t.index_select(0, index));
}

bool fusable(const torch::Tensor& p) { return p.device().is_cpu() && p.scalar_type() == torch::kFloat; }

}  // namespace

std::vector<double> StackedAdam::member_grad_norms() const {
  const FlushDenormals flush;
  std::vector<double> squares(static_cast<std::size_t>(members()), 0.0);
  std::vector<torch::Tensor> on_device;  // per-member sums of the tensors the fused loop cannot read
  for (const auto& p : params_) {
    if (!p.grad().defined()) continue;
    const torch::Tensor grad = in_layout_of(p.grad(), p);
    if (!fusable(p)) {
      on_device.push_back(grad.to(torch::kDouble).square().reshape({members(), -1}).sum(1));
      continue;
    }
    const std::int64_t per_member = p.numel() / members();
    const float* g = grad.data_ptr<float>();
    for (std::int64_t m = 0; m < members(); ++m) {
      double sum = 0.0;
      for (std::int64_t i = m * per_member; i < (m + 1) * per_member; ++i) sum += static_cast<double>(g[i]) * g[i];
      squares[static_cast<std::size_t>(m)] += sum;
    }
  }
  if (!on_device.empty()) {  // one transfer to the host for all of them
    const torch::Tensor sums = torch::stack(on_device).sum(0).to(torch::kCPU);
    for (std::int64_t m = 0; m < members(); ++m) squares[static_cast<std::size_t>(m)] += sums[m].item<double>();
  }
  for (double& s : squares) s = std::sqrt(s);
  return squares;
}

void StackedAdam::step() {
  ++step_;
  const double bias_correction1 = 1.0 - std::pow(beta1_, static_cast<double>(step_));
  const double bias_correction2 = 1.0 - std::pow(beta2_, static_cast<double>(step_));
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  torch::NoGradGuard no_grad;
  const FlushDenormals flush_denormals;
  for (std::size_t k = 0; k < params_.size(); ++k) {
    torch::Tensor& p = params_[k];
    if (!p.grad().defined()) continue;
    const torch::Tensor grad = in_layout_of(p.grad(), p);
    if (!fusable(p)) {
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
    // The same arithmetic in float, member by member, one pass over memory (parameter, gradient and
    // moments share one dense layout, so element i of each is the same entry).
    const std::int64_t per_member = p.numel() / members();
    float* __restrict param = p.data_ptr<float>();
    float* __restrict m = exp_avg_[k].data_ptr<float>();
    float* __restrict v = exp_avg_sq_[k].data_ptr<float>();
    const float* __restrict g = grad.data_ptr<float>();
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
    torch::Tensor kept = select_members(params_[k], on_device).requires_grad_(true);
    if (params_[k].grad().defined()) kept.mutable_grad() = select_members(in_layout_of(params_[k].grad(), params_[k]), on_device);
    params_[k] = kept;
    exp_avg_[k] = select_members(exp_avg_[k], on_device);
    exp_avg_sq_[k] = select_members(exp_avg_sq_[k], on_device);
  }
  std::vector<double> rates;
  for (std::int64_t i : keep) rates.push_back(learning_rates_.at(static_cast<std::size_t>(i)));
  learning_rates_ = std::move(rates);
}

std::vector<torch::Tensor> stack_member_parameters(const std::vector<std::vector<torch::Tensor>>& members,
                                                   const torch::Device& device) {
  RPCBENCH_CHECK(!members.empty(), "no members to stack");
  std::vector<torch::Tensor> stacked;
  for (std::size_t k = 0; k < members.front().size(); ++k) {
    std::vector<torch::Tensor> slices;
    for (const auto& params : members) {
      RPCBENCH_CHECK(params.size() == members.front().size() && params[k].sizes() == members.front()[k].sizes(),
                     "ensemble members with differently shaped parameters");
      slices.push_back(params[k].detach());
    }
    torch::Tensor p = torch::stack(slices).to(device);
    if (p.dim() == 3) p = p.transpose(1, 2).contiguous().transpose(1, 2);
    stacked.push_back(p.requires_grad_(true));
  }
  return stacked;
}

}  // namespace rpcbench
