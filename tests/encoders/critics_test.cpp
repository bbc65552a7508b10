// Critic encoders: shapes, and the concat critic's N² evaluation against a naive one.
#include "optim/stacked_adam.hpp"
#include "test_support.hpp"
#include "util/errors.hpp"

#include <cmath>

namespace rpcbench {
namespace {

using test::real_plugins;

std::shared_ptr<Encoder> make(const std::string& name, std::map<std::string, ParamValue> values,
                              InputSpec input = {{20}, {20}, 0}) {
  const PluginDescriptor* d = real_plugins().find(PluginKind::encoder, name);
  if (d == nullptr) throw std::runtime_error("plugin not built: " + name);
  return real_plugins().make_encoder(*d, test::declared_params(*d, std::move(values)), input);
}

const std::map<std::string, ParamValue> kSmall = {{"hidden", std::int64_t{16}},
                                                  {"layers", std::int64_t{2}},
                                                  {"embed", std::int64_t{8}},
                                                  {"activation", std::string("relu")}};

TEST(Critics, EachGivesAnNByNScoreMatrixWithGradients) {
  torch::manual_seed(0);
  const torch::Tensor x = torch::randn({7, 20}), y = torch::randn({7, 20});
  auto concat_params = kSmall;
  concat_params.erase("embed");
  for (const auto& [name, params] : std::vector<std::pair<std::string, std::map<std::string, ParamValue>>>{
           {"separable", kSmall}, {"concat", concat_params}, {"bilinear", kSmall}}) {
    SCOPED_TRACE(name);
    auto critic = make(name, params);
    const torch::Tensor s = critic->score_matrix(x, y);
    ASSERT_EQ(s.sizes(), (std::vector<std::int64_t>{7, 7}));
    s.sum().backward();
    for (const auto& p : critic->module().parameters()) ASSERT_TRUE(p.grad().defined());
  }
}

TEST(Critics, ConcatEqualsAnMlpOnEveryConcatenatedPair) {
  torch::manual_seed(1);
  auto critic = make("concat", {{"hidden", std::int64_t{12}}, {"layers", std::int64_t{2}},
                                {"activation", std::string("tanh")}},
                     {{3}, {4}, 0});
  const torch::Tensor x = torch::randn({5, 3}), y = torch::randn({5, 4});
  const torch::Tensor fast = critic->score_matrix(x, y);
  auto params = critic->module().named_parameters();
  // One Linear on [x, y]: weight [W_x, W_y], bias b_x (the y half has none).
  const torch::Tensor w = torch::cat({params["first_x.weight"], params["first_y.weight"]}, 1);
  const torch::Tensor b = params["first_x.bias"];
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      const torch::Tensor h = torch::tanh(torch::matmul(w, torch::cat({x[j], y[i]})) + b);
      const torch::Tensor h2 = torch::tanh(torch::matmul(params["tail.0.weight"], h) + params["tail.0.bias"]);
      const torch::Tensor f = torch::matmul(params["tail.2.weight"], h2) + params["tail.2.bias"];
      EXPECT_NEAR(fast[i][j].item<double>(), f.item<double>(), 1e-5) << i << "," << j;
    }
}

// The paper's concat critic, Linear(40, 512) first: the split layer is that layer. Loaded with a
// real Linear(40, 512)'s weights it gives its outputs, and its own initial weights have that
// layer's statistics (PyTorch's U(±1/√40), not U(±1/√20)).
TEST(Critics, ConcatSplitLayerIsTheFullFirstLayer) {
  torch::manual_seed(3);
  auto critic = make("concat", {{"hidden", std::int64_t{512}}, {"layers", std::int64_t{1}},
                                {"activation", std::string("relu")}});
  auto params = critic->module().named_parameters();
  torch::nn::Linear full(40, 512);
  const double bound = 1.0 / std::sqrt(40.0);
  for (const auto& [name, t] : {std::pair<std::string, torch::Tensor>{"weight", full->weight}, {"bias", full->bias}}) {
    SCOPED_TRACE(name);
    const torch::Tensor split = name == "weight" ? torch::cat({params["first_x.weight"], params["first_y.weight"]}, 1)
                                                 : params["first_x.bias"];
    ASSERT_EQ(split.sizes(), t.sizes());
    EXPECT_LE(split.abs().max().item<double>(), bound);
    EXPECT_GT(split.abs().max().item<double>(), 0.98 * bound);
    EXPECT_NEAR(split.std().item<double>() / t.std().item<double>(), 1.0, name == "weight" ? 0.02 : 0.1);
    EXPECT_NEAR(split.std().item<double>(), bound / std::sqrt(3.0), bound / std::sqrt(3.0) * (name == "weight" ? 0.02 : 0.1));
  }

  {
    torch::NoGradGuard no_grad;
    params["first_x.weight"].copy_(full->weight.narrow(1, 0, 20));
    params["first_y.weight"].copy_(full->weight.narrow(1, 20, 20));
    params["first_x.bias"].copy_(full->bias);
  }
  const torch::Tensor x = torch::randn({6, 20}), y = torch::randn({6, 20});
  const torch::Tensor fast = critic->score_matrix(x, y);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      const torch::Tensor h = torch::relu(full->forward(torch::cat({x[j], y[i]}).unsqueeze(0)));
      const torch::Tensor f = torch::matmul(h, params["tail.0.weight"].t()) + params["tail.0.bias"];
      EXPECT_NEAR(fast[i][j].item<double>(), f.item<double>(), 1e-5) << i << "," << j;
    }
}

