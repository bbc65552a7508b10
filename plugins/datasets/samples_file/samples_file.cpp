// Paired samples from a file made by any tool (bmi, a simulator, a Python script): a sampler that
// draws each step's batch from the rows of the file.
#include "sample_files.hpp"

#include <rpcbench/plugin.hpp>

#include <cctype>
#include <cmath>
#include <limits>

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"path", ParamType::path, nullptr, "a CSV with header X1..Xn,Y1..Ym, or an .npy of X (then y_path)"},
    {"y_path", ParamType::path, "\"\"", "the .npy of Y when `path` is an .npy of X (rows pair by row)"},
    {"true_mi", ParamType::real, "nan", "the true MI in nats when the maker knows it (nan: unknown)"},
    {"standardize", ParamType::boolean, "true",
     "z-score each column (an affine map of each variable: the MI is unchanged)"},
    {"steps", ParamType::integer, "5000", "training steps (each a batch of distinct rows, drawn afresh)"},
};

std::string extension_of(const std::string& path) {
  const std::size_t dot = path.find_last_of('.');
  std::string extension = dot == std::string::npos ? "" : path.substr(dot);
  for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return extension;
}

torch::Tensor to_tensor(const rpcbench::datasets::SampleMatrix& m) {
  return torch::tensor(m.values, torch::TensorOptions().dtype(torch::kFloat64)).view({m.rows, m.cols});
}

class SamplesFile : public rpcbench::Dataset {
 public:
  explicit SamplesFile(const rpcbench::Params& p)
      : true_mi_(p.get_double("true_mi")), steps_(p.get_int_in("steps", 1, 1'000'000'000)) {
    namespace ds = rpcbench::datasets;
    const std::string& path = p.get_string("path");
    const std::string& y_path = p.get_string("y_path");
    if (std::isinf(true_mi_) || true_mi_ < 0) p.fail("true_mi", "must be ≥ 0 or nan (unknown)");
    ds::PairedSamples samples;
    if (extension_of(path) == ".npy") {
      if (y_path.empty()) p.fail("y_path", "must name the .npy of Y when `path` is an .npy of X");
      samples = ds::read_npy_pair(path, y_path);
    } else if (extension_of(path) == ".csv") {
      if (!y_path.empty()) p.fail("y_path", "is only for .npy pairs; a CSV holds X and Y together");
      samples = ds::read_samples_csv(path);
    } else {
      p.fail("path", "'" + path + "' must end in .csv (X1..Xn,Y1..Ym) or .npy (with y_path)");
    }
    x_ = to_tensor(samples.x);
    y_ = to_tensor(samples.y);
    if (p.get_bool("standardize")) {
      x_ = standardized(x_, p, "path", "X");
      y_ = standardized(y_, p, y_path.empty() ? "path" : "y_path", "Y");
    }
    x_ = finite_float32(x_, p, "path", "X");
    y_ = finite_float32(y_, p, y_path.empty() ? "path" : "y_path", "Y");
  }

  rpcbench::DatasetSpec spec() const override {
    rpcbench::DatasetSpec spec;
    spec.input.x_shape = {x_.size(1)};
    spec.input.y_shape = {y_.size(1)};
    spec.stream_steps = steps_;
    spec.split_sizes = {{"train", x_.size(0)}};  // a batch cannot exceed the file's rows
    return spec;
  }

  // Distinct rows per batch (a repeated row would be its own negative); independent across steps.
  rpcbench::Batch sample(std::int64_t /*step*/, std::int64_t batch_size, at::Generator& generator) override {
    if (batch_size > x_.size(0))
      throw std::runtime_error("a batch of " + std::to_string(batch_size) + " needs at least as many samples; the file has " +
                               std::to_string(x_.size(0)));
    const torch::Tensor rows =
        torch::randperm(x_.size(0), generator, torch::TensorOptions().dtype(torch::kLong)).narrow(0, 0, batch_size);
    rpcbench::Batch batch;
    batch.x = x_.index_select(0, rows);
    batch.y = y_.index_select(0, rows);
    return batch;
  }

  double true_mi(std::int64_t /*step*/) const override { return true_mi_; }

 private:
  // The network sees float32: a value beyond its range (or a column whose spread overflowed while
  // standardising) would train on inf or on zeros.
  static torch::Tensor finite_float32(const torch::Tensor& v, const rpcbench::Params& p, const std::string& key,
                                      const std::string& variable) {
    const torch::Tensor f = v.to(torch::kFloat32);
    const auto bad = (~torch::isfinite(f)).nonzero();
    if (bad.size(0) > 0)
      p.fail(key, "row " + std::to_string(bad[0][0].item<std::int64_t>() + 1) + ", column " + variable +
                      std::to_string(bad[0][1].item<std::int64_t>() + 1) + " is beyond float32's range" +
                      (p.get_bool("standardize") ? " after standardising (values too large to z-score in double)" : ""));
    return f;
  }

  static torch::Tensor standardized(const torch::Tensor& v, const rpcbench::Params& p, const std::string& key,
                                    const std::string& variable) {
    const torch::Tensor std = v.std(0, /*unbiased=*/true, /*keepdim=*/true);
    const auto constant = ((std == 0) | ~torch::isfinite(std)).nonzero();
    if (constant.size(0) > 0)
      p.fail(key, "column " + variable + std::to_string(constant[0][1].item<std::int64_t>() + 1) +
                      " is constant or its spread overflows: it cannot be standardised (remove it, or set standardize = false)");
    return (v - v.mean(0, true)) / std;
  }

  torch::Tensor x_, y_;
  double true_mi_;
  std::int64_t steps_;
};

}  // namespace

RPCBENCH_DATASET(SamplesFile, "samples_file", "1.0.0",
                 "paired samples from a CSV (X1..Xn,Y1..Ym) or an .npy pair, made by any tool", kParams)
