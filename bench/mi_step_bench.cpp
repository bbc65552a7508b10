// One step of the mi task per critic type: sample a batch, score N² pairs, InfoNCE loss,
// backward, Adam — the work the task repeats 20 000 times per case. WPC adds the critic's input
// gradient penalty (a double backward) to the same step.
#include "bench_support.hpp"
#include "tasks/critic_penalty.hpp"
#include "tasks/view_pairs.hpp"

namespace rpcbench {
namespace {

void BM_MiStep(benchmark::State& state, const std::string& critic_name,
               std::map<std::string, ParamValue> critic_params, const std::string& objective_name = "infonce") {
  const auto& registry = bench::plugins();
  auto dataset = registry.make_dataset(
      *registry.find(PluginKind::dataset, "gaussian_staircase"),
      Params("d", {{"dim", std::int64_t{20}}, {"mi_levels", std::vector<double>{6.0}},
                   {"steps_per_level", std::int64_t{1000000}}, {"transform", std::string("identity")}}));
  torch::manual_seed(0);
  auto critic = registry.make_encoder(*registry.find(PluginKind::encoder, critic_name),
                                      Params(critic_name, std::move(critic_params)), dataset->spec().input);
  std::map<std::string, ParamValue> objective_params = {{"temperature", 1.0}};
  if (objective_name == "wpc") objective_params["gradient_penalty"] = 10.0;
  auto objective = registry.make_objective(*registry.find(PluginKind::objective, objective_name),
                                           Params(objective_name, objective_params));
  const double penalty = objective->critic_gradient_penalty();
  torch::optim::Adam adam(critic->module().parameters(), torch::optim::AdamOptions(5e-4));
  const std::int64_t n = state.range(0);
  const torch::Tensor off = off_diagonal_mask(n, torch::kCPU);
  auto gen = at::detail::createCPUGenerator(2);
  std::int64_t step = 0;
  for (auto _ : state) {
    const Batch b = dataset->sample(step++, n, gen);
    const torch::Tensor x = b.x.requires_grad_(penalty > 0), y = b.y.requires_grad_(penalty > 0);
    const torch::Tensor s = critic->score_matrix(x, y);
    const ViewPairScores pairs = split_paired_scores(s, off);
    const ObjectiveResult r = objective->evaluate(pairs.pos, pairs.neg);
    torch::Tensor loss = r.loss;
    if (penalty > 0) loss = loss + penalty * critic_gradient_penalty(s, x, y);
    adam.zero_grad();
    loss.backward();
    adam.step();
    benchmark::DoNotOptimize(r.mi.item<double>());
  }
  state.SetItemsProcessed(state.iterations());  // steps per second
}

const auto relu = std::string("relu");
BENCHMARK_CAPTURE(BM_MiStep, separable_256x2_e32, "separable",
                  {{"hidden", std::int64_t{256}}, {"layers", std::int64_t{2}}, {"embed", std::int64_t{32}}, {"activation", relu}})
    ->Arg(64)->Arg(128)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_MiStep, separable_256x2_e32_wpc, "separable",
                  {{"hidden", std::int64_t{256}}, {"layers", std::int64_t{2}}, {"embed", std::int64_t{32}}, {"activation", relu}},
                  "wpc")
    ->Arg(64)->Arg(128)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_MiStep, concat_512x2, "concat",
                  {{"hidden", std::int64_t{512}}, {"layers", std::int64_t{2}}, {"activation", relu}})
    ->Arg(64)->Arg(128)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_MiStep, bilinear, "bilinear",
                  {{"hidden", std::int64_t{256}}, {"layers", std::int64_t{0}}, {"embed", std::int64_t{32}}, {"activation", relu}})
    ->Arg(64)->Arg(128)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace rpcbench