TEST(Critics, SeparableIsADotProductOfEmbeddings) {
  torch::manual_seed(2);
  auto critic = make("separable", kSmall);
  const torch::Tensor x = torch::randn({4, 20}), y = torch::randn({4, 20});
  const torch::Tensor s = critic->score_matrix(x, y);
  // Swapping two x's swaps two columns; swapping y's swaps rows.
  const torch::Tensor x_swapped = x.index_select(0, torch::tensor({1, 0, 2, 3}));
  EXPECT_TRUE(torch::allclose(critic->score_matrix(x_swapped, y),
                              s.index_select(1, torch::tensor({1, 0, 2, 3}))));
}

TEST(Critics, BilinearIsYTransposeWXInTheHarnessOrientation) {
  // S[i, j] = f(x_j, y_i) = y_iᵀ W x_j, written out element by element. x and y differ in width
  // (3 and 4), so W is 4×3 and a transposed product cannot even be formed by mistake silently.
  torch::manual_seed(3);
  auto critic = make("bilinear", {{"layers", std::int64_t{0}}, {"hidden", std::int64_t{8}}, {"embed", std::int64_t{4}},
                                  {"activation", std::string("relu")}},
                     {{3}, {4}, 0});
  const torch::Tensor x = torch::randn({5, 3}), y = torch::randn({5, 4});
  const torch::Tensor w = critic->module().named_parameters()["w"];
  ASSERT_EQ(w.sizes(), (std::vector<std::int64_t>{4, 3}));
  const torch::Tensor s = critic->score_matrix(x, y);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      double expected = 0;
      for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 3; ++b) expected += y[i][a].item<double>() * w[a][b].item<double>() * x[j][b].item<double>();
      EXPECT_NEAR(s[i][j].item<double>(), expected, 1e-5) << i << "," << j;
    }
  // With embeddings: the same form on g(x) and h(y).
  auto deep = make("bilinear", {{"layers", std::int64_t{1}}, {"hidden", std::int64_t{8}}, {"embed", std::int64_t{4}},
                                {"activation", std::string("tanh")}},
                   {{3}, {4}, 0});
  auto p = deep->module().named_parameters();
  const torch::Tensor gx = torch::matmul(torch::tanh(torch::matmul(x, p["g.0.weight"].t()) + p["g.0.bias"]), p["g.2.weight"].t()) + p["g.2.bias"];
  const torch::Tensor hy = torch::matmul(torch::tanh(torch::matmul(y, p["h.0.weight"].t()) + p["h.0.bias"]), p["h.2.weight"].t()) + p["h.2.bias"];
  const torch::Tensor sd = deep->score_matrix(x, y);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j)
      EXPECT_NEAR(sd[i][j].item<double>(), torch::dot(hy[i], torch::mv(p["w"], gx[j])).item<double>(), 1e-5);
}

TEST(Critics, RefuseDatasetsWithoutPairsAndBadActivations) {
  EXPECT_THROW(make("separable", kSmall, {{20}, {}, 0}), InputError);
  auto bad = kSmall;
  bad["activation"] = std::string("swish2");
  try {
    make("separable", bad);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("swish2"), std::string::npos);
  }
}

