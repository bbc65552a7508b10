// ResNet-18/34 (basic blocks) and ResNet-50 (bottlenecks) with the small-image stem used for
// 28–32 px inputs in SimCLR's CIFAR experiments: one 3×3 stride-1 conv, no max-pool. A width
// multiplier scales every stage (64·w, 128·w, 256·w, 512·w channels).
#include <rpcbench/plugin.hpp>

namespace {

using rpcbench::ParamType;
namespace nn = torch::nn;

constexpr rpcbench::ParamSpec kParams[] = {
    {"depth", ParamType::integer, "18", "18, 34 or 50"},
    {"width", ParamType::integer, "1", "width multiplier"},
};

nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}

struct BlockImpl : nn::Module {
  BlockImpl(std::int64_t in, std::int64_t planes, std::int64_t stride, bool bottleneck)
      : expansion(bottleneck ? 4 : 1) {
    const std::int64_t out = planes * expansion;
    if (bottleneck) {
      body->push_back(conv(in, planes, 1, 1));
      body->push_back(nn::BatchNorm2d(planes));
      body->push_back(nn::ReLU());
      body->push_back(conv(planes, planes, 3, stride));
      body->push_back(nn::BatchNorm2d(planes));
      body->push_back(nn::ReLU());
      body->push_back(conv(planes, out, 1, 1));
      body->push_back(nn::BatchNorm2d(out));
    } else {
      body->push_back(conv(in, planes, 3, stride));
      body->push_back(nn::BatchNorm2d(planes));
      body->push_back(nn::ReLU());
      body->push_back(conv(planes, planes, 3, 1));
      body->push_back(nn::BatchNorm2d(planes));
    }
    register_module("body", body);
    if (stride != 1 || in != out) {
      shortcut->push_back(conv(in, out, 1, stride));
      shortcut->push_back(nn::BatchNorm2d(out));
    }
    register_module("shortcut", shortcut);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::relu(body->forward(x) + (shortcut->is_empty() ? x : shortcut->forward(x)));
  }
  std::int64_t expansion;
  nn::Sequential body, shortcut;
};
TORCH_MODULE(Block);

struct ResNetImpl : nn::Module {
  ResNetImpl(std::int64_t in_channels, std::int64_t depth, std::int64_t width) {
    const bool bottleneck = depth == 50;
    const std::vector<std::int64_t> counts = depth == 18 ? std::vector<std::int64_t>{2, 2, 2, 2}
                                                         : std::vector<std::int64_t>{3, 4, 6, 3};
    std::int64_t channels = 64 * width;
    stem->push_back(conv(in_channels, channels, 3, 1));
    stem->push_back(nn::BatchNorm2d(channels));
    stem->push_back(nn::ReLU());
    register_module("stem", stem);
    for (std::size_t stage = 0; stage < 4; ++stage) {
      const std::int64_t planes = (64 << stage) * width;
      for (std::int64_t i = 0; i < counts[stage]; ++i) {
        Block block(channels, planes, i == 0 && stage > 0 ? 2 : 1, bottleneck);
        channels = planes * block->expansion;
        blocks->push_back(block);
      }
    }
    register_module("blocks", blocks);
    output_dim = channels;
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::adaptive_avg_pool2d(blocks->forward(stem->forward(x)), {1, 1}).flatten(1);
  }
  nn::Sequential stem, blocks;
  std::int64_t output_dim = 0;
};
TORCH_MODULE(ResNet);

class ResNetEncoder : public rpcbench::Encoder {
 public:
  ResNetEncoder(const rpcbench::Params& p, const rpcbench::InputSpec& input) {
    const auto depth = p.get_int("depth");
    if (depth != 18 && depth != 34 && depth != 50) p.fail("depth", "must be 18, 34 or 50, got " + std::to_string(depth));
    if (input.x_shape.size() != 3)
      throw rpcbench::ParamError(p.owner() + ": needs images [C, H, W]");
    net_ = ResNet(input.x_shape[0], depth, p.get_int_in("width", 1, 16));
  }
  torch::nn::Module& module() override { return *net_; }
  std::int64_t output_dim() const override { return net_->output_dim; }
  torch::Tensor encode(const torch::Tensor& x) override { return net_->forward(x); }

 private:
  ResNet net_{nullptr};
};

}  // namespace

RPCBENCH_ENCODER(ResNetEncoder, "resnet", "1.0.0", "ResNet-18/34/50, small-image stem, width multiplier",
                 kParams, rpcbench::kEncodes)
