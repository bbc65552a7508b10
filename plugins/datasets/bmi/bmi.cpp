// Stationary samplers with known MI in the style of the bmi benchmark (Czyż et al., NeurIPS
// 2023): multivariate normal (dense or sparse interaction), multivariate Student-t, additive
// uniform noise, each optionally pushed through an MI-preserving transform applied to X and to Y
// separately (a diffeomorphism of each variable leaves I(X; Y) unchanged).
#include <rpcbench/plugin.hpp>

#include <boost/math/special_functions/digamma.hpp>

#include <cmath>
#include <string>

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"family", ParamType::text, nullptr,
     "\"multinormal-dense\", \"multinormal-sparse\", \"student-t\" or \"additive-uniform\""},
    {"dim_x", ParamType::integer, "2", "dimension of X"},
    {"dim_y", ParamType::integer, "2", "dimension of Y"},
    {"correlation", ParamType::real, "0.5",
     "dense: every off-diagonal correlation; sparse and student-t: corr(X_i, Y_i) of each interacting pair"},
    {"interacting", ParamType::integer, "1", "sparse and student-t: number of interacting pairs (X_i, Y_i)"},
    {"dof", ParamType::real, "3.0", "student-t: degrees of freedom ν"},
    {"noise", ParamType::real, "0.1", "additive-uniform: Y = X + N, X ~ U(0, 1), N ~ U(−noise, noise), per coordinate"},
    {"transform", ParamType::text, "\"identity\"",
     "applied to X and to Y: \"identity\", \"half-cube\", \"asinh\", \"normal-cdf\", \"wiggly\" or \"spiral\""},
    {"spiral_speed", ParamType::real, "0.3333333333333333", "spiral: rotation angle per unit of |v|² (radians; bmi's 1/3)"},
    {"steps", ParamType::integer, "4000", "training steps (a fresh batch each)"},
};

enum class Family { dense, sparse, student, uniform };
enum class Transform { identity, half_cube, asinh, normal_cdf, wiggly, spiral };

Family family_of(const rpcbench::Params& p) {
  const std::string& f = p.get_string("family");
  if (f == "multinormal-dense") return Family::dense;
  if (f == "multinormal-sparse") return Family::sparse;
  if (f == "student-t") return Family::student;
  if (f == "additive-uniform") return Family::uniform;
  p.fail("family", "must be \"multinormal-dense\", \"multinormal-sparse\", \"student-t\" or \"additive-uniform\", got \"" +
                       f + "\"");
}

Transform transform_of(const rpcbench::Params& p) {
  const std::string& t = p.get_string("transform");
  if (t == "identity") return Transform::identity;
  if (t == "half-cube") return Transform::half_cube;
  if (t == "asinh") return Transform::asinh;
  if (t == "normal-cdf") return Transform::normal_cdf;
  if (t == "wiggly") return Transform::wiggly;
  if (t == "spiral") return Transform::spiral;
  p.fail("transform",
         "must be \"identity\", \"half-cube\", \"asinh\", \"normal-cdf\", \"wiggly\" or \"spiral\", got \"" + t + "\"");
}

// log det of the n×n equicorrelation matrix (1 − c) I + c 11ᵀ.
double equicorrelation_log_det(std::int64_t n, double c) {
  return static_cast<double>(n - 1) * std::log1p(-c) + std::log1p(static_cast<double>(n - 1) * c);
}

// The Student-t correction to the Gaussian MI of the dispersion matrix (Arellano-Valle et al.
// 2013; bmi): g(ν) + g(ν + dx + dy) − g(ν + dx) − g(ν + dy), g(z) = log Γ(z/2) − (z/2) ψ(z/2).
double student_correction(double nu, std::int64_t dx, std::int64_t dy) {
  auto g = [](double z) { return std::lgamma(z / 2.0) - (z / 2.0) * boost::math::digamma(z / 2.0); };
  const auto x = static_cast<double>(dx), y = static_cast<double>(dy);
  return g(nu) + g(nu + x + y) - g(nu + x) - g(nu + y);
}

class BmiTask : public rpcbench::Dataset {
 public:
  explicit BmiTask(const rpcbench::Params& p)
      : family_(family_of(p)),
        transform_(transform_of(p)),
        dim_x_(p.get_int_in("dim_x", 1, 1 << 16)),
        dim_y_(p.get_int_in("dim_y", 1, 1 << 16)),
        steps_(p.get_int_in("steps", 1)),
        spiral_speed_(p.get_double_in("spiral_speed", -100.0, 100.0)) {
    if (transform_ == Transform::spiral && (dim_x_ < 2 || dim_y_ < 2))
      p.fail("transform", "\"spiral\" rotates a plane: needs dim_x and dim_y >= 2");
    switch (family_) {
      case Family::dense: {
        // Positive definite for c in (−1/(D − 1), 1); sampled through one shared factor, so c >= 0.
        correlation_ = p.get_double_in("correlation", 0.0, 0.999999);
        const std::int64_t d = dim_x_ + dim_y_;
        true_mi_ = 0.5 * (equicorrelation_log_det(dim_x_, correlation_) + equicorrelation_log_det(dim_y_, correlation_) -
                          equicorrelation_log_det(d, correlation_));
        break;
      }
      case Family::sparse:
      case Family::student: {
        correlation_ = p.get_double_in("correlation", -0.999999, 0.999999);
        interacting_ = p.get_int_in("interacting", 0, std::min(dim_x_, dim_y_));
        true_mi_ = -0.5 * static_cast<double>(interacting_) * std::log1p(-correlation_ * correlation_);
        if (family_ == Family::student) {
          // Below ν ≈ 0.5 the χ² scale overflows float32 for a good share of draws (bmi's smallest ν is 1).
          dof_ = p.get_double_in("dof", 0.5, 1e6);
          // Heavy tails defeat two float32 maps: Φ saturates at 1 beyond v ≈ 5.4, and the spiral's
          // angle (|v|² radians) cannot be undone at Cauchy-sized radii. The stated MI would be false.
          if (transform_ == Transform::normal_cdf || transform_ == Transform::spiral)
            p.fail("transform", "\"" + p.get_string("transform") +
                                    "\" loses information on heavy-tailed student-t draws in float32; use identity, "
                                    "half-cube, asinh or wiggly");
          true_mi_ += student_correction(dof_, dim_x_, dim_y_);
        }
        break;
      }
      case Family::uniform: {
        if (dim_x_ != dim_y_) p.fail("dim_y", "must equal dim_x for additive-uniform (Y = X + N per coordinate)");
        noise_ = p.get_double_in("noise", 1e-9, 1e9);
        // Y = X + N, X ~ U(0, 1), N ~ U(−ε, ε) as in bmi: h(Y) − h(N) per coordinate, with the
        // noise width w = 2ε: w/2 − log w for w ≤ 1, 1/(2w) above.
        const double per_coordinate = noise_ <= 0.5 ? noise_ - std::log(2.0 * noise_) : 1.0 / (4.0 * noise_);
        true_mi_ = static_cast<double>(dim_x_) * per_coordinate;
        break;
      }
    }
  }

