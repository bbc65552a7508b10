// Adam (Kingma & Ba 2015, with torch::optim::Adam's defaults and update) over an ensemble's
// parameters: each tensor holds M members stacked along dim 0, and each member has its own learning
// rate. On the CPU the update is one fused pass per tensor (torch::optim::Adam makes about eight
// element-wise passes and dispatches per tensor, which is most of a small critic's step); other
// devices get the same update from tensor ops. A parameter may have any dense layout whose member
// dimension is outermost (the ensemble stores 2-d weights transposed in memory).
//   m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²,  p ← p − (η_member / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
#pragma once

#include <torch/torch.h>

#include <vector>

namespace rpcbench {

class StackedAdam {
 public:
  // params: leaf tensors [M, ...] that require grad; learning_rates: one per member (M).
  StackedAdam(std::vector<torch::Tensor> params, std::vector<double> learning_rates, double beta1 = 0.9,
              double beta2 = 0.999, double eps = 1e-8);
  const std::vector<torch::Tensor>& params() const { return params_; }
  std::int64_t members() const { return static_cast<std::int64_t>(learning_rates_.size()); }
  void zero_grad();
  // Each member's gradient norm ‖g‖ over all its parameters (those with a gradient).
  std::vector<double> member_grad_norms() const;
  void step();
  // Keeps the members at `keep` (ascending positions among the current ones) and drops the others:
  // their parameters, gradients and moments. The parameters become new leaf tensors.
  void keep_members(const std::vector<std::int64_t>& keep);

 private:
  std::vector<torch::Tensor> params_, exp_avg_, exp_avg_sq_;
  std::vector<double> learning_rates_;
  double beta1_, beta2_, eps_;
  std::int64_t step_ = 0;
};

// Each member's parameters (one order for all, e.g. module().parameters()) stacked along a new
// dim 0 as leaf tensors on `device`: slice m of tensor k is member m's k-th parameter. A weight
// [out, in] is stored transposed in memory, so that x·Wᵀ in a batched matmul reads it contiguously
// and autograd hands back its gradient in that layout (no copy per step).
std::vector<torch::Tensor> stack_member_parameters(const std::vector<std::vector<torch::Tensor>>& members,
                                                   const torch::Device& device);

}  // namespace rpcbench
