// An objective written in Python: a scripted module saved with torch.jit.save, loaded with
// LibTorch's JIT. forward(pos: Tensor, neg: Tensor) -> (loss, mi) or (loss, mi, Dict[str, Tensor]).
// Everything about the file is checked when the objective is made (the harness makes each
// objective once before any work, so a bad module is an input error, exit 2, nothing written).
#include <rpcbench/plugin.hpp>

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/serialization/python_print.h>
#include <torch/script.h>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"path", ParamType::path, nullptr,
     "the scripted module (torch.jit.script(m).save(path)); relative to the suite's folder"},
    {"attributes", ParamType::text, "\"\"",
     "module attributes to set before use, \"name=value, ...\" (float, int or bool attributes)"},
    {"optimize", ParamType::boolean, "false",
     "run forward through the JIT's profiling executor with graph optimisations on (an optimised "
     "graph after profiling runs; LibTorch 1.13 does not fuse on the CPU) instead of op by op"},
};

constexpr const char* kForwardContract =
    "forward(pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor] or "
    "Tuple[Tensor, Tensor, Dict[str, Tensor]]";

// Diagnostics the tasks record under these names themselves: an entry named like one would
// overwrite the task's per-step samples.
constexpr std::array<const char*, 5> kTaskMetrics = {"mi", "true_mi", "loss", "grad_norm",
                                                     "gradient_penalty"};

// The probe: an N×N score matrix split as the MI task splits it.
constexpr std::int64_t kProbeN = 16;

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n") - b + 1);
}

// The first line that is not blank (the JIT's compile errors start with a newline).
std::string first_line(const std::string& text) {
  const std::string t = trim(text);
  return t.substr(0, t.find('\n'));
}

std::string message_of(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e))
    return c10_error->what_without_backtrace();
  return e.what();
}

// What went wrong, from an error the JIT interpreter raised: its first line is "The following
// operation failed in the TorchScript interpreter.", the cause is the last "...Error: ..." line,
// and the traceback marks the failing source line with "<--- HERE" on the line below it. Other
// errors: their first line.
std::string cause(const std::exception& e) {
  std::vector<std::string> lines;
  std::istringstream in(message_of(e));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.empty()) return "(no message)";
  std::string error;
  std::string here;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (std::regex_search(lines[i], std::regex("^\\w*Error: "))) error = trim(lines[i]);
    if (i > 0 && lines[i].find("<--- HERE") != std::string::npos) here = trim(lines[i - 1]);
  }
  if (error.empty()) return first_line(message_of(e));
  return here.empty() ? error : error + " (at: " + here + ")";
}

std::string format_value(const c10::IValue& v) {
  if (v.isBool()) return v.toBool() ? "true" : "false";
  if (v.isInt()) return std::to_string(v.toInt());
  std::array<char, 32> buffer{};  // the shortest text that reads back as the same double
  const double d = v.toDouble();
  const auto end = std::to_chars(buffer.data(), buffer.data() + buffer.size(), d).ptr;
  std::string out(buffer.data(), end);
  if (std::isfinite(d) && out.find_first_of(".e") == std::string::npos) out += ".0";  // as Python
  return out;
}

std::string hex(const unsigned char* bytes, unsigned int n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 0xf];
  }
  return out;
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read '" + path + "'");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 is not available");
  std::array<char, 1 << 16> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &length);
  return hex(digest.data(), length);
}

// "2.1.0+cu118" -> {2, 1}; nullopt when it does not start with two numbers.
std::optional<std::pair<int, int>> major_minor(const std::string& version) {
  std::smatch m;
  if (!std::regex_search(version, m, std::regex("^(\\d+)\\.(\\d+)"))) return std::nullopt;
  return std::make_pair(std::stoi(m[1]), std::stoi(m[2]));
}

std::string signature(const c10::FunctionSchema& schema) {
  std::string out = "forward(";
  for (std::size_t i = 1; i < schema.arguments().size(); ++i)  // 0 is self
    out += (i > 1 ? ", " : "") + schema.arguments()[i].name() + ": " +
           schema.arguments()[i].type()->annotation_str();
  out += ") -> ";
  for (std::size_t i = 0; i < schema.returns().size(); ++i)
    out += (i > 0 ? ", " : "") + schema.returns()[i].type()->annotation_str();
  return out;
}

