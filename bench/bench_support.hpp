// Shared set-up of the micro-benchmarks: the built plugins and a pinned thread count
// (RPCBENCH_BENCH_THREADS, default 1), both reported in the benchmark context.
#pragma once

#include "plugin/registry.hpp"
#include "run/environment.hpp"

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

}  // namespace rpcbench::bench
