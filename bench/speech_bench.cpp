// The speech pipeline: synthesising the espeak-ng corpus (seconds of audio per second) vs one CPC
// training step (frames per second), the figures that size suites/speech.toml.
#include "bench_support.hpp"
#include "suite/suite.hpp"
#include "tasks/cpc.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <random>

namespace rpcbench {
namespace {

Params dataset_params(const PluginDescriptor& d, const std::map<std::string, ParamValue>& overrides) {
  return declared_params(d, overrides);
}

// Synthesis, resampling, labelling and writing of a fresh corpus (no cache): 4 speakers × 8
// sentences of 4–10 random words, `jobs` synthesis processes.
void BM_EspeakCorpusGeneration(benchmark::State& state) {
  const auto& registry = bench::plugins();
  const PluginDescriptor& d = *registry.find(PluginKind::dataset, "espeak_corpus");
  std::random_device rd;
  const auto root =
      std::filesystem::temp_directory_path() / ("rpcbench-bench-" + std::to_string(rd()));
  double audio_seconds = 0;
  std::int64_t i = 0;
  for (auto _ : state) {
    auto ds = registry.make_dataset(
        d, dataset_params(d, {{"cache_dir", (root / std::to_string(i++)).string()},
                              {"variants", std::string("m1,f2")},
                              {"utterances_per_speaker", std::int64_t{8}},
                              {"jobs", state.range(0)}}));
    for (const auto& [split, lengths] : ds->spec().lengths)
      for (auto n : lengths) audio_seconds += static_cast<double>(n) / 16000.0;
  }
  std::filesystem::remove_all(root);
  state.counters["audio_s_per_s"] = benchmark::Counter(audio_seconds, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EspeakCorpusGeneration)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// One training step of suites/speech.toml: 16 windows of 20480 samples (128 frames), cpc_audio
// with `channels` = `context` = range(0), K = 12, 64 negatives, InfoNCE, backward, Adam.
void BM_CpcTrainStep(benchmark::State& state) {
  const auto& registry = bench::plugins();
  const std::int64_t width = state.range(0), n = 16, window = 20480;
  torch::manual_seed(0);
  auto encoder = registry.make_encoder(*registry.find(PluginKind::encoder, "cpc_audio"),
                                       Params("cpc_audio", {{"channels", width},
                                                            {"context", width},
                                                            {"context_layers", std::int64_t{1}},
                                                            {"norm", std::string("channel")}}),
                                       InputSpec{{1, -1}, {}, 40});
  auto objective = registry.make_objective(*registry.find(PluginKind::objective, "infonce"),
                                           Params("infonce", {{"temperature", 1.0}}));
  torch::nn::ModuleList predictors;
  for (int k = 0; k < 12; ++k) predictors->push_back(torch::nn::Linear(width, width));
  std::vector<torch::Tensor> params = encoder->module().parameters();
  for (const auto& p : predictors->parameters()) params.push_back(p);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(2e-4));
  auto gen = at::detail::createCPUGenerator(2);
  const torch::Tensor x = 0.1 * torch::randn({n, 1, window}, gen);
  std::vector<std::int64_t> speakers(n);
  for (std::int64_t i = 0; i < n; ++i) speakers[i] = i / 2;
  cpc::LossConfig cfg;
  cfg.negatives = 64;
  for (auto _ : state) {
    const cpc::Loss loss = cpc::loss(*encoder, predictors, *objective, x, speakers, cfg, gen);
    adam.zero_grad();
    loss.loss.backward();
    adam.step();
    benchmark::DoNotOptimize(loss.loss.item<double>());
  }
  state.SetItemsProcessed(state.iterations() * n * (window / 160));  // frames (10 ms) per second
}
BENCHMARK(BM_CpcTrainStep)->Arg(128)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace rpcbench
