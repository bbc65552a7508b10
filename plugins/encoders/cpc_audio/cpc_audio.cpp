// The CPC audio encoder (Oord et al. 2018; Rivière et al. 2020): five strided 1-D convolutions on
// the raw waveform — kernels 10, 8, 4, 4, 4, strides 5, 4, 2, 2, 2, paddings 3, 2, 1, 1, 1 — so
// one frame per 160 samples (10 ms at 16 kHz; exactly T / 160 frames when T is a multiple of 160),
// each followed by a normalisation and ReLU; then a GRU over the frames as the context network.
#include <rpcbench/plugin.hpp>

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"channels", ParamType::integer, "256", "channels of every convolution (the encoding z)"},
    {"context", ParamType::integer, "256", "GRU hidden size (the context c)"},
    {"context_layers", ParamType::integer, "1", "GRU layers"},
    {"norm", ParamType::text, "\"channel\"",
     "after each convolution: \"channel\" (per-frame normalisation over channels, CPC audio's "
     "default: no "
     "leak across the batch), \"batch\" or \"none\""},
};

constexpr std::int64_t kKernels[] = {10, 8, 4, 4, 4}, kStrides[] = {5, 4, 2, 2, 2},
                       kPaddings[] = {3, 2, 1, 1, 1};

// Normalises each frame over its channels, with a learned scale and shift per channel.
struct ChannelNormImpl : torch::nn::Module {
  explicit ChannelNormImpl(std::int64_t channels)
      : weight(register_parameter("weight", torch::ones({1, channels, 1}))),
        bias(register_parameter("bias", torch::zeros({1, channels, 1}))) {}
  torch::Tensor forward(const torch::Tensor& x) {  // [B, C, T]
    const torch::Tensor mean = x.mean(1, true);
    const torch::Tensor var = x.var(1, /*unbiased=*/false, true);
    return (x - mean) * torch::rsqrt(var + 1e-5) * weight + bias;
  }
  torch::Tensor weight, bias;
};
TORCH_MODULE(ChannelNorm);

struct CpcNetImpl : torch::nn::Module {
  CpcNetImpl(std::int64_t channels, std::int64_t context, std::int64_t layers,
             const std::string& norm) {
    std::int64_t in = 1;
    for (int l = 0; l < 5; ++l) {
      convs->push_back(torch::nn::Conv1d(torch::nn::Conv1dOptions(in, channels, kKernels[l])
                                             .stride(kStrides[l])
                                             .padding(kPaddings[l])));
      if (norm == "channel")
        convs->push_back(ChannelNorm(channels));
      else if (norm == "batch")
        convs->push_back(torch::nn::BatchNorm1d(channels));
      convs->push_back(torch::nn::ReLU());
      in = channels;
    }
    register_module("convs", convs);
    gru = register_module(
        "gru", torch::nn::GRU(
                   torch::nn::GRUOptions(channels, context).num_layers(layers).batch_first(true)));
  }
  torch::nn::Sequential convs;
  torch::nn::GRU gru{nullptr};
};
TORCH_MODULE(CpcNet);

class CpcAudio : public rpcbench::Encoder {
 public:
  CpcAudio(const rpcbench::Params& p, const rpcbench::InputSpec& input)
      : channels_(p.get_int_in("channels", 1, 8192)), context_(p.get_int_in("context", 1, 8192)) {
    if (input.x_shape.size() != 2 || input.x_shape[0] != 1)
      throw rpcbench::ParamError(p.owner() + ": needs mono waveforms [1, T]; the dataset gives " +
                                 std::to_string(input.x_shape.size()) + "-d samples");
    const std::string& norm = p.get_string("norm");
    if (norm != "channel" && norm != "batch" && norm != "none")
      p.fail("norm", "must be channel, batch or none, got \"" + norm + "\"");
    net_ = CpcNet(channels_, context_, p.get_int_in("context_layers", 1, 16), norm);
  }

  torch::nn::Module& module() override { return *net_; }
  std::int64_t output_dim() const override { return channels_; }
  std::int64_t context_dim() const override { return context_; }
  std::int64_t frame_stride() const override { return 160; }
  torch::Tensor encode_sequence(const torch::Tensor& x) override {
    return net_->convs->forward(x).transpose(1, 2);
  }
  torch::Tensor context(const torch::Tensor& z) override {
    return std::get<0>(net_->gru->forward(z));
  }

 private:
  std::int64_t channels_, context_;
  CpcNet net_{nullptr};
};

}  // namespace

RPCBENCH_ENCODER(CpcAudio, "cpc_audio", "1.0.0",
                 "CPC audio: strided conv stack on raw 16 kHz audio (×160) and a GRU context",
                 kParams, rpcbench::kEncodesSequences)
