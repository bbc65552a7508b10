// Feature encoders: output shapes per depth and width, and refusals.
#include "test_support.hpp"
#include "util/errors.hpp"

namespace rpcbench {
namespace {

std::shared_ptr<Encoder> make(const std::string& name, std::map<std::string, ParamValue> params, InputSpec input) {
  const auto& registry = test::real_plugins();
  return registry.make_encoder(*registry.find(PluginKind::encoder, name), Params("encoder '" + name + "'", std::move(params)), input);
}

TEST(ImageEncoders, ConvNetOnGrayscale) {
  auto e = make("convnet", {{"width", std::int64_t{8}}, {"blocks", std::int64_t{3}}}, {{1, 28, 28}, {}, 10});
  EXPECT_EQ(e->output_dim(), 32);
  EXPECT_EQ(e->encode(torch::rand({5, 1, 28, 28})).sizes(), (std::vector<std::int64_t>{5, 32}));
}

TEST(ImageEncoders, ResNetDepthsAndWidths) {
  const InputSpec cifar{{3, 32, 32}, {}, 10};
  for (const auto& [depth, width, dim] : std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>>{
           {18, 1, 512}, {34, 1, 512}, {50, 1, 2048}, {18, 2, 1024}}) {
    SCOPED_TRACE(depth);
    auto e = make("resnet", {{"depth", depth}, {"width", width}}, cifar);
    EXPECT_EQ(e->output_dim(), dim);
    e->module().eval();
    torch::NoGradGuard no_grad;
    EXPECT_EQ(e->encode(torch::rand({2, 3, 32, 32})).sizes(), (std::vector<std::int64_t>{2, dim}));
  }
  // Parameter counts of the small-image ResNet-18 / -50 (11.17 M / 23.50 M without the fc layer).
  auto count = [](Encoder& e) {
    std::int64_t n = 0;
    for (const auto& p : e.module().parameters()) n += p.numel();
    return n;
  };
  EXPECT_EQ(count(*make("resnet", {{"depth", std::int64_t{18}}, {"width", std::int64_t{1}}}, cifar)), 11168832);
  EXPECT_EQ(count(*make("resnet", {{"depth", std::int64_t{50}}, {"width", std::int64_t{1}}}, cifar)), 23500352);
  EXPECT_THROW(make("resnet", {{"depth", std::int64_t{20}}, {"width", std::int64_t{1}}}, cifar), InputError);
  EXPECT_THROW(make("convnet", {{"width", std::int64_t{8}}, {"blocks", std::int64_t{3}}}, {{20}, {20}, 0}), InputError);
}

}  // namespace
}  // namespace rpcbench
