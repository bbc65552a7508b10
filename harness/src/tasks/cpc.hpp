// The parts of the `cpc` task that tests check on their own: how negatives are drawn, how each
// prediction step's scores are laid out for the objective, and the frozen-feature speech probes.
#pragma once

#include "eval/probes.hpp"

#include <rpcbench/plugin.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rpcbench::cpc {

// Negatives for every anchor (b, t), t < frames − steps_ahead, of a batch of `speakers.size()`
// windows of `frames` frames each: `count` flat frame indices (b' · frames + t') drawn uniformly
// with replacement from the anchor's pool — every frame of the batch, or (same_speaker) every
// frame of the windows whose speaker is the anchor's — but never one of the anchor's own
// positives (b, t + 1 … t + steps_ahead). Windows of one speaker must be contiguous (sorted).
// Returns int64 [B, frames − steps_ahead, count]; one draw serves every prediction step.
torch::Tensor sample_negatives(const std::vector<std::int64_t>& speakers, std::int64_t frames,
                               std::int64_t steps_ahead, std::int64_t count, bool same_speaker,
                               at::Generator& generator);

struct StepScores {
  torch::Tensor pos;  // [M]: prediction · true z at t + k
  torch::Tensor neg;  // [M, count]: prediction · each negative
};

// Scores of prediction step k (1-based) for M = B · W anchors, W = predictions.size(1):
// pos[b·W + t] = ⟨p[b, t], z[b, t + k]⟩ / T and neg[b·W + t, j] = ⟨p[b, t], negatives[b·W + t, j]⟩
// / T. predictions [B, W, D], z [B, F, D], negatives [M, count, D] (z rows gathered by
// sample_negatives).
StepScores step_scores(const torch::Tensor& predictions, const torch::Tensor& z, std::int64_t k,
                       const torch::Tensor& negatives, double temperature);

struct LossConfig {
  std::int64_t steps_ahead = 12;  // K
  std::int64_t negatives = 128;
  bool same_speaker = false;
  bool normalize = false;
  double temperature = 1.0;
};

struct Loss {
  torch::Tensor loss;  // mean over k of the objective's loss (carries the gradient)
  torch::Tensor mi;    // mean over k of the MI estimates
  torch::Tensor
      accuracy;  // mean over k of the share of anchors whose positive beats every negative
  std::map<std::string, torch::Tensor> diagnostics;  // the objective's, averaged over k
};

// One training loss: windows x [B, 1, T] (speakers contiguous, see sample_negatives) → z, c;
// predictor k − 1 maps c(t) to a prediction of z(t + k); the objective scores each k.
Loss loss(Encoder& encoder, torch::nn::ModuleList& predictors, Objective& objective,
          const torch::Tensor& x, const std::vector<std::int64_t>& speakers,
          const LossConfig& config, at::Generator& negative_generator);

// Frozen features of a split, gathered batch by batch for the probes.
struct SpeechFeatures {
  std::vector<torch::Tensor> frames, frame_labels;  // labelled frames [n, H] and their labels [n]
  std::vector<torch::Tensor> pooled, speakers;      // per utterance: mean feature [H] and speaker
  // features [B, F, H] of B sequences; labels [B, F'] (−1: none); frames_valid [B]: how many of
  // the F frames lie inside each sequence (pooled over those, labelled or not).
  void add(const torch::Tensor& features, const torch::Tensor& labels,
           const torch::Tensor& frames_valid, const torch::Tensor& speaker);
};

struct SpeechProbeConfig {
  LinearProbeConfig phoneme, speaker;
};

struct SpeechProbeResult {
  double phoneme_top1 = NAN, speaker_top1 = NAN;
  double phoneme_majority = NAN;  // test accuracy of always answering the commonest training label
  std::int64_t train_frames = 0, test_frames = 0;
};

// A linear phoneme classifier on frames and a linear speaker classifier on utterance means,
// each trained on `train` and scored top-1 on `test` (eval/probes.hpp's linear probe).
SpeechProbeResult speech_probes(const SpeechFeatures& train, const SpeechFeatures& test,
                                std::int64_t phoneme_classes, std::int64_t speakers,
                                const SpeechProbeConfig& config, at::Generator& generator);

}  // namespace rpcbench::cpc
