// Concat (joint) critic f(x, y) = MLP([x, y]) on all N² pairs. The first layer is split as
// W[x; y] = W_x x + W_y y, so the N² pre-activations are one broadcast sum of two N×H products
// instead of an N²×(d_x + d_y) concatenation.
#include "../common/mlp.hpp"

#include <cmath>

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"hidden", ParamType::integer, "512", "width of each hidden layer"},
    {"layers", ParamType::integer, "2", "hidden layers (≥ 1)"},
    {"activation", ParamType::text, "\"relu\"", "relu, elu, tanh, gelu, silu or leaky_relu"},
    {"precision", ParamType::text, "\"float32\"",
     "float32, or bfloat16 for the N²-row layers (the read-out layer stays float32)"},
};

struct ConcatModule : torch::nn::Module {
  ConcatModule(std::int64_t dx, std::int64_t dy, std::int64_t hidden, torch::nn::AnyModule act,
               torch::nn::Sequential rest)
      : first_x(register_module("first_x", torch::nn::Linear(dx, hidden))),
        first_y(register_module("first_y", torch::nn::Linear(
                                               torch::nn::LinearOptions(dy, hidden).bias(false)))),
        activation(std::move(act)),
        tail(register_module("tail", rest)) {
    register_module("activation", activation.ptr());
    // The two halves stand for one Linear(dx + dy, hidden): initialise them as PyTorch initialises
    // that layer, U(±1/√(dx + dy)) for weights and bias, not with each half's own fan-in (√2 too
    // wide for dx = dy).
    torch::NoGradGuard no_grad;
    const double bound = 1.0 / std::sqrt(static_cast<double>(dx + dy));
    for (torch::Tensor* t : {&first_x->weight, &first_y->weight, &first_x->bias}) t->uniform_(-bound, bound);
  }
  torch::nn::Linear first_x, first_y;
  torch::nn::AnyModule activation;
  torch::nn::Sequential tail;
};

class Concat : public rpcbench::Encoder {
 public:
  Concat(const rpcbench::Params& p, const rpcbench::InputSpec& input) {
    rpcbench::encoders::require_pairs(p, input);
    const auto hidden = p.get_int_in("hidden", 1);
    const auto layers = p.get_int_in("layers", 1, 64);
    compute_ = rpcbench::encoders::compute_dtype(p, "precision");
    using rpcbench::encoders::flat_size;
    // The first hidden layer is split out above; the tail holds the remaining layers.
    module_ = std::make_shared<ConcatModule>(
        flat_size(input.x_shape), flat_size(input.y_shape), hidden,
        rpcbench::encoders::make_activation(p, "activation"),
        rpcbench::encoders::make_mlp(p, hidden, hidden, layers - 1, 1));
  }

  torch::nn::Module& module() override { return *module_; }
  std::int64_t output_dim() const override { return 1; }

  torch::Tensor score_matrix(const torch::Tensor& x, const torch::Tensor& y) override {
    const std::int64_t n = x.size(0);
    const torch::Tensor ax = module_->first_x->forward(x.flatten(1));  // [N, H] over j
    const torch::Tensor by = module_->first_y->forward(y.flatten(1));  // [N, H] over i
    const torch::Tensor pre = by.to(compute_).unsqueeze(1) + ax.to(compute_).unsqueeze(0);  // [i, j, H]
    const torch::Tensor hidden = module_->activation.forward(pre.reshape({n * n, -1}));
    // S[i, j] = f(x_j, y_i)
    return rpcbench::encoders::mlp_forward(module_->tail, hidden, compute_).reshape({n, n});
  }

  torch::Tensor stacked_score_matrices(const std::vector<torch::Tensor>& params, const torch::Tensor& x,
                                       const torch::Tensor& y) override {
    // module().parameters() order: first_x weight, bias; first_y weight; the tail's.
    const std::int64_t members = x.size(0), n = x.size(1);
    const torch::Tensor ax = torch::baddbmm(params[1].unsqueeze(1), x.flatten(2), params[0].transpose(1, 2));
    const torch::Tensor by = torch::bmm(y.flatten(2), params[2].transpose(1, 2));
    const torch::Tensor pre = by.to(compute_).unsqueeze(2) + ax.to(compute_).unsqueeze(1);  // [m, i, j, H]
    const torch::Tensor hidden = module_->activation.forward(pre.reshape({members, n * n, -1}));
    auto next = params.cbegin() + 3;
    return rpcbench::encoders::stacked_mlp_forward(module_->tail, next, hidden, compute_)
        .reshape({members, n, n});
  }

 private:
  std::shared_ptr<ConcatModule> module_;
  torch::Dtype compute_ = torch::kFloat32;
};

}  // namespace

RPCBENCH_ENCODER(Concat, "concat", "1.0.0", "joint critic MLP([x, y]) on all N^2 pairs", kParams,
                 rpcbench::kScoresPairs | rpcbench::kScoresPairsStacked)
