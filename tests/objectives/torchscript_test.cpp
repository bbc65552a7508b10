// The torchscript objective, loaded from the build's plugins, on modules Python exports at test
// time (tests/objectives/torchscript/export_modules.sh: the docs page's code, then bad modules).
#include "test_support.hpp"
#include "util/errors.hpp"
#include "util/hash.hpp"

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

class TorchScriptObjective : public ::testing::Test {
 protected:
  // Exported once per content of the page and the scripts, into the build tree: every test of
  // this binary runs in its own process, and Python takes seconds to start.
  static void SetUpTestSuite() {
    const std::string source = RPCBENCH_SOURCE_DIR;
    const std::string script = source + "/tests/objectives/torchscript/export_modules.sh";
    const std::string key =
        sha256_hex(read(source + "/docs/writing-an-objective-in-python.md") + read(script) +
                   read(source + "/tests/objectives/torchscript/make_bad_modules.py"));
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
       "forward's loss must be a scalar; found shape [4] on a probe input (pos [4], neg [4, 3])"},
      {"no_gradient.pt", "forward's loss carries no gradient"},
      {"learnable.pt",
       "has learnable parameters (log_temperature) that the harness would not train"},
      {"tensor.pt", "is not a TorchScript module LibTorch " TORCH_VERSION " can load"},
      {"text.pt", "is not a TorchScript archive"},
      {"newer_format.pt",
       "was saved by a newer PyTorch than this harness's LibTorch " TORCH_VERSION
       ": its archive format is version 11, LibTorch " TORCH_VERSION " reads versions up to 10"},
      {"newer_torch.pt",
       "was saved by PyTorch 2.1.0, newer than this harness's LibTorch " TORCH_VERSION},
  };
  for (const auto& [name, message] : expected) {
    const std::string e = refusal(name);
    EXPECT_NE(e.find(message), std::string::npos) << name << ": " << e;
    EXPECT_NE(e.find("parameter 'path'"), std::string::npos) << name << ": " << e;
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
  std::string python_version(128, '\0');
  FILE* pipe = popen("/usr/bin/python3 -c 'import torch; print(torch.__version__, end=\"\")'", "r");
  ASSERT_NE(pipe, nullptr);
  python_version.resize(fread(python_version.data(), 1, python_version.size(), pipe));
  pclose(pipe);
  EXPECT_EQ(p["saved_by_torch"], python_version);
}

// The optimising executor (profiling, then an optimised plan) gives the same estimates.
TEST_F(TorchScriptObjective, OptimizedExecutorAgreesWithOpByOp) {
  auto plain = script("infonce.pt");
  auto optimized = script("infonce.pt", "", /*optimize=*/true);
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    Scores s(32, seed);
    EXPECT_NEAR(optimized->evaluate(s.pos(), s.neg()).mi.item<double>(),
                plain->evaluate(s.pos(), s.neg()).mi.item<double>(), 1e-6);
  }
}

}  // namespace
}  // namespace rpcbench
