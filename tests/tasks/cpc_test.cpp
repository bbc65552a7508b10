// The cpc task's parts against naive loops: the negatives (pool, exclusions, uniformity), the
// layout of pos/neg handed to the objective for every k, and the speech probes on toy features.
#include "tasks/cpc.hpp"

#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <set>

namespace rpcbench {
namespace {

// Every index anchor (b, t) may draw: its pool minus its own positives (b, t+1 … t+K).
std::set<std::int64_t> allowed(const std::vector<std::int64_t>& speakers, std::int64_t frames,
                               std::int64_t k, std::int64_t b, std::int64_t t, bool same_speaker) {
  std::set<std::int64_t> out;
  for (std::size_t w = 0; w < speakers.size(); ++w)
    for (std::int64_t f = 0; f < frames; ++f) {
      if (same_speaker && speakers[w] != speakers[b]) continue;
      if (static_cast<std::int64_t>(w) == b && f > t && f <= t + k) continue;
      out.insert(static_cast<std::int64_t>(w) * frames + f);
    }
  return out;
}

TEST(CpcNegatives, StayInTheirPoolAndAreNeverAPositive) {
  const std::vector<std::int64_t> speakers = {0, 0, 1, 1, 1, 4};
  const std::int64_t frames = 12, k = 3, count = 400;
  for (const bool same : {false, true}) {
    SCOPED_TRACE(same);
    auto gen = at::detail::createCPUGenerator(11);
    const torch::Tensor idx = cpc::sample_negatives(speakers, frames, k, count, same, gen);
    ASSERT_EQ(idx.sizes(), (std::vector<std::int64_t>{6, frames - k, count}));
    for (std::int64_t b = 0; b < 6; ++b)
      for (std::int64_t t = 0; t < frames - k; ++t) {
        const auto ok = allowed(speakers, frames, k, b, t, same);
        std::set<std::int64_t> seen;
        for (std::int64_t j = 0; j < count; ++j) {
          const std::int64_t v = idx[b][t][j].item<std::int64_t>();
          ASSERT_TRUE(ok.count(v)) << "anchor (" << b << ", " << t << ") drew " << v;
          seen.insert(v);
        }
        // 400 draws from at most 72 − 3 indices: every one shows up (miss chance < 1e-2 overall).
        if (ok.size() <= 36) {
          EXPECT_EQ(seen.size(), ok.size()) << b << ", " << t;
        }
      }
  }
}

TEST(CpcNegatives, AreUniformOverThePool) {
  // One anchor, many draws: a chi-square test against the uniform law on its allowed indices.
  const std::vector<std::int64_t> speakers = {0, 1, 2};
  const std::int64_t frames = 10, k = 2, count = 60000;
  auto gen = at::detail::createCPUGenerator(5);
  const torch::Tensor idx = cpc::sample_negatives(speakers, frames, k, count, false, gen)[1][4];
  const auto ok = allowed(speakers, frames, k, 1, 4, false);  // 30 − 2 = 28 indices
  ASSERT_EQ(ok.size(), 28u);
  const torch::Tensor counts = torch::bincount(idx, {}, 30).to(torch::kFloat64);
  double chi2 = 0;
  const double expected = static_cast<double>(count) / 28.0;
  for (std::int64_t v = 0; v < 30; ++v) {
    const double c = counts[v].item<double>();
    if (!ok.count(v)) {
      EXPECT_EQ(c, 0.0) << v;
      continue;
    }
    chi2 += (c - expected) * (c - expected) / expected;
  }
  EXPECT_LT(chi2, 55.5);  // 27 degrees of freedom: the 0.999 quantile
}

// z frames are the first D samples of each 160-sample chunk; the context is a running sum (causal).
struct ToyEncoder : Encoder {
  explicit ToyEncoder(std::int64_t d) : d(d) {}
  torch::nn::Module& module() override { return m; }
  std::int64_t output_dim() const override { return d; }
  std::int64_t context_dim() const override { return d; }
  std::int64_t frame_stride() const override { return 160; }
  torch::Tensor encode_sequence(const torch::Tensor& x) override {
    return x.view({x.size(0), x.size(-1) / 160, 160}).narrow(2, 0, d);
  }
  torch::Tensor context(const torch::Tensor& z) override { return z.cumsum(1); }
  torch::nn::Module m;
  std::int64_t d;
};

struct RecordingObjective : Objective {
  ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    seen.emplace_back(pos.detach().clone(), neg.detach().clone());
    return {
        pos.mean() - 2.0 * neg.mean(), pos.mean().detach(), {{"neg_mean", neg.mean().detach()}}};
  }
  std::vector<std::pair<torch::Tensor, torch::Tensor>> seen;
};

TEST(CpcLoss, PredictionsAndNegativesReachTheObjectiveInTheDocumentedLayout) {
  const std::int64_t b = 4, frames = 9, d = 5, k_max = 3, count = 7;
  const std::vector<std::int64_t> speakers = {2, 2, 3, 5};
  ToyEncoder encoder(d);
  torch::manual_seed(3);
  torch::nn::ModuleList predictors;
  for (std::int64_t k = 0; k < k_max; ++k) predictors->push_back(torch::nn::Linear(d, d));
  auto data = at::detail::createCPUGenerator(1);
  const torch::Tensor x = torch::randn({b, 1, frames * 160}, data);
  RecordingObjective objective;
  cpc::LossConfig cfg;
  cfg.steps_ahead = k_max;
  cfg.negatives = count;
  cfg.same_speaker = true;
  cfg.temperature = 2.0;
  auto gen = at::detail::createCPUGenerator(9);
  const cpc::Loss loss = cpc::loss(encoder, predictors, objective, x, speakers, cfg, gen);
  ASSERT_EQ(objective.seen.size(), static_cast<std::size_t>(k_max));

  // The same negatives, drawn again from a generator in the same state.
  auto again = at::detail::createCPUGenerator(9);
  const torch::Tensor idx = cpc::sample_negatives(speakers, frames, k_max, count, true, again);
  const auto z = x.view({b, frames, 160}).narrow(2, 0, d).contiguous();
  const auto c = z.cumsum(1);
  const std::int64_t w = frames - k_max;
  double loss_sum = 0, mi_sum = 0, neg_sum = 0;
  for (std::int64_t k = 1; k <= k_max; ++k) {
    auto* linear = predictors[k - 1]->as<torch::nn::Linear>();
    const auto& [pos, neg] = objective.seen[k - 1];
    ASSERT_EQ(pos.sizes(), (std::vector<std::int64_t>{b * w}));
    ASSERT_EQ(neg.sizes(), (std::vector<std::int64_t>{b * w, count}));
    for (std::int64_t i = 0; i < b; ++i)
      for (std::int64_t t = 0; t < w; ++t) {
        std::vector<double> p(d);
        for (std::int64_t o = 0; o < d; ++o) {
          double v = linear->bias[o].item<double>();
          for (std::int64_t q = 0; q < d; ++q)
            v += linear->weight[o][q].item<double>() * c[i][t][q].item<double>();
          p[o] = v;
        }
        auto dot = [&](std::int64_t wi, std::int64_t f) {
          double s = 0;
          for (std::int64_t o = 0; o < d; ++o) s += p[o] * z[wi][f][o].item<double>();
          return s / 2.0;
        };
        EXPECT_NEAR(pos[i * w + t].item<double>(), dot(i, t + k), 1e-4)
            << "k " << k << " (" << i << ", " << t << ")";
        for (std::int64_t j = 0; j < count; ++j) {
          const std::int64_t flat = idx[i][t][j].item<std::int64_t>();
          EXPECT_NEAR(neg[i * w + t][j].item<double>(), dot(flat / frames, flat % frames), 1e-4);
        }
      }
    loss_sum += pos.mean().item<double>() - 2.0 * neg.mean().item<double>();
    mi_sum += pos.mean().item<double>();
    neg_sum += neg.mean().item<double>();
  }
  EXPECT_NEAR(loss.loss.item<double>(), loss_sum / k_max, 1e-5);
  EXPECT_NEAR(loss.mi.item<double>(), mi_sum / k_max, 1e-5);
  EXPECT_NEAR(loss.diagnostics.at("neg_mean").item<double>(), neg_sum / k_max, 1e-5);
  EXPECT_TRUE(loss.loss.requires_grad());
}

// Toy sequences: frame features carry the frame's phoneme in some dimensions and the speaker
// (plus noise) in others, so both probes should be near perfect; pure noise gives chance.
cpc::SpeechFeatures toy(std::int64_t utterances, bool informative, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  const std::int64_t frames = 40, classes = 6, speakers = 5;
  cpc::SpeechFeatures out;
  for (std::int64_t u = 0; u < utterances; ++u) {
    const torch::Tensor labels = torch::randint(classes, {1, frames}, gen, torch::kLong);
    const std::int64_t speaker = u % speakers;
    torch::Tensor f = torch::randn({1, frames, classes + speakers}, gen);
    if (informative) {
      f.narrow(2, 0, classes) += 4.0 * torch::one_hot(labels, classes).to(torch::kFloat32);
      f.narrow(2, classes, speakers).select(2, speaker) += 1.5;
    }
    const std::int64_t valid = 30 + u % 10;
    torch::Tensor padded_labels = labels.clone();
    padded_labels.narrow(1, valid, frames - valid).fill_(-1);
    out.add(f, padded_labels, torch::tensor({valid}), torch::tensor({speaker}));
  }
  return out;
}

TEST(SpeechProbes, SeparableToyFeaturesAreClassifiedAndNoiseIsNot) {
  cpc::SpeechProbeConfig cfg;
  cfg.phoneme.epochs = 5;
  cfg.phoneme.batch_size = 256;
  cfg.phoneme.learning_rate = 1e-2;
  cfg.speaker.epochs = 100;
  cfg.speaker.batch_size = 64;
  cfg.speaker.learning_rate = 1e-2;
  auto gen = at::detail::createCPUGenerator(4);
  const auto good = cpc::speech_probes(toy(100, true, 1), toy(50, true, 2), 6, 5, cfg, gen);
  EXPECT_GT(good.phoneme_top1, 0.95);
  EXPECT_GT(good.speaker_top1, 0.95);
  EXPECT_EQ(good.test_frames,
            50 * 30 + 5 * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9));  // labelled frames only
  const auto noise = cpc::speech_probes(toy(100, false, 1), toy(50, false, 2), 6, 5, cfg, gen);
  EXPECT_LT(noise.phoneme_top1, 0.3);   // chance is 1/6
  EXPECT_LT(noise.speaker_top1, 0.45);  // chance is 1/5 on 50 utterances
  EXPECT_NEAR(noise.phoneme_majority, good.phoneme_majority, 1e-12);  // same labels, same baseline
}

TEST(SpeechProbes, UtteranceMeansCoverEveryFrameInsideTheUtterance) {
  cpc::SpeechFeatures f;
  const torch::Tensor features = torch::arange(2 * 4 * 3, torch::kFloat32).view({2, 4, 3});
  // Utterance 0: 3 frames inside, the middle one unlabelled; utterance 1: all 4 frames.
  f.add(features, torch::tensor({{1, -1, 2, -1}, {0, 0, 1, 1}}), torch::tensor({3, 4}),
        torch::tensor({7, 8}));
  EXPECT_TRUE(torch::allclose(f.pooled[0][0], features[0].narrow(0, 0, 3).mean(0)));
  EXPECT_TRUE(torch::allclose(f.pooled[0][1], features[1].mean(0)));
  EXPECT_EQ(f.frames[0].size(0), 6);
  EXPECT_TRUE(torch::equal(f.frame_labels[0], torch::tensor({1, 2, 0, 0, 1, 1})));
  EXPECT_TRUE(torch::equal(f.frames[0][1], features[0][2]));
}

}  // namespace
}  // namespace rpcbench