bool is_tensor(const c10::TypePtr& t) { return t->isSubtypeOf(*c10::TensorType::get()); }

bool returns_as_contracted(const c10::FunctionSchema& schema) {
  if (schema.returns().size() != 1) return false;
  const auto tuple = schema.returns()[0].type()->cast<c10::TupleType>();
  if (!tuple || (tuple->elements().size() != 2 && tuple->elements().size() != 3)) return false;
  if (!is_tensor(tuple->elements()[0]) || !is_tensor(tuple->elements()[1])) return false;
  if (tuple->elements().size() == 2) return true;
  const auto dict = tuple->elements()[2]->cast<c10::DictType>();
  return dict && dict->getKeyType()->kind() == c10::TypeKind::StringType &&
         is_tensor(dict->getValueType());
}

std::string shape(const torch::Tensor& t) { return c10::str(t.sizes()); }

class TorchScriptObjective : public rpcbench::Objective {
 public:
  explicit TorchScriptObjective(const rpcbench::Params& p)
      : path_(p.get_string("path")), optimize_(p.get_bool("optimize")) {
    if (path_.empty()) p.fail("path", "must name a saved TorchScript module");
    sha256_ = sha256_file(path_);
    check_archive(p);
    try {
      module_ = torch::jit::load(path_, torch::kCPU);
    } catch (const std::exception& e) {
      p.fail("path", "'" + path_ +
                         "' is not a TorchScript module LibTorch " TORCH_VERSION " can load: " +
                         first_line(message_of(e)) + load_hint());
    }
    check_forward(p);
    check_no_learnable_parameters(p);
    set_attributes(p, p.get_string("attributes"));
    module_attributes_ = module_attributes();
    probe(p);
    module_.train(training_);
  }

