// rpcbench plugin SDK: the one header a plugin includes.
//
// A plugin is a shared library that exports two symbols through BOOST_DLL_ALIAS:
//   rpcbench_plugin_info    const rpcbench::PluginInfo* ()   what it is (ABI, kind, name, params)
//   rpcbench_plugin_create  the factory for its kind           makes one object from Params
// Nothing runs when the library loads: the info record is constant-initialised and the factory
// is only called by the harness. RPCBENCH_OBJECTIVE / RPCBENCH_ENCODER / RPCBENCH_DATASET below
// are thin sugar that writes those two functions for a class.
//
// Only std, LibTorch and Boost.DLL types cross this boundary.
#pragma once

#include <torch/torch.h>

#include <boost/dll/alias.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

// Bump when anything in this header changes layout or meaning. The harness refuses other values.
// 2: sequences (Batch::groups and ::lengths, DatasetSpec sequence fields, sequence encoders).
// 3: ParamType::path; Objective::critic_gradient_penalty() and Objective::provenance().
// 4: ensembles (kScoresPairsStacked, Encoder::stacked_score_matrices()).
#define RPCBENCH_ABI_VERSION 4

#define RPCBENCH_DETAIL_STR_(x) #x
#define RPCBENCH_DETAIL_STR(x) RPCBENCH_DETAIL_STR_(x)
// Objects, std::string and exceptions cross the boundary, so both sides need one toolchain and
// one LibTorch. Both sides compute this string from this header and must agree.
#define RPCBENCH_BUILD_ID                                                          \
  "cxx " __VERSION__ "; libtorch " TORCH_VERSION "; cxx11abi " RPCBENCH_DETAIL_STR( \
      _GLIBCXX_USE_CXX11_ABI)

namespace rpcbench {

inline constexpr std::uint32_t kAbiVersion = RPCBENCH_ABI_VERSION;
inline constexpr const char* kBuildId = RPCBENCH_BUILD_ID;

enum class PluginKind : std::uint32_t { objective = 1, encoder = 2, dataset = 3 };

inline const char* to_string(PluginKind kind) {
  switch (kind) {
    case PluginKind::objective: return "objective";
    case PluginKind::encoder: return "encoder";
    case PluginKind::dataset: return "dataset";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Parameters

// `path`: a file. The harness resolves a relative path against the suite file's folder, refuses a
// missing file at the key's file:line:col before any work, records the file's SHA-256 with the run
// (a changed file is a changed case), and hands the plugin the absolute path (get_string).
enum class ParamType : std::uint32_t { boolean, integer, real, text, real_list, path };

inline const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::boolean: return "bool";
    case ParamType::integer: return "integer";
    case ParamType::real: return "float";
    case ParamType::text: return "string";
    case ParamType::real_list: return "list of floats";
    case ParamType::path: return "path";
  }
  return "unknown";
}

// One declared parameter. `default_value` is TOML text ("1e-4", "true", "\"relu\"", "[2.0, 4.0]");
// nullptr makes the parameter required. The harness validates suites against these before any
// work, so a plugin never sees an unknown key or a wrong type.
struct ParamSpec {
  const char* name;
  ParamType type;
  const char* default_value;
  const char* help;
};

using ParamValue = std::variant<bool, std::int64_t, double, std::string, std::vector<double>>;

class ParamError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The resolved parameters of one plugin instance: every declared key, defaults filled in.
class Params {
 public:
  Params() = default;
  Params(std::string owner, std::map<std::string, ParamValue> values)
      : owner_(std::move(owner)), values_(std::move(values)) {}

  bool has(const std::string& key) const { return values_.count(key) != 0; }
  bool get_bool(const std::string& key) const { return get<bool>(key, "a bool"); }
  std::int64_t get_int(const std::string& key) const { return get<std::int64_t>(key, "an integer"); }
  double get_double(const std::string& key) const {
    const ParamValue& v = at(key);
    if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
    return get<double>(key, "a float");
  }
  // Strings and paths (a path arrives absolute).
  const std::string& get_string(const std::string& key) const {
    return get<std::string>(key, "a string");
  }
  const std::vector<double>& get_reals(const std::string& key) const {
    return get<std::vector<double>>(key, "a list of floats");
  }

