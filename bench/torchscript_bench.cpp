// The TorchScript path against the C++ plugin for the same objective: InfoNCE's loss + backward
// on an N×N score matrix, once through the built-in `infonce`, once through `torchscript` running
// the docs' scripted InfoNCE (op by op, and with the JIT's optimising executor). The module is
// exported by python3-torch on first use (tests/objectives/torchscript/export_modules.sh).
#include "bench_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <random>

namespace rpcbench {
namespace {

// The folder with the exported modules, made once and removed at exit (ok: false when Python
// could not export them).
struct Exported {
  Exported() {
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() / ("rpcbench-bench-" + std::to_string(rd()));
    const std::string command = std::string(RPCBENCH_SOURCE_DIR) +
                                "/tests/objectives/torchscript/export_modules.sh " + dir.string() +
                                " " + RPCBENCH_SOURCE_DIR + " > /dev/null";
    ok = std::system(command.c_str()) == 0;
  }
  ~Exported() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::filesystem::path dir;
  bool ok = false;
};

const Exported& exported() {
  static const Exported modules;
  return modules;
}

void BM_InfoNceLossBackward(benchmark::State& state, const std::string& path_kind) {
  const auto& registry = bench::plugins();
  std::shared_ptr<Objective> objective;
  if (path_kind == "cpp") {
    objective = registry.make_objective(*registry.find(PluginKind::objective, "infonce"),
                                        Params("infonce", {{"temperature", 1.0}}));
  } else {
    if (!exported().ok) {
      state.SkipWithError(
          "python3-torch could not export the module (scripts/setup.sh installs it)");
      return;
    }
    objective = registry.make_objective(
        *registry.find(PluginKind::objective, "torchscript"),
        Params("torchscript", {{"path", (exported().dir / "infonce.pt").string()},
                               {"attributes", std::string()},
                               {"optimize", path_kind == "torchscript_optimized"}}));
  }
  bench::measure_loss_backward(state, *objective);
}

const bool kRegistered = [] {
  for (const char* kind : {"cpp", "torchscript", "torchscript_optimized"})
    benchmark::RegisterBenchmark((std::string("infonce_path/") + kind).c_str(),
                                 BM_InfoNceLossBackward, std::string(kind))
        ->Arg(64)
        ->Arg(256)
        ->Arg(1024)
        ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace
}  // namespace rpcbench
