// The one-sided gradient penalty an objective may ask for (Objective::critic_gradient_penalty):
// it pushes the critic f(x, y) towards 1-Lipschitz in its inputs (WPC, Ozair et al. 2019; the
// penalty of Gulrajani et al. 2017, one-sided).
#pragma once

#include <torch/torch.h>

namespace rpcbench {

// mean over pairs of max(0, ‖∇_(x,y) f(x, y)‖ − 1)², differentiable (for the training loss).
// `scores` is the critic's matrix S[i, j] = f(x_j, y_i) of x, y (both requiring grad). The pairs:
// the positives (i, i) and one negative per anchor (i, i+1 mod N); in each set every x_j and y_i
// occurs once, so one backward pass per set gives each pair's exact input gradient — as long as
// the critic scores a pair from that pair alone (no batch statistics across rows).
torch::Tensor critic_gradient_penalty(const torch::Tensor& scores, const torch::Tensor& x, const torch::Tensor& y);

}  // namespace rpcbench
