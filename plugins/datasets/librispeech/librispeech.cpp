// LibriSpeech (Panayotov et al. 2015) with the frame-level phone alignments and train/test lists
// that the CPC audio repository distributes (facebookresearch/CPC_audio:
// converted_aligned_phones.txt, train_split.txt, test_split.txt for train-clean-100), all under one
// `root`. Audio: <root>/<audio>/<speaker>/<chapter>/<id>.flac, 16 kHz mono, read with libsndfile.
// Alignments: one line per utterance, `id label label …`, one integer label per 10 ms frame. The
// speaker is the first field of the id (speaker-chapter-utterance).
//
// Everything is checked when the plugin is made, before any work, reading only file headers:
// missing files and folders (the path), non-16 kHz or unreadable audio (the file and what was
// found), an alignment whose frame count does not match its audio (the id and both counts), an
// empty split. Audio is decoded on first use and kept (100 h: about 11.5 GB as 16-bit).
#include "../common/speech_set.hpp"

#include <sndfile.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>

namespace {

using rpcbench::ParamType;
namespace ds = rpcbench::datasets;
namespace fs = std::filesystem;

constexpr std::int64_t kRate = 16000, kStride = 160;

constexpr rpcbench::ParamSpec kParams[] = {
    {"root", ParamType::text, "\"data/LibriSpeech\"",
     "the folder the four paths below are relative to"},
    {"audio", ParamType::text, "\"train-clean-100\"", "folder of <speaker>/<chapter>/<id>.flac"},
    {"alignments", ParamType::text, "\"converted_aligned_phones.txt\"",
     "frame labels, one line per utterance: `id label label …` (CPC audio format, 10 ms frames)"},
    {"train_list", ParamType::text, "\"train_split.txt\"",
     "utterance ids of the train split, one a line"},
    {"test_list", ParamType::text, "\"test_split.txt\"",
     "utterance ids of the test split, one a line"},
    {"frame_tolerance", ParamType::integer, "2",
     "an alignment may have up to this many frames more or fewer than floor(samples / 160); more "
     "is an error"},
    {"train_limit", ParamType::integer, "0",
     "keep the first N utterances of the train list (0: all)"},
    {"test_limit", ParamType::integer, "0",
     "keep the first N utterances of the test list (0: all)"},
};

std::ifstream open_text(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw std::runtime_error("librispeech: the " + what + " '" + path.string() +
                             "' does not exist");
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("librispeech: cannot read the " + what + " '" + path.string() + "'");
  return in;
}

class LibriSpeech : public ds::SpeechDataset {
 public:
  explicit LibriSpeech(const rpcbench::Params& p) {
    const fs::path base = p.get_string("root");
    auto under_root = [&](const char* key) {
      return base / p.get_string(key);
    };  // an absolute path stays itself
    const fs::path root = under_root("audio");
    const std::int64_t tolerance = p.get_int_in("frame_tolerance", 0, 1000);
    std::error_code ec;
    if (!fs::is_directory(root, ec))
      throw std::runtime_error(
          "librispeech: the audio folder '" + root.string() +
          "' does not exist (LibriSpeech's train-clean-100, from openslr.org/12)");

    // Alignments first: they define which utterances are labelled.
    std::unordered_map<std::string, std::vector<std::int16_t>> alignment;
    std::int64_t max_label = -1;
    {
      const std::string file = under_root("alignments").string();
      std::ifstream in = open_text(file, "alignment file");
      std::string line;
      for (std::int64_t number = 1; std::getline(in, line); ++number) {
        std::istringstream fields(line);
        std::string id, token;
        if (!(fields >> id)) continue;  // blank line
        std::vector<std::int16_t> labels;
        while (fields >> token) {
          std::size_t used = 0;
          long v = -1;
          try {
            v = std::stol(token, &used);
          } catch (const std::exception&) {
          }
          if (used != token.size() || v < 0 || v > 32767)
            throw std::runtime_error("librispeech: " + file + ":" + std::to_string(number) +
                                     ": label '" + token + "' of utterance " + id +
                                     " is not a class number in [0, 32767]");
          labels.push_back(static_cast<std::int16_t>(v));
          max_label = std::max<std::int64_t>(max_label, v);
        }
        if (labels.empty())
          throw std::runtime_error("librispeech: " + file + ":" + std::to_string(number) +
                                   ": utterance " + id + " has no labels");
        if (!alignment.emplace(id, std::move(labels)).second)
          throw std::runtime_error("librispeech: " + file + ":" + std::to_string(number) +
                                   ": utterance " + id + " is aligned twice");
      }
      if (alignment.empty())
        throw std::runtime_error("librispeech: the alignment file '" + file + "' has no lines");
    }
    for (std::int64_t c = 0; c <= max_label; ++c) set_.class_names.push_back(std::to_string(c));

    std::map<std::string, std::vector<std::string>> split_ids;
    for (const auto& [split, key, limit_key] :
         {std::tuple<const char*, const char*, const char*>{"train", "train_list", "train_limit"},
          {"test", "test_list", "test_limit"}}) {
      const std::string file = under_root(key).string();
      std::ifstream in = open_text(file, std::string(split) + " list");
      const std::int64_t limit = p.get_int_in(limit_key, 0);
      auto& ids = split_ids[split];
      for (std::string id;
           in >> id && (limit == 0 || static_cast<std::int64_t>(ids.size()) < limit);)
        ids.push_back(id);
      if (ids.empty())
        throw std::runtime_error("librispeech: the " + std::string(split) + " split is empty ('" +
                                 file + "' names no utterance)");
    }

    // An utterance in both lists (or twice in one) would be trained on and tested on: refuse.
    std::map<std::string, std::string> listed_in;
    for (const auto& [split, key] :
         {std::pair<std::string, const char*>{"train", "train_list"}, {"test", "test_list"}})
      for (const auto& id : split_ids.at(split))
        if (auto [at, fresh] = listed_in.emplace(id, split); !fresh)
          throw std::runtime_error("librispeech: utterance " + id + " is in the " + at->second +
                                   " list and again in the " + split + " list ('" +
                                   under_root(key).string() + "')");

    // Speakers: the first field of every id, numbered in numeric order.
    std::set<std::pair<long, std::string>> speakers;
    auto speaker_of = [](const std::string& id) { return id.substr(0, id.find('-')); };
    for (const auto& [split, ids] : split_ids)
      for (const auto& id : ids) {
        const std::string s = speaker_of(id);
        if (s.empty() || s.size() == id.size() ||
            s.find_first_not_of("0123456789") != std::string::npos)
          throw std::runtime_error("librispeech: utterance id '" + id + "' in the " + split +
                                   " list is not speaker-chapter-utterance");
        speakers.emplace(std::stol(s), s);
      }
    std::map<std::string, std::int64_t> speaker_index;
    for (const auto& [number, s] : speakers) {
      speaker_index[s] = static_cast<std::int64_t>(set_.speaker_names.size());
      set_.speaker_names.push_back(s);
    }

    for (const auto& [split, ids] : split_ids) {
      auto& members = set_.splits[split];
      for (const auto& id : ids) {
        auto a = alignment.find(id);
        if (a == alignment.end())
          throw std::runtime_error("librispeech: utterance " + id + " of the " + split +
                                   " list has no line in '" + under_root("alignments").string() +
                                   "'");
        const std::string chapter = id.substr(id.find('-') + 1, id.rfind('-') - id.find('-') - 1);
        const fs::path file = root / speaker_of(id) / chapter / (id + ".flac");
        if (!fs::is_regular_file(file, ec))
          throw std::runtime_error("librispeech: audio file '" + file.string() +
                                   "' does not exist");
        SF_INFO info{};
        SNDFILE* sf = sf_open(file.c_str(), SFM_READ, &info);
        if (sf == nullptr)
          throw std::runtime_error("librispeech: cannot read '" + file.string() +
                                   "': " + sf_strerror(nullptr));
        sf_close(sf);
        if (info.samplerate != kRate || info.channels != 1)
          throw std::runtime_error(
              "librispeech: '" + file.string() + "' is " + std::to_string(info.samplerate) +
              " Hz, " + std::to_string(info.channels) + " channel(s); 16000 Hz mono expected");
        const std::int64_t expected = info.frames / kStride,
                           found = static_cast<std::int64_t>(a->second.size());
        if (std::abs(found - expected) > tolerance)
          throw std::runtime_error("librispeech: utterance " + id + " has " +
                                   std::to_string(found) + " frame labels but its audio has " +
                                   std::to_string(expected) + " frames (" +
                                   std::to_string(info.frames) + " samples / 160); tolerance " +
                                   std::to_string(tolerance));
        // Labels past the audio are dropped; frames past the labels stay unlabelled (-1).
        std::vector<std::int16_t> labels = a->second;
        labels.resize(std::min(found, expected));
        members.push_back(set_.add(id, speaker_index.at(speaker_of(id)), info.frames, labels));
        files_.push_back(file);
      }
    }
    audio_.resize(files_.size());
  }

