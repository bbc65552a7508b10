// Correlated-Gaussian staircase (Poole et al. 2019; Song & Ermon 2020): x ~ N(0, I_d),
// y = ρ x + sqrt(1 − ρ²) ε with ρ set per level so that I(X; Y) = −(d/2) log(1 − ρ²) equals the
// level's target. The cubic variant returns y³, an invertible map that keeps the MI.
#include <rpcbench/plugin.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xtensor.hpp>

#include <cmath>
#include <string>

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"dim", ParamType::integer, "20", "dimension d of x and y"},
    {"mi_levels", ParamType::real_list, "[2.0, 4.0, 6.0, 8.0, 10.0]", "true MI (nats) per level"},
    {"steps_per_level", ParamType::integer, "4000", "training steps spent at each level"},
    {"transform", ParamType::text, "\"identity\"", "\"identity\" (Gaussian) or \"cubic\" (y ← y³)"},
};

class GaussianStaircase : public rpcbench::Dataset {
 public:
  explicit GaussianStaircase(const rpcbench::Params& p)
      : dim_(p.get_int_in("dim", 1, 1 << 20)),
        steps_per_level_(p.get_int_in("steps_per_level", 1)),
        cubic_(p.get_string("transform") == "cubic") {
    const std::string& transform = p.get_string("transform");
    if (transform != "identity" && transform != "cubic")
      p.fail("transform", "must be \"identity\" or \"cubic\", got \"" + transform + "\"");
    const std::vector<double>& levels = p.get_reals("mi_levels");
    if (levels.empty()) p.fail("mi_levels", "must list at least one level");
    for (std::size_t i = 0; i < levels.size(); ++i) {
      if (!(levels[i] >= 0.0 && std::isfinite(levels[i]))) p.fail("mi_levels", "must be finite and >= 0");
      // Each level's statistics are keyed by its MI: a repeated level would overwrite another's.
      for (std::size_t j = 0; j < i; ++j)
        if (levels[j] == levels[i])
          p.fail("mi_levels", "lists " + std::to_string(levels[i]) + " twice: each level must be distinct");
    }
    // Closed forms: ρ = sqrt(1 − exp(−2 I / d)); I = −(d/2) log(1 − ρ²) recomputed from ρ, so the
    // recorded truth is what the sampler actually draws from.
    const auto target = xt::adapt(levels, {levels.size()});
    const double d = static_cast<double>(dim_);
    rho_ = xt::sqrt(1.0 - xt::exp(-2.0 * target / d));
    true_mi_ = -(d / 2.0) * xt::log(1.0 - rho_ * rho_);
  }

  rpcbench::DatasetSpec spec() const override {
    rpcbench::DatasetSpec spec;
    spec.input.x_shape = {dim_};
    spec.input.y_shape = {dim_};
    spec.stream_steps = steps_per_level_ * static_cast<std::int64_t>(rho_.size());
    return spec;
  }

  rpcbench::Batch sample(std::int64_t step, std::int64_t batch_size,
                         at::Generator& generator) override {
    const double rho = rho_(level(step));
    const auto options = torch::TensorOptions().dtype(torch::kFloat32);
    torch::Tensor x = torch::randn({batch_size, dim_}, generator, options);
    torch::Tensor eps = torch::randn({batch_size, dim_}, generator, options);
    torch::Tensor y = rho * x + std::sqrt(1.0 - rho * rho) * eps;
    if (cubic_) y = y.pow(3);
    rpcbench::Batch batch;
    batch.x = x;
    batch.y = y;
    return batch;
  }

  double true_mi(std::int64_t step) const override { return true_mi_(level(step)); }

 private:
  std::size_t level(std::int64_t step) const {
    const auto l = static_cast<std::size_t>(std::max<std::int64_t>(step, 0) / steps_per_level_);
    return std::min(l, rho_.size() - 1);
  }

  std::int64_t dim_;
  std::int64_t steps_per_level_;
  bool cubic_;
  xt::xtensor<double, 1> rho_;
  xt::xtensor<double, 1> true_mi_;
};

}  // namespace

RPCBENCH_DATASET(GaussianStaircase, "gaussian_staircase", "1.0.0",
                 "correlated Gaussian / cubic staircase with known MI", kParams)
