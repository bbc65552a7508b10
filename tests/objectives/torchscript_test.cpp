// The torchscript objective, loaded from the build's plugins, on modules Python exports at test
// time (tests/objectives/torchscript/export_modules.sh: the docs page's code, then bad modules).
#include "test_support.hpp"
#include "util/errors.hpp"
#include "util/hash.hpp"

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <unistd.h>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace rpcbench {
namespace {

using test::real_plugins;

std::shared_ptr<Objective> make(const std::string& name, std::map<std::string, ParamValue> values) {
  const PluginDescriptor* d = real_plugins().find(PluginKind::objective, name);
  if (d == nullptr) throw std::runtime_error("plugin not built: " + name);
  return real_plugins().make_objective(*d, test::declared_params(*d, values));
}

double diagnostic(const ObjectiveResult& r, const std::string& name) {
  for (const auto& [k, v] : r.diagnostics)
    if (k == name) return v.item<double>();
  throw std::runtime_error("no diagnostic " + name);
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The interpreter export_modules.sh runs (PYTHON overrides it, as there).
std::string python() {
  const char* env = std::getenv("PYTHON");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/python3";
}

// torch.__version__ of that interpreter ("" when it has none).
std::string python_torch_version() {
  const std::string command =
      python() + " -c 'import torch; print(torch.__version__, end=\"\")' 2> /dev/null";
  std::string out(128, '\0');
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  out.resize(fread(out.data(), 1, out.size(), pipe));
  pclose(pipe);
  return out;
}

class TorchScriptObjective : public ::testing::Test {
 protected:
  // Exported once per content of the page and the scripts and per exporting PyTorch, into the
  // build tree: every test of this binary runs in its own process, and Python takes seconds to
  // start.
  static void SetUpTestSuite() {
    const std::string source = RPCBENCH_SOURCE_DIR;
    const std::string script = source + "/tests/objectives/torchscript/export_modules.sh";
    const std::string key =
        sha256_hex(read(source + "/docs/writing-an-objective-in-python.md") + read(script) +
                   read(source + "/tests/objectives/torchscript/make_bad_modules.py") + "\n" +
                   python() + " " + python_torch_version());
    dir_ = std::filesystem::path(RPCBENCH_FIXTURE_DIR).parent_path() / "torchscript_modules" /
           key.substr(0, 16);
    if (std::filesystem::exists(dir_ / "done")) return;
    const auto staging = dir_.string() + ".staging." + std::to_string(getpid());
    const std::string command = script + " " + staging + " " + source;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::ofstream(staging + "/done") << key;
    std::error_code ec;
    std::filesystem::rename(staging, dir_, ec);  // another process may have been first
    if (ec) std::filesystem::remove_all(staging, ec);
    ASSERT_TRUE(std::filesystem::exists(dir_ / "done")) << dir_;
  }
  static std::string file(const std::string& name) { return (dir_ / name).string(); }
  static std::shared_ptr<Objective> script(const std::string& name,
                                           const std::string& attributes = "",
                                           bool optimize = false) {
    return make("torchscript",
                {{"path", file(name)}, {"attributes", attributes}, {"optimize", optimize}});
  }
  // The error a module is refused with (empty when it is not refused).
  static std::string refusal(const std::string& name, const std::string& attributes = "") {
    try {
      script(name, attributes);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }

  // Scores of an N×N matrix, as the MI task splits them.
  struct Scores {
    explicit Scores(std::int64_t n, std::uint64_t seed = 3, double scale = 2.0) {
      auto gen = at::detail::createCPUGenerator(seed);
      matrix = (scale * torch::randn({n, n}, gen)).requires_grad_(true);
    }
    torch::Tensor pos() const { return matrix.diagonal(); }
    torch::Tensor neg() const {
      const std::int64_t n = matrix.size(0);
      return matrix.masked_select(~torch::eye(n, torch::kBool)).view({n, n - 1});
    }
    torch::Tensor matrix;
  };

  static std::filesystem::path dir_;
};

std::filesystem::path TorchScriptObjective::dir_;

// The docs' InfoNCE and the built-in one: the same values and the same gradient, bit for bit.
TEST_F(TorchScriptObjective, DocsInfoNceIsTheBuiltInInfoNce) {
  for (const double temperature : {1.0, 0.1}) {
    SCOPED_TRACE(temperature);
    auto builtin = make("infonce", {{"temperature", temperature}});
    auto scripted = script("infonce.pt", "temperature=" + std::to_string(temperature));
    for (const std::int64_t n : {8, 64}) {
      Scores a(n), b(n);
      const ObjectiveResult ra = builtin->evaluate(a.pos(), a.neg());
      const ObjectiveResult rb = scripted->evaluate(b.pos(), b.neg());
      ra.loss.backward();
      rb.loss.backward();
      EXPECT_EQ(ra.loss.item<float>(), rb.loss.item<float>());
      EXPECT_EQ(ra.mi.item<float>(), rb.mi.item<float>());
      EXPECT_EQ(diagnostic(ra, "mi_ceiling"), diagnostic(rb, "mi_ceiling"));
      EXPECT_NEAR(diagnostic(rb, "mi_ceiling"), std::log(static_cast<double>(n)), 1e-6);
      EXPECT_TRUE(torch::equal(a.matrix.grad(), b.matrix.grad()));
    }
  }
}

// The docs' TUBA with log a = 1 is NWJ: E_P[f] − E_Q[exp(f − 1)].
TEST_F(TorchScriptObjective, DocsTubaIsNwjAtLogBaselineOne) {
  auto nwj = make("nwj", {});
  Scores s(32);
  const ObjectiveResult r = script("tuba.pt")->evaluate(s.pos(), s.neg());
  EXPECT_NEAR(r.mi.item<double>(), nwj->evaluate(s.pos(), s.neg()).mi.item<double>(), 1e-5);
  // The −log a correction: log a = 2 moves the bound by E_Q[e^f](1/e − 1/e²) − 1.
  const ObjectiveResult r2 = script("tuba.pt", "log_baseline=2")->evaluate(s.pos(), s.neg());
  const double q = std::exp(diagnostic(r, "log_partition"));
  EXPECT_NEAR(r2.mi.item<double>() - r.mi.item<double>(),
              q * (std::exp(-1.0) - std::exp(-2.0)) - 1.0, 1e-4);
}

// MINE's moving average lives in a buffer: evaluation (grad mode off) reads it, never moves it.
TEST_F(TorchScriptObjective, StatefulModuleUpdatesOnlyInTraining) {
  auto mine = script("mine.pt");
  auto builtin = make("mine", {{"momentum", 0.9}});
  auto average = [&](Objective& o, const Scores& s) {
    return diagnostic(o.evaluate(s.pos(), s.neg()), "log_moving_average");
  };
  {
    torch::NoGradGuard no_grad;  // before any training: no state, each call its own partition
    EXPECT_NE(average(*mine, Scores(16, 1)), average(*mine, Scores(16, 2)));
  }
  std::vector<double> trained;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    trained.push_back(average(*mine, Scores(16, seed)));
    EXPECT_NEAR(trained.back(), average(*builtin, Scores(16, seed)), 1e-5) << seed;
  }
  EXPECT_NE(trained[2], trained[3]);  // training moves it
  {
    torch::NoGradGuard no_grad;
    for (std::uint64_t seed = 10; seed < 13; ++seed)
      EXPECT_EQ(average(*mine, Scores(16, seed)), trained.back());
  }
  // Back in training it goes on from where it was, as the C++ plugin does.
  EXPECT_NEAR(average(*mine, Scores(16, 20)), average(*builtin, Scores(16, 20)), 1e-5);
}

TEST_F(TorchScriptObjective, AttributesAreSetByNameAndUnknownOnesRefused) {
  auto tau = script("infonce.pt", " temperature = 0.5 ");
  auto builtin = make("infonce", {{"temperature", 0.5}});
  Scores s(16);
  EXPECT_EQ(tau->evaluate(s.pos(), s.neg()).loss.item<float>(),
            builtin->evaluate(s.pos(), s.neg()).loss.item<float>());

  std::string e = refusal("infonce.pt", "tau=0.5");
  EXPECT_NE(e.find("no attribute 'tau' (settable: temperature)"), std::string::npos) << e;
  e = refusal("infonce.pt", "temperature=warm");
  EXPECT_NE(e.find("'temperature' (float): 'warm' is not a float"), std::string::npos) << e;
  e = refusal("infonce.pt", "temperature");
  EXPECT_NE(e.find("item 'temperature' is not name=value"), std::string::npos) << e;
  e = refusal("infonce.pt", "training=false");
  EXPECT_NE(e.find("no attribute 'training'"), std::string::npos) << e;
  e = refusal("mine.pt", "log_moving_average=1");
  EXPECT_NE(e.find("'log_moving_average' (Tensor) cannot be set from a suite"), std::string::npos)
      << e;
}

TEST_F(TorchScriptObjective, BadModulesAreRefusedAtConstructionNamingTheProblem) {
  const std::map<std::string, std::string> expected = {
      {"wrong_arity.pt",
       "expected forward(pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor] or Tuple[Tensor, "
       "Tensor, Dict[str, Tensor]]; found forward(pos: Tensor) -> Tuple[Tensor, Tensor]"},
      {"wrong_returns.pt", "; found forward(pos: Tensor, neg: Tensor) -> Tensor"},
      {"wrong_diagnostics.pt",
       "; found forward(pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor, Dict[str, float]]"},
      {"not_scalar.pt",
       "forward's loss must be a scalar; found shape [16] on a probe input (pos [16], neg [16, "
       "15])"},
      {"no_gradient.pt", "forward's loss carries no gradient"},
      {"no_dependency.pt",
       "forward's loss does not depend on pos or neg on a probe input (pos [16], neg [16, 15]) "
       "(its gradient with respect to both is undefined)"},
      {"infinite_gradient.pt",
       "the gradient of forward's loss with respect to pos is not finite on a probe input"},
      {"inplace_state.pt",
       "backward through forward's loss failed on a probe input (pos [16], neg [16, 15]): one of "
       "the variables needed for gradient computation has been modified by an inplace operation"},
      {"metric_named_diagnostic.pt",
       "forward's diagnostic 'grad_norm' is named like a metric the tasks record themselves"},
      {"unknown_op.pt",
       "is not a TorchScript module LibTorch " TORCH_VERSION
       " can load: Unknown builtin op: aten::logsumexp_from_the_future.; possibly saved by a newer "
       "PyTorch than this harness's LibTorch " TORCH_VERSION ": re-export it with python3-torch " +
           std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR)},
      {"learnable.pt",
       "has learnable parameters (log_temperature) that the harness would not train"},
      {"tensor.pt", "is not a TorchScript module LibTorch " TORCH_VERSION " can load"},
      {"text.pt", "is not a TorchScript archive"},
      {"newer_format.pt",
       "was saved by a newer PyTorch than this harness's LibTorch " TORCH_VERSION
       ": its archive format is version 11, LibTorch " TORCH_VERSION " reads versions up to 10"},
      {"newer_torch.pt",
       "was saved by PyTorch " + std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR + 1) +
           ".0, newer than this harness's LibTorch " TORCH_VERSION},
  };
  for (const auto& [name, message] : expected) {
    const std::string e = refusal(name);
    EXPECT_NE(e.find(message), std::string::npos) << name << ": " << e;
    EXPECT_NE(e.find("parameter 'path'"), std::string::npos) << name << ": " << e;
  }
  // A module that fails for lack of an operator but names its (older or equal) PyTorch: no hint.
  EXPECT_EQ(refusal("infonce.pt").find("possibly saved by a newer PyTorch"), std::string::npos);
  EXPECT_EQ(refusal("tensor.pt").find("possibly saved by a newer PyTorch"), std::string::npos);
  EXPECT_NE(refusal("tensor.pt").find("the archive has no code/"), std::string::npos);
}

// The in-place update breaks backward in training only: the probe runs backward, a forward alone
// succeeds.
TEST_F(TorchScriptObjective, InPlaceStateIsRefusedForItsBackward) {
  const std::string e = refusal("inplace_state.pt");
  EXPECT_NE(e.find("(update state by reassigning it, self.x = ..., not in place)"),
            std::string::npos)
      << e;
  torch::jit::Module m = torch::jit::load(file("inplace_state.pt"));
  Scores s(16);
  const auto out = m.forward({s.pos(), s.neg()}).toTupleRef().elements();
  EXPECT_TRUE(out[0].toTensor().requires_grad());
  EXPECT_THROW(out[0].toTensor().backward(), c10::Error);
}

// A failing forward is reported by its cause and the source line, not the interpreter's banner.
TEST_F(TorchScriptObjective, ProbeFailureNamesTheCauseAndTheLine) {
  std::string e = refusal("topk.pt");
  EXPECT_NE(e.find("forward failed in training on a probe input (pos [16], neg [16, 15]): "
                   "RuntimeError: selected index k out of range (at: "),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("torch.topk(neg, "), std::string::npos) << e;
  EXPECT_EQ(e.find("The following operation failed"), std::string::npos) << e;
  e = refusal("asserts.pt");
  EXPECT_NE(e.find("AssertionError: needs at least 100 negatives"), std::string::npos) << e;
  EXPECT_EQ(e.find("The following operation failed"), std::string::npos) << e;
}

// Errors after construction name the module: k = 8 passes the probe (K = 15), not K = 3.
TEST_F(TorchScriptObjective, EvaluateErrorsNameTheModule) {
  auto topk = script("topk.pt", "k=8");
  Scores wide(16), narrow(4);
  EXPECT_TRUE(std::isfinite(topk->evaluate(wide.pos(), wide.neg()).loss.item<double>()));
  try {
    topk->evaluate(narrow.pos(), narrow.neg());
    ADD_FAILURE() << "no error with 3 negatives and k = 8";
  } catch (const std::exception& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("torchscript objective " + file("topk.pt") +
                          ": RuntimeError: selected index k out of range",
                      0),
              0u)
        << m;
  }
}

