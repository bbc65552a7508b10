// A small convnet for 28–32 px images: `blocks` × (3×3 conv, BN, ReLU, 2×2 max-pool), channels
// doubling from `width`, then global average pooling. Fast enough to pretrain on a 2-core CPU.
#include <rpcbench/plugin.hpp>

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"width", ParamType::integer, "32", "channels of the first block (doubling per block)"},
    {"blocks", ParamType::integer, "3", "conv blocks, each halving the resolution"},
};

class ConvNet : public rpcbench::Encoder {
 public:
  ConvNet(const rpcbench::Params& p, const rpcbench::InputSpec& input) {
    if (input.x_shape.size() != 3)
      throw rpcbench::ParamError(p.owner() + ": needs images [C, H, W]; the dataset gives " +
                                 std::to_string(input.x_shape.size()) + "-d samples");
    const auto width = p.get_int_in("width", 1, 4096);
    const auto blocks = p.get_int_in("blocks", 1, 8);
    std::int64_t channels = input.x_shape[0], size = std::min(input.x_shape[1], input.x_shape[2]);
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t out = width << b;
      net_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, out, 3).padding(1).bias(false)));
      net_->push_back(torch::nn::BatchNorm2d(out));
      net_->push_back(torch::nn::ReLU());
      if (size >= 2) {
        net_->push_back(torch::nn::MaxPool2d(2));
        size /= 2;
      }
      channels = out;
    }
    net_->push_back(torch::nn::AdaptiveAvgPool2d(1));
    net_->push_back(torch::nn::Flatten());
    output_dim_ = channels;
  }

  torch::nn::Module& module() override { return *net_; }
  std::int64_t output_dim() const override { return output_dim_; }
  torch::Tensor encode(const torch::Tensor& x) override { return net_->forward(x); }

 private:
  torch::nn::Sequential net_;
  std::int64_t output_dim_ = 0;
};

}  // namespace

RPCBENCH_ENCODER(ConvNet, "convnet", "1.0.0", "small convnet (conv-BN-ReLU-pool blocks)", kParams,
                 rpcbench::kEncodes)
