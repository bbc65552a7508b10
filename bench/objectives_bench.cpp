// Each objective's loss + backward on an N×N score matrix (N anchors, N − 1 negatives each).
#include "bench_support.hpp"

namespace rpcbench {
namespace {

const std::map<std::string, std::map<std::string, ParamValue>> kParams = {
    {"rpc", {{"alpha", 1.0}, {"beta", 1e-4}, {"gamma", 1.0}, {"readout", std::string("mean_score")}}},
    {"chi2", {{"readout", std::string("mean_score")}}},
    {"infonce", {{"temperature", 1.0}}},
    {"nwj", {{"shift", 0.0}}},
    {"js", {{"readout", std::string("nwj_plus_one")}}},
    {"dv", {{"scale", 1.0}}},
    {"mine", {{"momentum", 0.9}}},
    {"smile", {{"clip", 5.0}}},
};

void BM_ObjectiveLossBackward(benchmark::State& state, const std::string& name) {
  const auto& registry = bench::plugins();
  auto objective = registry.make_objective(*registry.find(PluginKind::objective, name),
                                           Params(name, kParams.at(name)));
  bench::measure_loss_backward(state, *objective);
}

const bool kRegistered = [] {
  for (const auto& [name, params] : kParams)
    benchmark::RegisterBenchmark(("objective/" + name).c_str(), BM_ObjectiveLossBackward, name)
        ->RangeMultiplier(2)
        ->Range(64, 1024)
        ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace
}  // namespace rpcbench
