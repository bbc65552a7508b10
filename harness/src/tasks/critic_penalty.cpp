#include "tasks/critic_penalty.hpp"

#include "util/errors.hpp"

namespace rpcbench {
namespace {

// Per-sample squared norm of a gradient over every axis but the first.
torch::Tensor squared_norms(const torch::Tensor& g) { return g.reshape({g.size(0), -1}).square().sum(1); }

torch::Tensor penalty_of(const torch::Tensor& pair_scores, const torch::Tensor& x, const torch::Tensor& y,
                         std::int64_t x_shift) {
  const auto grads = torch::autograd::grad({pair_scores.sum()}, {x, y}, {}, /*retain_graph=*/true,
                                           /*create_graph=*/true);
  // Pair i holds y_i and x_{i + x_shift}: bring x's gradient rows to the pair's row.
  const torch::Tensor gx = x_shift == 0 ? grads[0] : grads[0].roll(-x_shift, 0);
  // The small constant keeps the square root differentiable where a gradient vanishes.
  const torch::Tensor norms = (squared_norms(gx) + squared_norms(grads[1]) + 1e-12).sqrt();
  return torch::relu(norms - 1.0).square();
}

}  // namespace

torch::Tensor critic_gradient_penalty(const torch::Tensor& scores, const torch::Tensor& x, const torch::Tensor& y) {
  RPCBENCH_CHECK(scores.dim() == 2 && scores.size(0) == scores.size(1) && scores.size(0) == x.size(0) &&
                     x.size(0) == y.size(0),
                 "critic_gradient_penalty needs an N×N score matrix of N pairs");
  RPCBENCH_CHECK(x.requires_grad() && y.requires_grad(), "critic_gradient_penalty needs inputs that require grad");
  const std::int64_t n = scores.size(0);
  const torch::Tensor rows = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(scores.device()));
  const torch::Tensor positives = scores.diagonal();
  const torch::Tensor negatives = scores.index({rows, (rows + 1) % n});  // S[i, i+1] = f(x_{i+1}, y_i)
  return torch::cat({penalty_of(positives, x, y, 0), penalty_of(negatives, x, y, 1)}).mean();
}

}  // namespace rpcbench