TEST_F(TorchScriptObjective, ProvenanceHoldsTheFileHashAndTheScriptedCode) {
  std::map<std::string, std::string> p;
  for (const auto& [k, v] : script("infonce.pt")->provenance()) p[k] = v;
  EXPECT_EQ(p["module_sha256"], sha256_file(file("infonce.pt")));
  EXPECT_EQ(p["module_code"], read(file("infonce.code.txt")));  // Python's scripted.code
  EXPECT_NE(p["module_source"].find("class InfoNCE(Module):"), std::string::npos)
      << p["module_source"];
  EXPECT_NE(p["module_source"].find("torch.logsumexp(logits, [1])"), std::string::npos);
  const std::string python_version = python_torch_version();
  ASSERT_FALSE(python_version.empty());
  EXPECT_EQ(p["saved_by_torch"], python_version);
  EXPECT_EQ(p["module_attributes"], "temperature=1.0");
}

// Every float, int and bool attribute as loaded with `attributes` applied, submodules dotted;
// neither strings nor later training change it.
TEST_F(TorchScriptObjective, ProvenanceHoldsTheModuleAttributes) {
  auto provenance = [](const Objective& o) {
    for (const auto& [k, v] : o.provenance())
      if (k == "module_attributes") return v;
    return std::string("(none)");
  };
  EXPECT_EQ(provenance(*script("attributes.pt")), "scale=0.1, count=3, flag=true, inner.k=20");
  EXPECT_EQ(provenance(*script("attributes.pt", "scale=0.25, count=-7, flag=false")),
            "scale=0.25, count=-7, flag=false, inner.k=20");
  auto mine = script("mine.pt", "momentum=0.99");
  EXPECT_EQ(provenance(*mine), "momentum=0.99, started=false");
  Scores s(16);
  mine->evaluate(s.pos(), s.neg());  // training: started becomes true in the module
  EXPECT_EQ(provenance(*mine), "momentum=0.99, started=false");
}

// The optimising executor (profiling, then an optimised graph) gives the same estimates, and
// fuses nothing on the CPU in LibTorch 1.13 (what the README says `optimize` does).
TEST_F(TorchScriptObjective, OptimizedExecutorAgreesWithOpByOp) {
  auto plain = script("infonce.pt");
  auto optimized = script("infonce.pt", "", /*optimize=*/true);
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    Scores s(32, seed);
    EXPECT_NEAR(optimized->evaluate(s.pos(), s.neg()).mi.item<double>(),
                plain->evaluate(s.pos(), s.neg()).mi.item<double>(), 1e-6);
  }
  torch::NoGradGuard no_grad;  // the last graph run is the optimised one
  Scores s(32);
  optimized->evaluate(s.pos(), s.neg());
  const std::shared_ptr<torch::jit::Graph> graph = torch::jit::lastExecutedOptimizedGraph();
  ASSERT_TRUE(graph);
  const std::string text = graph->toString();
  EXPECT_NE(text.find("aten::logsumexp"), std::string::npos) << text;
  EXPECT_EQ(text.find("TensorExprGroup"), std::string::npos) << text;
  EXPECT_EQ(text.find("FusionGroup"), std::string::npos) << text;
}

}  // namespace
}  // namespace rpcbench