  rpcbench::DatasetSpec spec() const override {
    rpcbench::DatasetSpec spec;
    spec.input.x_shape = {dim_x_};
    spec.input.y_shape = {dim_y_};
    spec.stream_steps = steps_;
    return spec;
  }

  rpcbench::Batch sample(std::int64_t /*step*/, std::int64_t batch_size, at::Generator& generator) override {
    const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
    torch::Tensor x, y;
    switch (family_) {
      case Family::dense: {
        // Z = sqrt(c) g + sqrt(1 − c) e: unit variances, every pairwise correlation c.
        const torch::Tensor shared = torch::randn({batch_size, 1}, generator, f64);
        const torch::Tensor own = torch::randn({batch_size, dim_x_ + dim_y_}, generator, f64);
        const torch::Tensor z = std::sqrt(correlation_) * shared + std::sqrt(1.0 - correlation_) * own;
        x = z.narrow(1, 0, dim_x_);
        y = z.narrow(1, dim_x_, dim_y_);
        break;
      }
      case Family::sparse:
      case Family::student: {
        x = torch::randn({batch_size, dim_x_}, generator, f64);
        y = torch::randn({batch_size, dim_y_}, generator, f64);
        if (interacting_ > 0) {
          const double c = correlation_;
          y.narrow(1, 0, interacting_).mul_(std::sqrt(1.0 - c * c)).add_(c * x.narrow(1, 0, interacting_));
        }
        if (family_ == Family::student) {
          // One χ²_ν draw per sample scales X and Y together: (X, Y) = Z / sqrt(χ²_ν / ν).
          const torch::Tensor half_nu = torch::full({batch_size, 1}, dof_ / 2.0, f64);
          const torch::Tensor chi2 = 2.0 * at::_standard_gamma(half_nu, generator);
          const torch::Tensor scale = torch::rsqrt(chi2 / dof_);
          x = x * scale;
          y = y * scale;
        }
        break;
      }
      case Family::uniform: {
        x = torch::rand({batch_size, dim_x_}, generator, f64);
        y = x + noise_ * (2.0 * torch::rand({batch_size, dim_y_}, generator, f64) - 1.0);
        break;
      }
    }
    rpcbench::Batch batch;
    batch.x = apply(x).to(torch::kFloat32);
    batch.y = apply(y).to(torch::kFloat32);
    return batch;
  }

  double true_mi(std::int64_t /*step*/) const override { return true_mi_; }

 private:
  // Each map is a diffeomorphism of its variable: the MI of the pair is that of the base draw.
  torch::Tensor apply(const torch::Tensor& v) const {
    switch (transform_) {
      case Transform::identity: return v;
      case Transform::half_cube: return v * v.abs().sqrt();  // sign(v)|v|^{3/2}
      case Transform::asinh: return torch::asinh(v);
      case Transform::normal_cdf: return 0.5 * torch::erfc(-v / std::sqrt(2.0));
      // Strictly increasing: the derivative is at least 1 − 0.4 − 0.4 = 0.2.
      case Transform::wiggly: return v + 0.4 * torch::sin(v) + 0.2 * torch::sin(2.0 * v + 1.0);
      case Transform::spiral: {
        // Rotate the plane of the first two coordinates by θ = speed·|v|²; |v| is unchanged, so
        // θ (and the map) can be undone from the output.
        const torch::Tensor theta = spiral_speed_ * v.square().sum(1);
        const torch::Tensor c = torch::cos(theta), s = torch::sin(theta);
        const torch::Tensor a = v.select(1, 0), b = v.select(1, 1);
        torch::Tensor out = v.clone();
        out.select(1, 0).copy_(c * a - s * b);
        out.select(1, 1).copy_(s * a + c * b);
        return out;
      }
    }
    return v;
  }

  Family family_;
  Transform transform_;
  std::int64_t dim_x_, dim_y_, steps_;
  double spiral_speed_;
  double correlation_ = 0.0;
  std::int64_t interacting_ = 0;
  double dof_ = 0.0;
  double noise_ = 0.0;
  double true_mi_ = 0.0;
};

}  // namespace

RPCBENCH_DATASET(BmiTask, "bmi", "1.0.0",
                 "bmi-style samplers with known MI: multivariate normal, Student-t, additive uniform, MI-preserving transforms",
                 kParams)