 protected:
  const ds::SpeechSet& set() const override { return set_; }
  std::string name() const override { return "librispeech"; }
  const std::int16_t* audio(std::int64_t u) override {
    auto& a = audio_[u];
    if (a.empty()) {
      SF_INFO info{};
      SNDFILE* sf = sf_open(files_[u].c_str(), SFM_READ, &info);
      if (sf == nullptr)
        throw std::runtime_error("librispeech: cannot read '" + files_[u].string() +
                                 "': " + sf_strerror(nullptr));
      a.resize(set_.samples[u]);
      const sf_count_t got = sf_readf_short(sf, a.data(), set_.samples[u]);
      sf_close(sf);
      if (got != set_.samples[u])
        throw std::runtime_error("librispeech: '" + files_[u].string() + "' ends after " +
                                 std::to_string(got) + " of " + std::to_string(set_.samples[u]) +
                                 " samples");
    }
    return a.data();
  }

 private:
  ds::SpeechSet set_;
  std::vector<fs::path> files_;
  std::vector<std::vector<std::int16_t>> audio_;
};

}  // namespace

RPCBENCH_DATASET(LibriSpeech, "librispeech", "1.0.0",
                 "LibriSpeech FLAC (libsndfile) with CPC-audio frame alignments and split lists",
                 kParams)
