// The vision pipeline: augmenting 2N views vs one training step on them. The augmentation must
// never be the bottleneck: compare images/s of the two.
#include "augment/simclr_augment.hpp"
#include "bench_support.hpp"
#include "tasks/view_pairs.hpp"

#include <ATen/CPUGeneratorImpl.h>

namespace rpcbench {
namespace {

void BM_AugmentTwoViews(benchmark::State& state) {
  bench::plugins();
  const std::int64_t n = state.range(0), channels = state.range(1), side = channels == 1 ? 28 : 32;
  auto gen = at::detail::createCPUGenerator(1);
  const torch::Tensor images = torch::rand({n, channels, side, side}, gen);
  AugmentConfig cfg;
  cfg.set_jitter_strength(0.5);
  for (auto _ : state) {
    const torch::Tensor views = torch::cat({augment(images, cfg, gen), augment(images, cfg, gen)});
    benchmark::DoNotOptimize(views.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * n);  // source images per second
}
BENCHMARK(BM_AugmentTwoViews)->Args({256, 1})->Args({256, 3})->Unit(benchmark::kMillisecond);

// One pretraining step of suites/vision.toml without the augmentation: convnet (32, 3 blocks) →
// head 128→256→128 on 2N views of 28×28, normalised scores / 0.5, InfoNCE, backward, Adam.
// bench/pytorch_contrastive_step.py is the same step in PyTorch.
void BM_ContrastiveTrainStep(benchmark::State& state) {
  const auto& registry = bench::plugins();
  const std::int64_t n = state.range(0);
  torch::manual_seed(0);
  auto encoder = registry.make_encoder(*registry.find(PluginKind::encoder, "convnet"),
                                       Params("convnet", {{"width", std::int64_t{32}}, {"blocks", std::int64_t{3}}}),
                                       InputSpec{{1, 28, 28}, {}, 10});
  auto objective = registry.make_objective(*registry.find(PluginKind::objective, "infonce"),
                                           Params("infonce", {{"temperature", 1.0}}));
  torch::nn::Sequential head(torch::nn::Linear(128, 256), torch::nn::ReLU(), torch::nn::Linear(256, 128));
  std::vector<torch::Tensor> params = encoder->module().parameters();
  for (const auto& p : head->parameters()) params.push_back(p);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-3).weight_decay(1e-6));
  auto gen = at::detail::createCPUGenerator(2);
  const torch::Tensor views = torch::rand({2 * n, 1, 28, 28}, gen);
  for (auto _ : state) {
    const torch::Tensor z = torch::nn::functional::normalize(head->forward(encoder->encode(views)),
                                                             torch::nn::functional::NormalizeFuncOptions().dim(1));
    const ViewPairScores pairs = split_view_scores(torch::matmul(z, z.t()) / 0.5);  // the task's layout
    const ObjectiveResult r = objective->evaluate(pairs.pos, pairs.neg);
    adam.zero_grad();
    r.loss.backward();
    adam.step();
    benchmark::DoNotOptimize(r.loss.item<double>());
  }
  state.SetItemsProcessed(state.iterations() * n);  // source images per second
}
BENCHMARK(BM_ContrastiveTrainStep)->Arg(256)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace rpcbench
