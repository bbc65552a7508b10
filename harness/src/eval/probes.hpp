// Evaluation of frozen features: a linear probe and a kNN classifier (top-1 accuracy).
#pragma once

#include <torch/torch.h>

namespace rpcbench {

struct LinearProbeConfig {
  std::int64_t epochs = 100;
  double learning_rate = 1e-2;  // Adam
  double weight_decay = 1e-6;
  std::int64_t batch_size = 256;
  bool standardize = true;  // scale features by the training mean and std first
  // Decay the rate to 0 over the epochs (half-cosine, per epoch). A constant rate leaves the
  // last iterate noisy: on Fashion-MNIST features it scored the untrained control 1.5 points low.
  bool cosine = true;
};

// Multinomial logistic regression on features standardised with the training mean and std
// (unregularised logistic regression is scale-invariant at its optimum; standardising lets a
// fixed number of Adam epochs get there for features of any scale).
// Deterministic for a given generator (shuffles come from it). Returns test top-1 in [0, 1].
double linear_probe_top1(const torch::Tensor& train_x, const torch::Tensor& train_y, const torch::Tensor& test_x,
                         const torch::Tensor& test_y, std::int64_t classes, const LinearProbeConfig& config,
                         at::Generator& generator);

// Weighted kNN on cosine similarity (Wu et al. 2018, as in SimCLR/MoCo evaluations): the k
// nearest training features vote for their class with weight exp(similarity / temperature).
double knn_top1(const torch::Tensor& train_x, const torch::Tensor& train_y, const torch::Tensor& test_x,
                const torch::Tensor& test_y, std::int64_t classes, std::int64_t k, double temperature);

}  // namespace rpcbench
