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
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
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
     "run forward through the JIT's optimising executor (profiling, fusion) instead of op by op"},
};

constexpr const char* kForwardContract =
    "forward(pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor] or "
    "Tuple[Tensor, Tensor, Dict[str, Tensor]]";

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n") - b + 1);
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
    } catch (const c10::Error& e) {
      p.fail("path", "'" + path_ +
                         "' is not a TorchScript module LibTorch " TORCH_VERSION " can load: " +
                         first_line(e.what_without_backtrace()));
    }
    check_forward(p);
    check_no_learnable_parameters(p);
    set_attributes(p, p.get_string("attributes"));
    probe(p);
    module_.train(training_);
  }

  rpcbench::ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    if (pos.device() != device_) {
      module_.to(pos.device());
      device_ = pos.device();
    }
    // State (moving averages) follows the harness's convention: updated only in training, which
    // a module sees as self.training.
    const bool training = torch::GradMode::is_enabled();
    if (training != training_) {
      module_.train(training);
      training_ = training;
    }
    return call(module_, pos, neg);
  }

  std::vector<std::pair<std::string, std::string>> provenance() const override {
    std::vector<std::pair<std::string, std::string>> out = {
        {"module_sha256", sha256_},
        {"module_code", forward_code()},
        {"module_source", module_source()},
    };
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

  // One tiny call in each mode on a copy (a stateful module's state stays as loaded): the
  // outputs must be scalars, and the loss must carry a gradient in training.
  void probe(const rpcbench::Params& p) const {
    const torch::Tensor pos = torch::tensor({1.5, -0.5, 0.25, 2.0}, torch::kFloat);
    const torch::Tensor neg = torch::linspace(-1.0, 1.0, 12, torch::kFloat).view({4, 3});
    torch::jit::Module copy = module_.deepcopy();
    const std::string input = "on a probe input (pos " + shape(pos) + ", neg " + shape(neg) + ")";
    for (const bool training : {true, false}) {
      torch::AutoGradMode grad_mode(training);
      copy.train(training);
      const torch::Tensor pos_in = pos.clone().requires_grad_(training);
      const torch::Tensor neg_in = neg.clone().requires_grad_(training);
      rpcbench::ObjectiveResult r;
      try {
        r = call(copy, pos_in, neg_in);
      } catch (const c10::Error& e) {
        p.fail("path", "'" + path_ + "': forward failed " + input + ": " +
                           first_line(e.what_without_backtrace()));
      } catch (const std::exception& e) {
        p.fail("path", "'" + path_ + "': forward failed " + input + ": " + first_line(e.what()));
      }
      std::vector<std::pair<std::string, torch::Tensor>> outputs = {{"loss", r.loss}, {"mi", r.mi}};
      for (const auto& d : r.diagnostics)
        outputs.emplace_back("diagnostic '" + d.first + "'", d.second);
      for (const auto& [what, t] : outputs)
        if (!t.defined() || t.numel() != 1)
          p.fail("path", "'" + path_ + "': forward's " + what + " must be a scalar; found " +
                             (t.defined() ? "shape " + shape(t) : "an undefined tensor") + " " +
                             input);
      if (training && !r.loss.requires_grad())
        p.fail("path", "'" + path_ + "': forward's loss carries no gradient " + input +
                           " (it must depend on pos or neg; do not detach it)");
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
  std::string saved_by_;  // the module's extra/torch_version record, when the exporter wrote one
  torch::jit::Module module_;
  c10::Device device_ = torch::kCPU;
  bool training_ = true;
};

}  // namespace

RPCBENCH_OBJECTIVE(TorchScriptObjective, "torchscript", "1.0.0",
                   "an objective written in Python: a saved TorchScript module", kParams)
