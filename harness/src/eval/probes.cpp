#include "eval/probes.hpp"

#include <algorithm>
#include <cmath>

namespace rpcbench {

double linear_probe_top1(const torch::Tensor& train_x, const torch::Tensor& train_y, const torch::Tensor& test_x,
                         const torch::Tensor& test_y, std::int64_t classes, const LinearProbeConfig& cfg,
                         at::Generator& gen) {
  const torch::Tensor mean = cfg.standardize ? train_x.mean(0, true) : torch::zeros({1, train_x.size(1)}, train_x.options());
  const torch::Tensor std =
      cfg.standardize ? train_x.std(0, /*unbiased=*/false, true).clamp_min(1e-6) : torch::ones_like(mean);
  const torch::Tensor xtr = (train_x - mean) / std, xte = (test_x - mean) / std;
  const auto options = train_x.options();
  torch::Tensor w = torch::zeros({train_x.size(1), classes}, options).requires_grad_(true);
  torch::Tensor b = torch::zeros({classes}, options).requires_grad_(true);
  torch::optim::Adam adam({w, b}, torch::optim::AdamOptions(cfg.learning_rate).weight_decay(cfg.weight_decay));
  const std::int64_t n = xtr.size(0);
  for (std::int64_t epoch = 0; epoch < cfg.epochs; ++epoch) {
    if (cfg.cosine)
      for (auto& group : adam.param_groups())
        group.options().set_lr(cfg.learning_rate * 0.5 * (1.0 + std::cos(M_PI * epoch / static_cast<double>(cfg.epochs))));
    const torch::Tensor order = torch::randperm(n, gen, torch::kLong).to(xtr.device());
    for (std::int64_t start = 0; start < n; start += cfg.batch_size) {
      const torch::Tensor idx = order.narrow(0, start, std::min(cfg.batch_size, n - start));
      const torch::Tensor logits = torch::addmm(b, xtr.index_select(0, idx), w);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, train_y.index_select(0, idx));
      adam.zero_grad();
      loss.backward();
      adam.step();
    }
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor predicted = torch::addmm(b, xte, w).argmax(1);
  return predicted.eq(test_y).to(torch::kFloat64).mean().item<double>();
}

double knn_top1(const torch::Tensor& train_x, const torch::Tensor& train_y, const torch::Tensor& test_x,
                const torch::Tensor& test_y, std::int64_t classes, std::int64_t k, double temperature) {
  torch::NoGradGuard no_grad;
  namespace F = torch::nn::functional;
  const torch::Tensor bank = F::normalize(train_x, F::NormalizeFuncOptions().dim(1));
  const torch::Tensor queries = F::normalize(test_x, F::NormalizeFuncOptions().dim(1));
  k = std::min(k, bank.size(0));
  std::int64_t correct = 0;
  for (std::int64_t start = 0; start < queries.size(0); start += 512) {  // bounded memory
    const auto m = std::min<std::int64_t>(512, queries.size(0) - start);
    const torch::Tensor sim = torch::matmul(queries.narrow(0, start, m), bank.t());
    const auto [top, index] = sim.topk(k, 1);
    const torch::Tensor votes = torch::zeros({m, classes}, sim.options())
                                    .scatter_add_(1, train_y.index_select(0, index.flatten()).view({m, k}),
                                                  torch::exp(top / temperature));
    correct += votes.argmax(1).eq(test_y.narrow(0, start, m)).sum().item<std::int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(queries.size(0));
}

}  // namespace rpcbench