// Ensembles: slice m of stacked_score_matrices is member m's own score matrix on its own batch, and
// the gradient reaching slice m of each stacked parameter is the one member m's parameters get alone.
TEST(Critics, StackedScoresAndGradientsAreEachMembersOwn) {
  auto concat_params = kSmall;
  concat_params.erase("embed");
  for (const auto& [name, params] : std::vector<std::pair<std::string, std::map<std::string, ParamValue>>>{
           {"separable", kSmall}, {"concat", concat_params}}) {
    SCOPED_TRACE(name);
    const PluginDescriptor* d = real_plugins().find(PluginKind::encoder, name);
    ASSERT_NE(d->capabilities & kScoresPairsStacked, 0u);
    std::vector<std::shared_ptr<Encoder>> members;
    std::vector<std::vector<torch::Tensor>> member_params;
    for (int m = 0; m < 3; ++m) {
      torch::manual_seed(50 + m);
      members.push_back(make(name, params));
      member_params.push_back(members.back()->module().parameters());
    }
    const auto stacked = stack_member_parameters(member_params, torch::kCPU);
    torch::manual_seed(7);
    const torch::Tensor x = torch::randn({3, 6, 20}), y = torch::randn({3, 6, 20}), weights = torch::randn({3, 6, 6});
    const torch::Tensor scores = members[0]->stacked_score_matrices(stacked, x, y);
    ASSERT_EQ(scores.sizes(), (std::vector<std::int64_t>{3, 6, 6}));
    (scores * weights).sum().backward();
    for (int m = 0; m < 3; ++m) {
      const torch::Tensor own = members[m]->score_matrix(x[m], y[m]);
      EXPECT_TRUE(torch::allclose(scores[m], own, 1e-5, 1e-6)) << "member " << m;
      (own * weights[m]).sum().backward();
      for (std::size_t k = 0; k < stacked.size(); ++k)
        EXPECT_TRUE(torch::allclose(stacked[k].grad()[m], member_params[m][k].grad(), 1e-5, 1e-6))
            << "member " << m << " parameter " << k;
    }
  }
}

// precision = "bfloat16": the N²-row layers in bfloat16, the read-out in float32. The scores are
// the float32 critic's to bfloat16's precision (8 significant bits), the parameters and their
// gradients stay float32 and agree with float32's, stacked members included; a bad name is refused.
TEST(Critics, ConcatBfloat16PrecisionIsFloat32ToBfloat16sPrecision) {
  std::map<std::string, ParamValue> params = {{"hidden", std::int64_t{64}}, {"layers", std::int64_t{2}},
                                              {"activation", std::string("relu")}};
  torch::manual_seed(3);
  auto exact = make("concat", params);
  params["precision"] = std::string("bfloat16");
  auto rounded = make("concat", params);
  {
    torch::NoGradGuard no_grad;
    auto to = rounded->module().parameters();
    auto from = exact->module().parameters();
    for (std::size_t k = 0; k < to.size(); ++k) to[k].copy_(from[k]);
  }
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({16, 20}), y = torch::randn({16, 20});
  const torch::Tensor s32 = exact->score_matrix(x, y), s16 = rounded->score_matrix(x, y);
  ASSERT_EQ(s16.scalar_type(), torch::kFloat32);
  const double scale = s32.abs().max().item<double>();
  const double err = (s16 - s32).abs().max().item<double>();
  EXPECT_GT(err, 0.0);  // it did compute in bfloat16
  EXPECT_LT(err, 0.03 * scale);
  // The read-out layer ran in float32: its scores are not all bfloat16 numbers.
  EXPECT_TRUE((s16.to(torch::kBFloat16).to(torch::kFloat32) != s16).any().item<bool>());
  s32.sum().backward();
  s16.sum().backward();
  auto p32 = exact->module().parameters(), p16 = rounded->module().parameters();
  for (std::size_t k = 0; k < p32.size(); ++k) {
    ASSERT_EQ(p16[k].grad().scalar_type(), torch::kFloat32);
    const double g = p32[k].grad().norm().item<double>();
    EXPECT_LT((p16[k].grad() - p32[k].grad()).norm().item<double>(), 0.05 * g + 1e-6) << "parameter " << k;
  }
  const auto stacked = stack_member_parameters({rounded->module().parameters()}, torch::kCPU);
  const torch::Tensor s_stacked = rounded->stacked_score_matrices(stacked, x.unsqueeze(0), y.unsqueeze(0));
  EXPECT_LT((s_stacked[0] - s32).abs().max().item<double>(), 0.03 * scale);

  params["precision"] = std::string("float16");
  try {
    make("concat", params);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("precision"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("float16"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rpcbench
