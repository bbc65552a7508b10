// The CPC audio encoder: one frame per 160 samples (checked against the convolution arithmetic),
// its parameter count, and a context that never looks ahead.
#include "test_support.hpp"
#include "util/errors.hpp"

namespace rpcbench {
namespace {

std::shared_ptr<Encoder> make_cpc(std::int64_t channels, std::int64_t context,
                                  const std::string& norm = "channel") {
  const auto& registry = test::real_plugins();
  return registry.make_encoder(*registry.find(PluginKind::encoder, "cpc_audio"),
                               Params("encoder 'cpc_audio'", {{"channels", channels},
                                                              {"context", context},
                                                              {"context_layers", std::int64_t{1}},
                                                              {"norm", norm}}),
                               InputSpec{{1, -1}, {}, 40});
}

// floor((L + 2p − k) / s) + 1 through kernels 10, 8, 4, 4, 4, strides 5, 4, 2, 2, 2, paddings 3, 2,
// 1, 1, 1.
std::int64_t conv_frames(std::int64_t samples) {
  const std::int64_t k[] = {10, 8, 4, 4, 4}, s[] = {5, 4, 2, 2, 2}, p[] = {3, 2, 1, 1, 1};
  for (int l = 0; l < 5; ++l) samples = (samples + 2 * p[l] - k[l]) / s[l] + 1;
  return samples;
}

TEST(CpcAudio, OneFramePerHundredSixtySamples) {
  auto e = make_cpc(16, 12);
  EXPECT_EQ(e->frame_stride(), 160);
  EXPECT_EQ(e->output_dim(), 16);
  EXPECT_EQ(e->context_dim(), 12);
  e->module().eval();
  torch::NoGradGuard no_grad;
  for (const std::int64_t t : {160, 1600, 16000, 20480, 1000, 5000}) {
    SCOPED_TRACE(t);
    const torch::Tensor z = e->encode_sequence(torch::randn({3, 1, t}));
    EXPECT_EQ(z.sizes(), (std::vector<std::int64_t>{3, conv_frames(t), 16}));
    if (t % 160 == 0) {
      EXPECT_EQ(z.size(1), t / 160);
    }
    EXPECT_EQ(e->context(z).sizes(), (std::vector<std::int64_t>{3, z.size(1), 12}));
  }
}

TEST(CpcAudio, ParameterCountOfThePaperSize) {
  auto e = make_cpc(256, 256);
  std::int64_t n = 0;
  for (const auto& p : e->module().parameters()) n += p.numel();
  const std::int64_t convs = (1 * 10 + 1) * 256 + (256 * 8 + 1) * 256 + 3 * (256 * 4 + 1) * 256;
  const std::int64_t norms = 5 * 2 * 256;
  const std::int64_t gru = 3 * (256 * 256 + 256 * 256 + 2 * 256);
  EXPECT_EQ(n, convs + norms + gru);
}

TEST(CpcAudio, ContextDependsOnThePastOnly) {
  auto e = make_cpc(8, 8);
  torch::NoGradGuard no_grad;
  const torch::Tensor z = torch::randn({2, 30, 8});
  torch::Tensor changed = z.clone();
  changed[0][10] += 1.0;
  const torch::Tensor c = e->context(z), d = e->context(changed);
  EXPECT_TRUE(torch::equal(c.narrow(1, 0, 10), d.narrow(1, 0, 10)));
  EXPECT_FALSE(torch::allclose(c[0][10], d[0][10]));
  EXPECT_TRUE(torch::equal(c[1], d[1]));
}

TEST(CpcAudio, RefusesImagesAndUnknownNorms) {
  const auto& registry = test::real_plugins();
  const auto* plugin = registry.find(PluginKind::encoder, "cpc_audio");
  const Params ok("encoder 'cpc_audio'", {{"channels", std::int64_t{8}},
                                          {"context", std::int64_t{8}},
                                          {"context_layers", std::int64_t{1}},
                                          {"norm", std::string("channel")}});
  EXPECT_THROW(registry.make_encoder(*plugin, ok, InputSpec{{1, 28, 28}, {}, 10}), InputError);
  EXPECT_THROW(make_cpc(8, 8, "layer"), InputError);
  EXPECT_NO_THROW(make_cpc(8, 8, "batch"));
}

}  // namespace
}  // namespace rpcbench
