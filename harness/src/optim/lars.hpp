// LARS (You, Gitman, Ginsburg 2017, "Large Batch Training of Convolutional Networks", Alg. 1) over
// SGD with momentum. For each weight tensor w with gradient g:
//   local lr  λ = η · ‖w‖ / (‖g‖ + β‖w‖)        (η: trust coefficient, β: weight decay)
//   v ← m·v + γ_t · λ · (g + β·w),   w ← w − v    (γ_t: the global, scheduled learning rate)
// λ = 1 when ‖w‖ or ‖g‖ is 0. Biases and BN parameters (1-d) get neither λ nor weight decay, as
// in SimCLR: v ← m·v + γ_t·g.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace rpcbench {

class Lars {
 public:
  Lars(std::vector<torch::Tensor> params, double momentum, double weight_decay, double trust = 1e-3);
  void zero_grad();
  void step(double lr);
  // The local learning rate λ of a weight tensor with this gradient (1-d tensors: 1).
  double local_lr(const torch::Tensor& w, const torch::Tensor& g) const;
  void save(torch::serialize::OutputArchive& out) const;
  void load(torch::serialize::InputArchive& in);

 private:
  std::vector<torch::Tensor> params_, velocity_;
  double momentum_, weight_decay_, trust_;
};

}  // namespace rpcbench
