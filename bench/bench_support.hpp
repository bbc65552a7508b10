// Shared set-up of the micro-benchmarks: the built plugins and a pinned thread count
// (RPCBENCH_BENCH_THREADS, default 1), both reported in the benchmark context.
#pragma once

#include "plugin/registry.hpp"
#include "run/environment.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

namespace rpcbench::bench {

inline const PluginRegistry& plugins() {
  static PluginRegistry* registry = [] {
    const char* env = std::getenv("RPCBENCH_BENCH_THREADS");
    const int threads = env != nullptr ? std::atoi(env) : 1;
    const ThreadSettings t = configure_threads(threads);
    benchmark::AddCustomContext("torch_threads", std::to_string(t.intra_op));
    benchmark::AddCustomContext("blas", t.blas);
    benchmark::AddCustomContext("libtorch", TORCH_VERSION);
    auto* r = new PluginRegistry();
    r->load_directory(RPCBENCH_PLUGIN_DIR);
    return r;
  }();
  return *registry;
}

// The timed loop of an objective benchmark: loss + backward on a fixed N×N score matrix (N =
// state.range(0)), the positives on its diagonal and the rest of each row as negatives.
inline void measure_loss_backward(benchmark::State& state, Objective& objective) {
  const std::int64_t n = state.range(0);
  auto gen = at::detail::createCPUGenerator(1);
  const torch::Tensor scores = torch::randn({n, n}, gen).requires_grad_(true);
  const torch::Tensor off = ~torch::eye(n, torch::TensorOptions().dtype(torch::kBool));
  for (auto _ : state) {
    const torch::Tensor neg = scores.masked_select(off).view({n, n - 1});
    const ObjectiveResult r = objective.evaluate(scores.diagonal(), neg);
    r.loss.backward();
    benchmark::DoNotOptimize(r.mi.item<double>());
    scores.grad().zero_();
  }
  state.SetItemsProcessed(state.iterations() * n * n);  // scores per second
}

}  // namespace rpcbench::bench