  // Like get_int, and also refuses values outside [lo, hi].
  std::int64_t get_int_in(const std::string& key, std::int64_t lo,
                          std::int64_t hi = std::numeric_limits<std::int64_t>::max()) const {
    const std::int64_t v = get_int(key);
    if (v < lo || v > hi) fail(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                        "], got " + std::to_string(v));
    return v;
  }
  double get_double_in(const std::string& key, double lo, double hi) const {
    const double v = get_double(key);
    if (!(v >= lo && v <= hi)) {
      std::ostringstream os;
      os << "must be in [" << lo << ", " << hi << "], got " << v;
      fail(key, os.str());
    }
    return v;
  }

  const std::string& owner() const { return owner_; }
  const std::map<std::string, ParamValue>& values() const { return values_; }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ParamError(owner_ + ": parameter '" + key + "' " + what);
  }

 private:
  const ParamValue& at(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end()) fail(key, "is not set");
    return it->second;
  }
  template <class T>
  const T& get(const std::string& key, const char* expected) const {
    const T* v = std::get_if<T>(&at(key));
    if (v == nullptr) fail(key, std::string("is not ") + expected);
    return *v;
  }

  std::string owner_;
  std::map<std::string, ParamValue> values_;
};

// ---------------------------------------------------------------------------------------------
// Objectives: one shape for every task.

struct ObjectiveResult {
  torch::Tensor loss;  // scalar to minimise (carries the gradient)
  torch::Tensor mi;    // scalar MI estimate in nats implied by the critic (no gradient needed)
  // Other named scalars: alternative read-outs, ceilings, moving averages.
  std::vector<std::pair<std::string, torch::Tensor>> diagnostics;
};

class Objective {
 public:
  virtual ~Objective() = default;
  // For M anchors: pos[m] is the score of anchor m's positive pair, neg[m, k] its K negatives.
  // The MI task passes the diagonal of an N×N score matrix and the rest of each row (M = N,
  // K = N − 1). Stateful estimators keep their state in the object and update it only while
  // gradient mode is on (training).
  virtual ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) = 0;

  // Objectives that need a Lipschitz critic (WPC): the weight λ of the one-sided gradient penalty
  // the task adds to the training loss, λ·mean(max(0, ‖∇_(x,y) f(x, y)‖ − 1)²) over the positive
  // pairs and one negative pair per anchor (Gulrajani et al. 2017). 0: none. A task that cannot
  // compute it refuses the objective before any work.
  virtual double critic_gradient_penalty() const { return 0.0; }

  // What identifies this objective beyond its name, version and parameters (e.g. the source of a
  // loaded script), recorded with the run as "objective.<label>.<key>". Empty for most.
  virtual std::vector<std::pair<std::string, std::string>> provenance() const { return {}; }
};

// ---------------------------------------------------------------------------------------------
// Encoders (feature encoders and MI critics)

// Per-sample shapes (no batch dimension) of what the dataset delivers.
struct InputSpec {
  std::vector<std::int64_t> x_shape;  // -1 in the last place: variable length (e.g. audio, {1, -1})
  std::vector<std::int64_t> y_shape;  // empty when there is no paired variable
  std::int64_t num_classes = 0;       // 0 when unlabelled
};

