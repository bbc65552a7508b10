// Bilinear critic f(x, y) = yᵀ W x, optionally on MLP embeddings of x and y.
#include "../common/mlp.hpp"

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"layers", ParamType::integer, "0", "hidden layers of the embeddings (0: raw x and y)"},
    {"hidden", ParamType::integer, "256", "width of each hidden layer when layers > 0"},
    {"embed", ParamType::integer, "32", "embedding width when layers > 0"},
    {"activation", ParamType::text, "\"relu\"", "relu, elu, tanh, gelu, silu or leaky_relu"},
};

struct BilinearModule : torch::nn::Module {
  BilinearModule(torch::nn::Sequential gx, torch::nn::Sequential hy, std::int64_t dx,
                 std::int64_t dy)
      : g(register_module("g", gx)), h(register_module("h", hy)) {
    // Small init: the initial critic stays near 0, where every bound is well behaved.
    w = register_parameter("w", torch::randn({dy, dx}) / std::sqrt(static_cast<double>(dx * dy)));
  }
  torch::nn::Sequential g, h;
  torch::Tensor w;
};

class Bilinear : public rpcbench::Encoder {
 public:
  Bilinear(const rpcbench::Params& p, const rpcbench::InputSpec& input) {
    rpcbench::encoders::require_pairs(p, input);
    const auto layers = p.get_int_in("layers", 0, 64);
    using rpcbench::encoders::flat_size;
    std::int64_t dx = flat_size(input.x_shape), dy = flat_size(input.y_shape);
    torch::nn::Sequential gx, hy;
    if (layers > 0) {
      const auto hidden = p.get_int_in("hidden", 1), embed = p.get_int_in("embed", 1);
      gx = rpcbench::encoders::make_mlp(p, dx, hidden, layers, embed);
      hy = rpcbench::encoders::make_mlp(p, dy, hidden, layers, embed);
      dx = dy = embed;
    } else {
      gx->push_back(torch::nn::Identity());
      hy->push_back(torch::nn::Identity());
    }
    module_ = std::make_shared<BilinearModule>(gx, hy, dx, dy);
  }

  torch::nn::Module& module() override { return *module_; }
  std::int64_t output_dim() const override { return 1; }

  torch::Tensor score_matrix(const torch::Tensor& x, const torch::Tensor& y) override {
    const torch::Tensor gx = module_->g->forward(x.flatten(1));
    const torch::Tensor hy = module_->h->forward(y.flatten(1));
    return torch::matmul(torch::matmul(hy, module_->w), gx.t());  // S[i, j] = h(y_i)ᵀ W g(x_j)
  }

 private:
  std::shared_ptr<BilinearModule> module_;
};

}  // namespace

RPCBENCH_ENCODER(Bilinear, "bilinear", "1.0.0", "bilinear critic h(y)^T W g(x)", kParams,
                 rpcbench::kScoresPairs)