  rpcbench::ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    try {
      // Moves parameters and buffers only: tensor attributes stay where they were loaded (CPU).
      if (pos.device() != device_) {
        module_.to(pos.device());
        device_ = pos.device();
      }
      // State (moving averages) follows the harness's convention: updated only in training,
      // which a module sees as self.training.
      const bool training = torch::GradMode::is_enabled();
      if (training != training_) {
        module_.train(training);
        training_ = training;
      }
      return call(module_, pos, neg);
    } catch (const std::exception& e) {
      throw std::runtime_error("torchscript objective " + path_ + ": " + cause(e));
    }
  }

  std::vector<std::pair<std::string, std::string>> provenance() const override {
    std::vector<std::pair<std::string, std::string>> out = {
        {"module_sha256", sha256_},
        {"module_code", forward_code()},
        {"module_source", module_source()},
    };
    out.emplace_back("module_attributes", module_attributes_);
    if (!saved_by_.empty()) out.emplace_back("saved_by_torch", saved_by_);
    return out;
  }

 private:
  rpcbench::ObjectiveResult call(torch::jit::Module& module, const torch::Tensor& pos,
                                 const torch::Tensor& neg) const {
    // Op by op unless asked: the same kernels, in the same order, as a C++ plugin.
    torch::jit::GraphOptimizerEnabledGuard optimizer(optimize_);
    const c10::IValue out = module.forward({pos, neg});
    const auto& elements = out.toTupleRef().elements();
    rpcbench::ObjectiveResult result;
    result.loss = elements[0].toTensor();
    result.mi = elements[1].toTensor();
    if (elements.size() == 3)
      for (const auto& entry : elements[2].toGenericDict())
        result.diagnostics.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
    return result;
  }

  // The archive itself: readable by this LibTorch, and not saved by a newer PyTorch.
  void check_archive(const rpcbench::Params& p) {
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
    try {
      reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path_);
    } catch (const c10::Error& e) {
      const std::string message = e.what_without_backtrace();
      std::smatch m;
      if (std::regex_search(message, m,
                            std::regex("with version (\\d+), but the maximum "
                                       "supported version for reading is (\\d+)")))
        p.fail("path", "'" + path_ +
                           "' was saved by a newer PyTorch than this harness's LibTorch " +
                           TORCH_VERSION + ": its archive format is version " + m[1].str() +
                           ", LibTorch " TORCH_VERSION " reads versions up to " + m[2].str() +
                           " (export it with PyTorch " TORCH_VERSION ", Debian's python3-torch)");
      p.fail("path", "'" + path_ +
                         "' is not a TorchScript archive (torch.jit.script(m).save(path)): " +
                         first_line(message));
    }
    const auto records = reader->getAllRecords();
    has_code_ = std::any_of(records.begin(), records.end(),
                            [](const std::string& r) { return r.rfind("code/", 0) == 0; });
    if (reader->hasRecord("extra/torch_version")) {
      const auto [data, size] = reader->getRecord("extra/torch_version");
      saved_by_ = trim(std::string(static_cast<const char*>(data.get()), size));
    }
    const auto saved = major_minor(saved_by_);
    if (saved && *saved > std::make_pair(TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR))
      p.fail("path", "'" + path_ + "' was saved by PyTorch " + saved_by_ +
                         ", newer than this harness's LibTorch " TORCH_VERSION
                         " (TorchScript is not forward compatible: export it with PyTorch " +
                         std::to_string(TORCH_VERSION_MAJOR) + "." +
                         std::to_string(TORCH_VERSION_MINOR) + ")");
  }

  // Appended to a load failure. PyTorch 2.x writes archive format 10 or below and no version
  // record unless asked (_extra_files), so its modules pass check_archive and fail here, most
  // often with "Unknown builtin op": an operator this LibTorch lacks.
  std::string load_hint() const {
    if (!has_code_)
      return " (the archive has no code/: torch.save writes such files, torch.jit.save does not)";
    if (!saved_by_.empty()) return " (saved by PyTorch " + saved_by_ + ")";
    return "; possibly saved by a newer PyTorch than this harness's LibTorch " TORCH_VERSION
           ": re-export it with python3-torch " +
           std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR);
  }

  void check_forward(const rpcbench::Params& p) const {
    const auto forward = module_.find_method("forward");
    if (!forward)
      p.fail("path", "'" + path_ + "' has no forward method; expected " + kForwardContract);
    const c10::FunctionSchema& schema = forward->function().getSchema();
    const auto& args = schema.arguments();
    const bool arguments_ok =
        args.size() == 3 && is_tensor(args[1].type()) && is_tensor(args[2].type());
    if (!arguments_ok || !returns_as_contracted(schema))
      p.fail("path",
             "'" + path_ + "': expected " + kForwardContract + "; found " + signature(schema));
  }

  // The harness trains the critic only: an objective's own parameters would never move.
  void check_no_learnable_parameters(const rpcbench::Params& p) const {
    std::string names;
    for (const auto& param : module_.named_parameters(/*recurse=*/true))
      if (param.value.requires_grad()) names += (names.empty() ? "" : ", ") + param.name;
    if (!names.empty())
      p.fail("path", "'" + path_ + "' has learnable parameters (" + names +
                         ") that the harness would not train (it optimises the critic only); "
                         "make them buffers or attributes");
  }

  // "temperature=0.5, log_baseline=1" -> module attributes of type float, int or bool.
  void set_attributes(const rpcbench::Params& p, const std::string& text) {
    const c10::ClassTypePtr type = module_.type();
    std::string settable;
    for (std::size_t i = 0; i < type->numAttributes(); ++i) {
      const auto kind = type->getAttribute(i)->kind();
      const std::string name = type->getAttributeName(i);
      if (name != "training" && (kind == c10::TypeKind::FloatType ||
                                 kind == c10::TypeKind::IntType || kind == c10::TypeKind::BoolType))
        settable += (settable.empty() ? "" : ", ") + name;
    }
    if (settable.empty()) settable = "none";
    std::size_t start = 0;
    while (start <= text.size()) {
      const std::size_t comma = std::min(text.find(',', start), text.size());
      const std::string item = trim(text.substr(start, comma - start));
      start = comma + 1;
      if (item.empty()) {
        if (comma < text.size()) p.fail("attributes", "has an empty item in \"" + text + "\"");
        continue;
      }
      const auto eq = item.find('=');
      if (eq == std::string::npos) p.fail("attributes", "item '" + item + "' is not name=value");
      const std::string name = trim(item.substr(0, eq));
      const std::string value = trim(item.substr(eq + 1));
      if (type->hasConstant(name))
        p.fail("attributes", "'" + name +
                                 "' is a constant of the module (Final or __constants__), " +
                                 "fixed when it was scripted; settable: " + settable);
      const c10::TypePtr attribute = name == "training" ? nullptr : type->findAttribute(name);
      if (!attribute)
        p.fail("attributes",
               "the module has no attribute '" + name + "' (settable: " + settable + ")");
      module_.setattr(name, parse_value(p, name, value, attribute));
    }
  }

  static c10::IValue parse_value(const rpcbench::Params& p, const std::string& name,
                                 const std::string& value, const c10::TypePtr& type) {
    const std::string where = "'" + name + "' (" + type->annotation_str() + ")";
    std::size_t used = 0;
    try {
      switch (type->kind()) {
        case c10::TypeKind::FloatType: {
          const double v = std::stod(value, &used);
          if (used == value.size()) return v;
          break;
        }
        case c10::TypeKind::IntType: {
          const std::int64_t v = std::stoll(value, &used);
          if (used == value.size()) return v;
          break;
        }
        case c10::TypeKind::BoolType:
          if (value == "true") return true;
          if (value == "false") return false;
          break;
        default:
          p.fail("attributes", where +
                                   " cannot be set from a suite: only float, int and bool "
                                   "attributes can (set tensors in Python)");
      }
    } catch (const std::logic_error&) {  // stod/stoll: no number, or out of range
    }
    p.fail("attributes", where + ": '" + value + "' is not a " + type->annotation_str());
  }

  // "name=value, ..." for every float, int and bool attribute of the module and its submodules
  // (dotted names), as loaded with `attributes` applied.
  std::string module_attributes() const {
    std::string out;
    for (const auto& sub : module_.named_modules()) {
      const c10::ClassTypePtr type = sub.value.type();
      for (std::size_t i = 0; i < type->numAttributes(); ++i) {
        const auto kind = type->getAttribute(i)->kind();
        const std::string name = type->getAttributeName(i);
        if (name == "training" ||
            (kind != c10::TypeKind::FloatType && kind != c10::TypeKind::IntType &&
             kind != c10::TypeKind::BoolType))
          continue;
        out += (out.empty() ? "" : ", ") + (sub.name.empty() ? "" : sub.name + ".") + name + "=" +
               format_value(sub.value.attr(name));
      }
    }
    return out;
  }

  // One call in each mode on a copy (a stateful module's state stays as loaded), on the diagonal
  // and the off-diagonal rows of a 16×16 score matrix as the MI task passes them: the outputs must
  // be scalars, no diagnostic may be named like a task metric, and in training the loss must
  // carry a gradient that backward can compute, finite, to pos or neg.
  void probe(const rpcbench::Params& p) const {
    const std::int64_t n = kProbeN;
    const torch::Tensor matrix =
        2.0 * torch::sin(0.37 * torch::arange(n * n, torch::kFloat)).view({n, n}) +
        1.5 * torch::eye(n, torch::kFloat);
    const torch::Tensor off_diagonal = ~torch::eye(n, torch::kBool);
    torch::jit::Module copy = module_.deepcopy();
    const std::string input = "on a probe input (pos [" + std::to_string(n) + "], neg [" +
                              std::to_string(n) + ", " + std::to_string(n - 1) + "])";
    const auto fail = [&](const std::string& what) { p.fail("path", "'" + path_ + "': " + what); };
    for (const bool training : {true, false}) {
      const std::string mode = training ? " in training" : " in evaluation";
      torch::AutoGradMode grad_mode(training);
      copy.train(training);
      const torch::Tensor scores = matrix.clone().requires_grad_(training);
      const torch::Tensor pos = scores.diagonal();  // a strided view, as the task's
      const torch::Tensor neg = scores.masked_select(off_diagonal).view({n, n - 1});
      rpcbench::ObjectiveResult r;
      try {
        r = call(copy, pos, neg);
      } catch (const std::exception& e) {
        fail("forward failed" + mode + " " + input + ": " + cause(e));
      }
      std::vector<std::pair<std::string, torch::Tensor>> outputs = {{"loss", r.loss}, {"mi", r.mi}};
      for (const auto& d : r.diagnostics) {
        if (std::find(kTaskMetrics.begin(), kTaskMetrics.end(), d.first) != kTaskMetrics.end())
          fail("forward's diagnostic '" + d.first +
               "' is named like a metric the tasks record themselves (mi, true_mi, loss, "
               "grad_norm, gradient_penalty) and would overwrite its samples; rename it");
        outputs.emplace_back("diagnostic '" + d.first + "'", d.second);
      }
      for (const auto& [what, t] : outputs)
        if (!t.defined() || t.numel() != 1)
          fail("forward's " + what + " must be a scalar; found " +
               (t.defined() ? "shape " + shape(t) : "an undefined tensor") + " " + input);
      if (!training) continue;
      if (!r.loss.requires_grad())
        fail("forward's loss carries no gradient " + input +
             " (it must depend on pos or neg; do not detach it)");
      std::vector<torch::Tensor> gradients;
      try {
        gradients = torch::autograd::grad({r.loss}, {pos, neg}, /*grad_outputs=*/{},
                                          /*retain_graph=*/false, /*create_graph=*/false,
                                          /*allow_unused=*/true);
      } catch (const std::exception& e) {
        std::string why = cause(e);
        why = trim(why.substr(0, why.find(" Hint: ")));  // the hint is Python's anomaly mode
        fail("backward through forward's loss failed " + input + ": " + why +
             (why.find("modified by an inplace operation") != std::string::npos
                  ? " (update state by reassigning it, self.x = ..., not in place)"
                  : ""));
      }
      bool depends = false;
      for (std::size_t i = 0; i < gradients.size(); ++i) {
        if (!gradients[i].defined()) continue;
        depends = true;
        if (!torch::isfinite(gradients[i]).all().item<bool>())
          fail("the gradient of forward's loss with respect to " +
               std::string(i == 0 ? "pos" : "neg") + " is not finite " + input);
      }
      if (!depends)
        fail("forward's loss does not depend on pos or neg " + input +
             " (its gradient with respect to both is undefined)");
    }
  }

  std::string forward_code() const {  // Python's `scripted.code`
    std::vector<c10::IValue> constants;
    torch::jit::PrintDepsTable deps;
    torch::jit::PythonPrint printer(constants, deps);
    printer.printMethod(module_.get_method("forward").function());
    return printer.str();
  }

  std::string module_source() const {  // every class the module uses, as saved in its archive
    torch::jit::ExtraFilesMap sources;
    std::vector<c10::IValue> constants;
    torch::jit::jitModuleToPythonCodeAndConstants(module_, &sources, &constants);
    std::vector<std::pair<std::string, std::string>> sorted(sources.begin(), sources.end());
    std::sort(sorted.begin(), sorted.end());
    std::string out;
    for (const auto& [file, code] : sorted) out += "# " + file + "\n" + code;
    return out;
  }

  std::string path_;
  bool optimize_;
  std::string sha256_;
  std::string saved_by_;   // the module's extra/torch_version record, when the exporter wrote one
  bool has_code_ = false;  // the archive has code/ records (torch.jit.save writes them)
  std::string module_attributes_;  // as loaded, `attributes` applied
  torch::jit::Module module_;
  c10::Device device_ = torch::kCPU;
  bool training_ = true;
};

}  // namespace

RPCBENCH_OBJECTIVE(TorchScriptObjective, "torchscript", "1.0.0",
                   "an objective written in Python: a saved TorchScript module", kParams)