// Declared in PluginInfo::capabilities so tasks can check before building anything.
enum EncoderCapability : std::uint32_t {
  kEncodes = 1u << 0,           // encode(x) -> [N, output_dim]
  kScoresPairs = 1u << 1,       // score_matrix(x, y) -> [N, N]
  kEncodesSequences = 1u << 2,  // encode_sequence(x) -> [B, F, output_dim]; context(z) -> [B, F, context_dim]
  kScoresPairsStacked = 1u << 3,  // stacked_score_matrices(): M copies of the critic trained as one ensemble
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  // Parameters, train()/eval() and to(device) go through the module.
  virtual torch::nn::Module& module() = 0;
  virtual std::int64_t output_dim() const = 0;
  virtual torch::Tensor encode(const torch::Tensor& /*x*/) {
    throw std::logic_error("this encoder does not implement encode()");
  }
  // S[i, j] = f(x_j, y_i): positives on the diagonal.
  virtual torch::Tensor score_matrix(const torch::Tensor& /*x*/, const torch::Tensor& /*y*/) {
    throw std::logic_error("this encoder does not implement score_matrix()");
  }
  // Sequence encoders (kEncodesSequences). x [B, C, T] -> z [B, F, output_dim], one frame per
  // frame_stride() input steps (F = T / frame_stride() when T is a multiple of it); frame f may
  // see later input (a convolution's receptive field), never later frames.
  virtual torch::Tensor encode_sequence(const torch::Tensor& /*x*/) {
    throw std::logic_error("this encoder does not implement encode_sequence()");
  }
  // The autoregressive context: c[:, f] depends on z[:, 0..f] only. [B, F, output_dim] -> [B, F, context_dim].
  virtual torch::Tensor context(const torch::Tensor& /*z*/) {
    throw std::logic_error("this encoder does not implement context()");
  }
  virtual std::int64_t context_dim() const { return 0; }
  virtual std::int64_t frame_stride() const { return 0; }
  // Ensembles (kScoresPairsStacked): the score matrices of M critics of this shape at once, so that
  // small critics train together in batched matmuls (bmm) instead of M times as many small ops.
  // `params` are the M members' parameters stacked along a new leading dimension, in the order of
  // module().parameters(); x [M, N, ...], y [M, N, ...] -> [M, N, N], where slice m is what
  // score_matrix(x[m], y[m]) gives with member m's parameters. It must not read this object's own
  // parameters (they are one member's initial values) and must not mix members. Any strides: the
  // harness stores a weight [M, out, in] transposed in memory, so weight.transpose(1, 2) is the
  // contiguous operand of x·Wᵀ (plugins/encoders/common/mlp.hpp: stacked_mlp_forward).
  virtual torch::Tensor stacked_score_matrices(const std::vector<torch::Tensor>& /*params*/,
                                               const torch::Tensor& /*x*/, const torch::Tensor& /*y*/) {
    throw std::logic_error("this encoder does not implement stacked_score_matrices()");
  }
};

// ---------------------------------------------------------------------------------------------
// Datasets (finite labelled sets and streaming samplers with known MI)

struct Batch {
  torch::Tensor x;        // [B, ...]; variable-length sets pad the last axis with zeros
  torch::Tensor y;        // paired variable (MI samplers); undefined otherwise
  torch::Tensor labels;   // int64 class labels [B], or per frame [B, F] (-1: padding); undefined when unlabelled
  torch::Tensor groups;   // int64 [B]: a second labelling of whole examples (the speaker); undefined when none
  torch::Tensor lengths;  // int64 [B]: valid length of each x along its last axis (variable-length sets)
};

struct DatasetSpec {
  InputSpec input;
  std::int64_t stream_steps = 0;                     // > 0: a sampler with this many steps
  std::map<std::string, std::int64_t> split_sizes;  // finite sets: {"train": n, "test": m}
  // Sequence sets (variable-length x with per-frame labels):
  std::int64_t frame_stride = 0;  // input steps per label frame (160 samples = 10 ms at 16 kHz)
  std::int64_t sample_rate = 0;   // input steps per second (Hz)
  std::int64_t num_groups = 0;    // classes of Batch::groups (speakers)
  std::map<std::string, std::vector<std::int64_t>> lengths;  // per split: each example's length (last axis of x)
  std::map<std::string, std::vector<std::int64_t>> groups;   // per split: each example's group (speaker)
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual DatasetSpec spec() const = 0;
  // Samplers: a fresh batch for training step `step`, drawn from `generator` on the CPU.
  virtual Batch sample(std::int64_t /*step*/, std::int64_t /*batch_size*/,
                       at::Generator& /*generator*/) {
    throw std::logic_error("this dataset is not a sampler");
  }
  // Samplers with known MI: the true MI (nats) at `step`; NaN when unknown.
  virtual double true_mi(std::int64_t /*step*/) const {
    return std::numeric_limits<double>::quiet_NaN();
  }
  // Finite sets: the examples at `indices` (int64, CPU) of `split`.
  virtual Batch get(const std::string& /*split*/, const torch::Tensor& /*indices*/) {
    throw std::logic_error("this dataset has no finite splits");
  }
};

// ---------------------------------------------------------------------------------------------
// The exported record and factories

// The first two fields never move, so the harness can refuse any other ABI before reading more.
struct PluginInfo {
  std::uint32_t abi_version;
  const char* build_id;
  PluginKind kind;
  const char* name;
  const char* version;
  const char* summary;
  const ParamSpec* params;
  std::size_t param_count;
  std::uint32_t capabilities;  // EncoderCapability bits for encoders; 0 otherwise
};

