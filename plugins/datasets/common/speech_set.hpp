// A labelled speech set shared by the speech dataset plugins (not in the SDK): variable-length
// 16-bit audio, one phoneme label per frame of `frame_stride` samples, a speaker per utterance,
// and utterance indices per split. Served as padded float batches: x [B, 1, T] in [-1, 1), frame
// labels [B, T / frame_stride] with -1 past each utterance's end, speakers [B], lengths [B].
#pragma once

#include <rpcbench/plugin.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace rpcbench::datasets {

struct SpeechSet {
  std::int64_t sample_rate = 16000;
  std::int64_t frame_stride = 160;
  std::vector<std::string> class_names;    // phoneme inventory; index = label
  std::vector<std::string> speaker_names;  // index = speaker label
  std::vector<std::string> ids;            // per utterance
  std::vector<std::int64_t> speaker;       // per utterance
  std::vector<std::int64_t> samples;       // per utterance: audio length
  std::vector<std::int64_t> frame_offset;  // per utterance: first label in `labels`
  std::vector<std::int64_t> frames;        // per utterance: label count
  std::vector<std::int16_t> labels;        // all frame labels, utterance after utterance
  std::map<std::string, std::vector<std::int64_t>> splits;  // split → utterance indices

  std::int64_t size() const { return static_cast<std::int64_t>(ids.size()); }

  // Appends one utterance; returns its index.
  std::int64_t add(std::string id, std::int64_t spk, std::int64_t n_samples,
                   const std::vector<std::int16_t>& frame_labels) {
    ids.push_back(std::move(id));
    speaker.push_back(spk);
    samples.push_back(n_samples);
    frame_offset.push_back(static_cast<std::int64_t>(labels.size()));
    frames.push_back(static_cast<std::int64_t>(frame_labels.size()));
    labels.insert(labels.end(), frame_labels.begin(), frame_labels.end());
    return size() - 1;
  }
};

// What the Dataset contract needs from a SpeechSet, with the audio of utterance u given by
// `audio(u)` (a pointer to samples(u) int16 samples, valid until the next call).
class SpeechDataset : public Dataset {
 public:
  DatasetSpec spec() const override {
    const SpeechSet& s = set();
    DatasetSpec spec;
    spec.input.x_shape = {1, -1};
    spec.input.num_classes = static_cast<std::int64_t>(s.class_names.size());
    spec.frame_stride = s.frame_stride;
    spec.sample_rate = s.sample_rate;
    spec.num_groups = static_cast<std::int64_t>(s.speaker_names.size());
    for (const auto& [name, members] : s.splits) {
      spec.split_sizes[name] = static_cast<std::int64_t>(members.size());
      auto& lengths = spec.lengths[name];
      auto& groups = spec.groups[name];
      for (const std::int64_t u : members) {
        lengths.push_back(s.samples[u]);
        groups.push_back(s.speaker[u]);
      }
    }
    return spec;
  }

  Batch get(const std::string& split, const torch::Tensor& indices) override {
    const SpeechSet& s = set();
    auto it = s.splits.find(split);
    if (it == s.splits.end()) throw std::invalid_argument(name() + ": no split '" + split + "'");
    const torch::Tensor idx = indices.to(torch::kInt64).contiguous();
    const std::int64_t b = idx.numel();
    const auto* ip = idx.data_ptr<std::int64_t>();
    std::int64_t longest = 0;
    std::vector<std::int64_t> members(b);
    for (std::int64_t i = 0; i < b; ++i) {
      if (ip[i] < 0 || ip[i] >= static_cast<std::int64_t>(it->second.size()))
        throw std::out_of_range(name() + ": index " + std::to_string(ip[i]) + " outside split '" +
                                split + "' of " + std::to_string(it->second.size()));
      members[i] = it->second[ip[i]];
      longest = std::max(longest, s.samples[members[i]]);
    }
    // Frames cover whole strides: a partial last stride has no label.
    const std::int64_t max_frames = longest / s.frame_stride;
    Batch batch;
    batch.x = torch::zeros({b, 1, longest}, torch::kFloat32);
    batch.labels = torch::full({b, max_frames}, -1, torch::kInt64);
    batch.groups = torch::empty({b}, torch::kInt64);
    batch.lengths = torch::empty({b}, torch::kInt64);
    float* xp = batch.x.data_ptr<float>();
    auto* lp = batch.labels.data_ptr<std::int64_t>();
    auto* gp = batch.groups.data_ptr<std::int64_t>();
    auto* np = batch.lengths.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < b; ++i) {
      const std::int64_t u = members[i];
      const std::int16_t* a = audio(u);
      for (std::int64_t t = 0; t < s.samples[u]; ++t)
        xp[i * longest + t] = static_cast<float>(a[t]) / 32768.0f;
      const std::int64_t f = std::min(s.frames[u], max_frames);
      for (std::int64_t k = 0; k < f; ++k) lp[i * max_frames + k] = s.labels[s.frame_offset[u] + k];
      gp[i] = s.speaker[u];
      np[i] = s.samples[u];
    }
    return batch;
  }

 protected:
  virtual const SpeechSet& set() const = 0;
  virtual const std::int16_t* audio(std::int64_t utterance) = 0;
  virtual std::string name() const = 0;
};

}  // namespace rpcbench::datasets
