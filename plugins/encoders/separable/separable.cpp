// Separable critic f(x, y) = g(x)·h(y): two MLPs and a dot product, N² scores from one matmul.
#include "../common/mlp.hpp"

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"hidden", ParamType::integer, "256", "width of each hidden layer"},
    {"layers", ParamType::integer, "2", "hidden layers per MLP"},
    {"embed", ParamType::integer, "32", "embedding width of g(x) and h(y)"},
    {"activation", ParamType::text, "\"relu\"", "relu, elu, tanh, gelu, silu or leaky_relu"},
};

struct SeparableModule : torch::nn::Module {
  SeparableModule(torch::nn::Sequential gx, torch::nn::Sequential hy)
      : g(register_module("g", gx)), h(register_module("h", hy)) {}
  torch::nn::Sequential g, h;
};

class Separable : public rpcbench::Encoder {
 public:
  Separable(const rpcbench::Params& p, const rpcbench::InputSpec& input) {
    rpcbench::encoders::require_pairs(p, input);
    const auto hidden = p.get_int_in("hidden", 1);
    const auto layers = p.get_int_in("layers", 0, 64);
    const auto embed = p.get_int_in("embed", 1);
    using rpcbench::encoders::flat_size;
    using rpcbench::encoders::make_mlp;
    module_ = std::make_shared<SeparableModule>(
        make_mlp(p, flat_size(input.x_shape), hidden, layers, embed),
        make_mlp(p, flat_size(input.y_shape), hidden, layers, embed));
  }

  torch::nn::Module& module() override { return *module_; }
  std::int64_t output_dim() const override { return 1; }

  torch::Tensor score_matrix(const torch::Tensor& x, const torch::Tensor& y) override {
    const torch::Tensor gx = module_->g->forward(x.flatten(1));
    const torch::Tensor hy = module_->h->forward(y.flatten(1));
    return torch::matmul(hy, gx.t());  // S[i, j] = h(y_i)·g(x_j)
  }

  torch::Tensor stacked_score_matrices(const std::vector<torch::Tensor>& params, const torch::Tensor& x,
                                       const torch::Tensor& y) override {
    auto next = params.cbegin();  // g's parameters, then h's (module().parameters() order)
    const torch::Tensor gx = rpcbench::encoders::stacked_mlp_forward(module_->g, next, x.flatten(2));
    const torch::Tensor hy = rpcbench::encoders::stacked_mlp_forward(module_->h, next, y.flatten(2));
    return torch::bmm(hy, gx.transpose(1, 2));  // S[m, i, j] = h_m(y_mi)·g_m(x_mj)
  }

 private:
  std::shared_ptr<SeparableModule> module_;
};

}  // namespace

RPCBENCH_ENCODER(Separable, "separable", "1.0.0", "separable critic g(x)·h(y) (two MLPs)", kParams,
                 rpcbench::kScoresPairs | rpcbench::kScoresPairsStacked)