using InfoFunction = const PluginInfo*();
using ObjectiveFactory = std::unique_ptr<Objective>(const Params&);
using EncoderFactory = std::unique_ptr<Encoder>(const Params&, const InputSpec&);
using DatasetFactory = std::unique_ptr<Dataset>(const Params&);

inline constexpr const char* kInfoSymbol = "rpcbench_plugin_info";
inline constexpr const char* kFactorySymbol = "rpcbench_plugin_create";

template <std::size_t N>
constexpr PluginInfo make_info(PluginKind kind, const char* name, const char* version,
                               const char* summary, const ParamSpec (&params)[N],
                               std::uint32_t capabilities = 0) {
  return PluginInfo{kAbiVersion, RPCBENCH_BUILD_ID, kind,  name, version,
                    summary,     params,            N,     capabilities};
}
constexpr PluginInfo make_info(PluginKind kind, const char* name, const char* version,
                               const char* summary, std::uint32_t capabilities = 0) {
  return PluginInfo{kAbiVersion, RPCBENCH_BUILD_ID, kind, name, version,
                    summary,     nullptr,           0,    capabilities};
}

}  // namespace rpcbench

// Exports a plain info function and a plain factory function under the names the harness looks
// for. Everything else a plugin writes is ordinary C++.
#define RPCBENCH_EXPORT_PLUGIN(info_function, factory_function) \
  BOOST_DLL_ALIAS(info_function, rpcbench_plugin_info)          \
  BOOST_DLL_ALIAS(factory_function, rpcbench_plugin_create)

#define RPCBENCH_DETAIL_INFO_FN(kind, name, version, summary, ...)                             \
  namespace {                                                                                  \
  const ::rpcbench::PluginInfo* rpcbench_detail_info() {                                       \
    static constexpr ::rpcbench::PluginInfo info =                                             \
        ::rpcbench::make_info(::rpcbench::PluginKind::kind, name, version, summary, __VA_ARGS__); \
    return &info;                                                                              \
  }                                                                                            \
  }

// RPCBENCH_OBJECTIVE(Class, "name", "1.0.0", "one line", kParams): Class(const Params&).
#define RPCBENCH_OBJECTIVE(Class, name, version, summary, ...)                              \
  RPCBENCH_DETAIL_INFO_FN(objective, name, version, summary, __VA_ARGS__)                   \
  namespace {                                                                               \
  std::unique_ptr<::rpcbench::Objective> rpcbench_detail_create(const ::rpcbench::Params& p) { \
    return std::make_unique<Class>(p);                                                      \
  }                                                                                         \
  }                                                                                         \
  RPCBENCH_EXPORT_PLUGIN(rpcbench_detail_info, rpcbench_detail_create)

// RPCBENCH_ENCODER(Class, "name", "1.0.0", "one line", kParams, capabilities):
// Class(const Params&, const InputSpec&).
#define RPCBENCH_ENCODER(Class, name, version, summary, ...)                          \
  RPCBENCH_DETAIL_INFO_FN(encoder, name, version, summary, __VA_ARGS__)               \
  namespace {                                                                         \
  std::unique_ptr<::rpcbench::Encoder> rpcbench_detail_create(                        \
      const ::rpcbench::Params& p, const ::rpcbench::InputSpec& input) {              \
    return std::make_unique<Class>(p, input);                                         \
  }                                                                                   \
  }                                                                                   \
  RPCBENCH_EXPORT_PLUGIN(rpcbench_detail_info, rpcbench_detail_create)

// RPCBENCH_DATASET(Class, "name", "1.0.0", "one line", kParams): Class(const Params&).
#define RPCBENCH_DATASET(Class, name, version, summary, ...)                               \
  RPCBENCH_DETAIL_INFO_FN(dataset, name, version, summary, __VA_ARGS__)                    \
  namespace {                                                                              \
  std::unique_ptr<::rpcbench::Dataset> rpcbench_detail_create(const ::rpcbench::Params& p) { \
    return std::make_unique<Class>(p);                                                     \
  }                                                                                        \
  }                                                                                        \
  RPCBENCH_EXPORT_PLUGIN(rpcbench_detail_info, rpcbench_detail_create)
