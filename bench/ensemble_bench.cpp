// The mi task's real loop (run_unit: the step, its records, divergence checks and metric events, to a
// reporter that keeps nothing) for M cases of one critic shape: one case at a time (--ensemble off)
// and as one ensemble of M members. Counter member_step: time per member per step, the figure to hold
// against bench/pytorch_mi_step.py (the same case in Python: Gaussian dim 20 at 6 nats, separable
// critic, batch 64, InfoNCE, Adam 5e-4).
#include "bench_support.hpp"
#include "run/runner.hpp"

namespace rpcbench {
namespace {

class NullReporter : public Reporter {
 public:
  void run_started(const RunInfo&) override {}
  void case_finished(const CaseReport& report) override {
    if (report.status != CaseStatus::finished) throw std::runtime_error(report.c->key + ": " + report.message);
  }
  void run_finished(const RunEnd&) override {}
};

void BM_MiEnsemble(benchmark::State& state, int hidden, int embed, EnsembleMode mode) {
  const auto members = static_cast<int>(state.range(0));
  constexpr int kSteps = 60;
  static TaskCatalog tasks;
  const std::string text = "[suite]\nname = \"bench\"\ntask = \"mi\"\nseed = 1\nrepeats = " + std::to_string(members) +
                           "\n[task]\nbatch_size = 64\nlearning_rate = 5e-4\nwindow = 10\n"
                           "[encoder]\nplugin = \"separable\"\nhidden = " + std::to_string(hidden) +
                           "\nlayers = 2\nembed = " + std::to_string(embed) +
                           "\n[[datasets]]\nplugin = \"gaussian_staircase\"\nlabel = \"g\"\ndim = 20\n"
                           "mi_levels = [6.0]\nsteps_per_level = " + std::to_string(kSteps) +
                           "\n[[objectives]]\nplugin = \"infonce\"\n";
  const Suite suite = load_suite_text(text, std::filesystem::current_path() / "ensemble_bench.toml", {}, bench::plugins(), tasks);
  const std::vector<Case> cases = expand_cases(suite);
  std::vector<const Case*> to_run;
  for (const Case& c : cases) to_run.push_back(&c);
  RunRequest request;
  request.suite = &suite;
  request.task = tasks.find("mi");
  request.registry = &bench::plugins();
  request.ensemble = mode;
  NullReporter reporter;
  // One ensemble of all M cases (the scaling under test; `harness run` caps the size, see
  // MiTask::ensemble_slot), or each case alone.
  std::vector<std::vector<const Case*>> units;
  if (mode == EnsembleMode::automatic) units.push_back(to_run);
  else
    for (const Case* c : to_run) units.push_back({c});
  for (auto _ : state)
    for (const auto& unit : units) run_unit(request, unit, reporter);
  state.counters["member_step"] = benchmark::Counter(static_cast<double>(kSteps * members),
                                                     benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void members(benchmark::internal::Benchmark* b) {
  for (int m : {1, 2, 4, 8, 16, 32}) b->Arg(m);
  b->ArgName("members")->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
}

BENCHMARK_CAPTURE(BM_MiEnsemble, separable_256x2_e32_auto, 256, 32, EnsembleMode::automatic)->Apply(members);
BENCHMARK_CAPTURE(BM_MiEnsemble, separable_256x2_e32_off, 256, 32, EnsembleMode::off)->Arg(1)->Arg(4)->ArgName("members")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_MiEnsemble, separable_64x2_e16_auto, 64, 16, EnsembleMode::automatic)->Apply(members);
BENCHMARK_CAPTURE(BM_MiEnsemble, separable_64x2_e16_off, 64, 16, EnsembleMode::off)->Arg(1)->Arg(4)->ArgName("members")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace rpcbench
