// MLP building blocks shared by the critic plugins in this folder (not part of the SDK).
#pragma once

#include <rpcbench/plugin.hpp>

#include <numeric>
#include <string>

namespace rpcbench::encoders {

inline torch::nn::AnyModule make_activation(const Params& params, const std::string& key) {
  const std::string& name = params.get_string(key);
  if (name == "relu") return torch::nn::AnyModule(torch::nn::ReLU());
  if (name == "elu") return torch::nn::AnyModule(torch::nn::ELU());
  if (name == "tanh") return torch::nn::AnyModule(torch::nn::Tanh());
  if (name == "gelu") return torch::nn::AnyModule(torch::nn::GELU());
  if (name == "silu") return torch::nn::AnyModule(torch::nn::SiLU());
  if (name == "leaky_relu") return torch::nn::AnyModule(torch::nn::LeakyReLU());
  params.fail(key, "must be one of relu, elu, tanh, gelu, silu, leaky_relu; got \"" + name + "\"");
}

// in → [hidden, activation] × layers → out (no activation after the last layer).
inline torch::nn::Sequential make_mlp(const Params& params, std::int64_t in, std::int64_t hidden,
                                      std::int64_t layers, std::int64_t out) {
  torch::nn::Sequential mlp;
  std::int64_t width = in;
  for (std::int64_t l = 0; l < layers; ++l) {
    mlp->push_back(torch::nn::Linear(width, hidden));
    mlp->push_back(make_activation(params, "activation"));
    width = hidden;
  }
  mlp->push_back(torch::nn::Linear(width, out));
  return mlp;
}

// An ensemble's pass through M copies of `mlp` (make_mlp's layout): `params` walks the members'
// parameters stacked along dim 0, in the order of mlp->parameters() (each Linear's weight
// [M, out, in], then its bias [M, out]); z [M, N, in] -> [M, N, out], one baddbmm per Linear.
// Activations are the module's own: element-wise, so any leading shape.
// `compute`: the dtype of every Linear but the last (weights cast on the fly, so the parameters
// and their gradients stay float32); the last Linear, usually the narrow read-out, runs on z cast
// back to float32 so that the scores are not rounded to `compute`'s precision.
inline torch::Tensor stacked_mlp_forward(torch::nn::Sequential& mlp,
                                         std::vector<torch::Tensor>::const_iterator& params, torch::Tensor z,
                                         torch::Dtype compute = torch::kFloat32) {
  const std::size_t last = mlp->size() - 1;
  std::size_t i = 0;
  for (auto& layer : *mlp) {
    if (auto* linear = layer.ptr()->as<torch::nn::Linear>()) {
      const torch::Dtype layer_dtype = i == last ? torch::kFloat32 : compute;
      z = z.to(layer_dtype);
      const torch::Tensor weight = (*params++).to(layer_dtype);
      if (linear->options.bias()) {
        const torch::Tensor bias = (*params++).to(layer_dtype);
        z = torch::baddbmm(bias.unsqueeze(1), z, weight.transpose(1, 2));
      } else {
        z = torch::bmm(z, weight.transpose(1, 2));
      }
    } else {
      z = layer.forward(z);
    }
    ++i;
  }
  return z;
}

// One module's pass through make_mlp's layout with the same `compute` rule as above.
inline torch::Tensor mlp_forward(torch::nn::Sequential& mlp, torch::Tensor z, torch::Dtype compute) {
  if (compute == torch::kFloat32) return mlp->forward(z);
  const std::size_t last = mlp->size() - 1;
  std::size_t i = 0;
  for (auto& layer : *mlp) {
    if (auto* linear = layer.ptr()->as<torch::nn::Linear>()) {
      const torch::Dtype layer_dtype = i == last ? torch::kFloat32 : compute;
      z = z.to(layer_dtype);
      const torch::Tensor bias = linear->options.bias() ? linear->bias.to(layer_dtype) : torch::Tensor();
      z = torch::linear(z, linear->weight.to(layer_dtype), bias);
    } else {
      z = layer.forward(z);
    }
    ++i;
  }
  return z;
}

// The `precision` parameter of the critics: float32 (bit-for-bit reproducible, the default) or
// bfloat16 matmuls (about twice the speed on CPUs with AVX-512 BF16 or AMX, and on GPUs).
inline torch::Dtype compute_dtype(const Params& params, const std::string& key) {
  const std::string& name = params.get_string(key);
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  params.fail(key, "must be float32 or bfloat16; got \"" + name + "\"");
}

inline std::int64_t flat_size(const std::vector<std::int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), std::int64_t{1}, std::multiplies<>());
}

// Paired vectors are what every critic here needs; a dataset without y is an input error.
inline void require_pairs(const Params& params, const InputSpec& input) {
  if (input.x_shape.empty() || input.y_shape.empty())
    throw ParamError(params.owner() +
                     ": a critic needs a dataset that yields (x, y) pairs; this one yields no y");
}

}  // namespace rpcbench::encoders
