// The speech datasets: the espeak-ng corpus (determinism, cache, split, frame alignment checked
// against the audio itself) and the LibriSpeech reader on tiny FLAC files this test writes, with
// each kind of bad input refused by name.
#include "test_support.hpp"
#include "util/errors.hpp"

#include <sys/stat.h>

#include <sndfile.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

namespace rpcbench {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<Dataset> make(const std::string& plugin,
                              std::map<std::string, ParamValue> overrides) {
  const auto& registry = test::real_plugins();
  const PluginDescriptor* d = registry.find(PluginKind::dataset, plugin);
  EXPECT_NE(d, nullptr) << plugin;
  for (const auto& [k, v] : overrides)
    EXPECT_TRUE(std::any_of(d->params.begin(), d->params.end(), [&](const ParamDecl& p) { return p.name == k; })) << k;
  return registry.make_dataset(*d, test::declared_params(*d, overrides));
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

fs::path only_corpus_dir(const fs::path& cache) {
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(cache))
    if (e.is_directory()) dirs.push_back(e.path());
  EXPECT_EQ(dirs.size(), 1u);
  return dirs.empty() ? fs::path() : dirs.front();
}

// A small corpus: 2 voices × 2 variants, 4 short utterances each.
std::map<std::string, ParamValue> tiny(const fs::path& cache, std::int64_t seed = 7) {
  return {{"cache_dir", cache.string()},
          {"seed", seed},
          {"voices", std::string("en-us,en")},
          {"variants", std::string("m1,f2")},
          {"utterances_per_speaker", std::int64_t{4}},
          {"words_min", std::int64_t{2}},
          {"words_max", std::int64_t{4}},
          {"test_fraction", 0.25}};
}

TEST(EspeakCorpus, SameSeedGivesTheSameBytesAndAnotherSeedDoesNot) {
  test::TempDir a, b, c;
  make("espeak_corpus", tiny(a.path()));
  make("espeak_corpus", tiny(b.path()));
  make("espeak_corpus", tiny(c.path(), 8));
  const fs::path da = only_corpus_dir(a.path()), db = only_corpus_dir(b.path()),
                 dc = only_corpus_dir(c.path());
  EXPECT_EQ(da.filename(), db.filename());  // the folder is named by the settings hash
  EXPECT_NE(da.filename(), dc.filename());
  const std::string bytes_a = slurp(da / "corpus.bin"), bytes_b = slurp(db / "corpus.bin");
  ASSERT_GT(bytes_a.size(), 16000u * 2u * 4u);  // 16 utterances, at least a quarter second each
  EXPECT_TRUE(bytes_a == bytes_b);
  EXPECT_FALSE(bytes_a == slurp(dc / "corpus.bin"));
  const auto manifest = nlohmann::json::parse(slurp(da / "manifest.json"));
  EXPECT_EQ(manifest["settings"]["libraries"].get<std::string>().rfind("espeak-ng 1.", 0), 0u);
  EXPECT_EQ(manifest["speakers"].size(), 4u);
  EXPECT_EQ(manifest["phonemes"][0], "sil");
}

TEST(EspeakCorpus, CacheIsLoadedARepairedCacheRegeneratesAndAChangedSettingIsANewCorpus) {
  test::TempDir a, b, c;
  make("espeak_corpus", tiny(a.path()));
  const fs::path folder = only_corpus_dir(a.path());
  const std::string original = slurp(folder / "corpus.bin");
  const auto old_time = fs::file_time_type::clock::now() - std::chrono::hours(24);
  // Another cache folder holding a copy: loaded from disk, not written again.
  fs::copy(folder, b.path() / folder.filename());
  fs::last_write_time(b.path() / folder.filename() / "corpus.bin", old_time);
  auto loaded = make("espeak_corpus", tiny(b.path()));
  EXPECT_EQ(fs::last_write_time(b.path() / folder.filename() / "corpus.bin"), old_time);
  EXPECT_EQ(loaded->spec().split_sizes.at("train"), 12);
  // A copy with one byte changed does not match its manifest: generated again, the same bytes.
  fs::copy(folder, c.path() / folder.filename());
  {
    std::fstream f(c.path() / folder.filename() / "corpus.bin",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(original.size() / 2));
    f.put(static_cast<char>(original[original.size() / 2] ^ 1));
  }
  make("espeak_corpus", tiny(c.path()));
  EXPECT_TRUE(slurp(c.path() / folder.filename() / "corpus.bin") == original);
  // A changed setting is another corpus beside the first.
  auto changed = tiny(a.path());
  changed["rate_max"] = std::int64_t{230};
  make("espeak_corpus", changed);
  std::size_t folders = 0;
  for (const auto& e : fs::directory_iterator(a.path())) folders += e.is_directory();
  EXPECT_EQ(folders, 2u);
}

TEST(EspeakCorpus, SplitHasEverySpeakerOnBothSidesAndBatchesArePadded) {
  test::TempDir cache;
  auto ds = make("espeak_corpus", tiny(cache.path()));
  const DatasetSpec spec = ds->spec();
  EXPECT_EQ(spec.input.x_shape, (std::vector<std::int64_t>{1, -1}));
  EXPECT_EQ(spec.frame_stride, 160);
  EXPECT_EQ(spec.sample_rate, 16000);
  EXPECT_EQ(spec.num_groups, 4);
  EXPECT_EQ(spec.split_sizes.at("train"), 12);
  EXPECT_EQ(spec.split_sizes.at("test"), 4);
  for (const char* split : {"train", "test"}) {
    const std::set<std::int64_t> speakers(spec.groups.at(split).begin(),
                                          spec.groups.at(split).end());
    EXPECT_EQ(speakers, (std::set<std::int64_t>{0, 1, 2, 3})) << split;
  }
  const Batch b = ds->get("train", torch::tensor({0, 5, 11}, torch::kLong));
  const std::int64_t longest = b.lengths.max().item<std::int64_t>();
  ASSERT_EQ(b.x.sizes(), (std::vector<std::int64_t>{3, 1, longest}));
  ASSERT_EQ(b.labels.sizes(), (std::vector<std::int64_t>{3, longest / 160}));
  for (int i = 0; i < 3; ++i) {
    const std::int64_t len = b.lengths[i].item<std::int64_t>();
    EXPECT_EQ(len, spec.lengths.at("train")[i == 0 ? 0 : i == 1 ? 5 : 11]);
    EXPECT_EQ(len % 160, 0);
    EXPECT_EQ(b.groups[i].item<std::int64_t>(), spec.groups.at("train")[i == 0   ? 0
                                                                        : i == 1 ? 5
                                                                                 : 11]);
    EXPECT_TRUE(b.labels[i].narrow(0, 0, len / 160).ge(0).all().item<bool>());
    EXPECT_TRUE(
        b.labels[i].narrow(0, len / 160, longest / 160 - len / 160).eq(-1).all().item<bool>());
    EXPECT_EQ(b.x[i][0].narrow(0, len, longest - len).abs().sum().item<double>(), 0.0);
    EXPECT_LT(b.labels[i].max().item<std::int64_t>(), spec.input.num_classes);
  }
  EXPECT_LE(b.x.abs().max().item<double>(), 1.0);
  EXPECT_GT(b.x.abs().max().item<double>(), 0.05);  // speech, not silence
}

// Frame energy and zero-crossing rate from the audio alone, per 10 ms frame.
struct FrameStats {
  std::vector<double> rms, zcr;
};
FrameStats frame_stats(const torch::Tensor& wave, std::int64_t frames) {
  FrameStats s;
  const auto* x = wave.data_ptr<float>();
  for (std::int64_t f = 0; f < frames; ++f) {
    double e = 0;
    int z = 0;
    for (int i = 0; i < 160; ++i) {
      e += double(x[f * 160 + i]) * x[f * 160 + i];
      if (i > 0 && (x[f * 160 + i] >= 0) != (x[f * 160 + i - 1] >= 0)) ++z;
    }
    s.rms.push_back(std::sqrt(e / 160));
    s.zcr.push_back(z / 159.0);
  }
  return s;
}

// "sea saw" is /s iː s ɔː/: fricatives cross zero far more often than vowels, so the audio itself
// shows where each phoneme starts. The labels must agree within one frame, with silence at both
// ends where the audio is silent.
TEST(EspeakCorpus, PhonemeLabelsLandOnTheirAudioWithinOneFrame) {
  test::TempDir cache;
  const auto text = cache.write("sentences.txt", "sea saw\n");
  auto params = tiny(cache.path());
  params["sentence_file"] = text.string();
  params["voices"] = std::string("en");
  params["variants"] = std::string("m3");
  params["utterances_per_speaker"] = std::int64_t{2};
  params["test_fraction"] = 0.5;
  auto ds = make("espeak_corpus", params);
  const Batch b = ds->get("train", torch::tensor({0}, torch::kLong));
  const std::int64_t frames = b.lengths[0].item<std::int64_t>() / 160;
  const torch::Tensor labels = b.labels[0].narrow(0, 0, frames);
  const FrameStats st = frame_stats(b.x[0][0].contiguous(), frames);

  // Runs of equal labels: silence, s, iː, s, ɔː, silence.
  std::vector<std::pair<std::int64_t, std::int64_t>> runs;  // (label, first frame)
  for (std::int64_t f = 0; f < frames; ++f)
    if (runs.empty() || labels[f].item<std::int64_t>() != runs.back().first)
      runs.emplace_back(labels[f].item<std::int64_t>(), f);
  ASSERT_EQ(runs.size(), 6u) << labels;
  EXPECT_EQ(runs[0].first, 0);
  EXPECT_EQ(runs[5].first, 0);
  EXPECT_EQ(runs[1].first, runs[3].first);  // both /s/ are one class
  EXPECT_NE(runs[2].first, runs[4].first);  // /iː/ and /ɔː/ are not
  EXPECT_NE(runs[1].first, runs[2].first);

  const double peak = *std::max_element(st.rms.begin(), st.rms.end());
  auto first_loud =
      std::find_if(st.rms.begin(), st.rms.end(), [&](double r) { return r > 0.02 * peak; }) -
      st.rms.begin();
  auto last_loud =
      st.rms.rend() -
      std::find_if(st.rms.rbegin(), st.rms.rend(), [&](double r) { return r > 0.02 * peak; }) - 1;
  EXPECT_GE(first_loud, 5);  // leading silence is there
  EXPECT_LE(std::abs(first_loud - runs[1].second), 1) << "speech starts at frame " << first_loud;
  EXPECT_LE(std::abs(last_loud - (runs[5].second - 1)), 1) << "speech ends at frame " << last_loud;
  EXPECT_GE(frames - runs[5].second, 5);  // trailing silence too

  // Each fricative/vowel boundary: where the zero-crossing rate crosses the midpoint between the
  // two segments' medians.
  auto median = [&](std::int64_t from, std::int64_t to) {
    std::vector<double> v(st.zcr.begin() + from, st.zcr.begin() + to);
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  for (int boundary = 2; boundary <= 4; ++boundary) {
    const std::int64_t at = runs[boundary].second;
    const double before = median(runs[boundary - 1].second, at),
                 after = median(at, runs[boundary + 1].second);
    ASSERT_GT(std::abs(before - after), 0.1) << "segments " << boundary - 1 << " and " << boundary;
    const double mid = (before + after) / 2;
    std::int64_t crossing = runs[boundary - 1].second;
    while (crossing < runs[boundary + 1].second && (st.zcr[crossing] > mid) == (before > mid))
      ++crossing;
    EXPECT_LE(std::abs(crossing - at), 1)
        << "boundary " << boundary << ": labels at " << at << ", audio at " << crossing;
  }
}

TEST(EspeakCorpus, BadSettingsAreRefusedByName) {
  test::TempDir cache;
  auto expect_refused = [&](std::map<std::string, ParamValue> p, const std::string& needle) {
    try {
      make("espeak_corpus", p);
      ADD_FAILURE() << "accepted; expected: " << needle;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto p = tiny(cache.path());
  p["voices"] = std::string("en-us,xx-nowhere");
  expect_refused(p, "unknown espeak-ng voice 'xx-nowhere'");
  p = tiny(cache.path());
  p["variants"] = std::string("m1,nosuchvariant");
  expect_refused(p, "unknown espeak-ng variant 'nosuchvariant'");
  p = tiny(cache.path());
  p["word_list"] = (cache.path() / "no-words.txt").string();
  expect_refused(p, (cache.path() / "no-words.txt").string());
  // Not files: read until memory ran out (/dev/zero) or hung (a FIFO with no writer).
  const auto fifo = cache.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& key : {"word_list", "sentence_file"})
    for (const std::string& path : {std::string("/dev/zero"), fifo.string()}) {
      p = tiny(cache.path());
      p[key] = path;
      expect_refused(p, "the " + key + " '" + path + "' is not a regular file");
    }
  p = tiny(cache.path());
  p["utterances_per_speaker"] = std::int64_t{1};
  expect_refused(p, "utterances_per_speaker");
  for (double fraction : {0.0, 1.0}) {
    p = tiny(cache.path());
    p["test_fraction"] = fraction;
    expect_refused(p, "parameter 'test_fraction' must be strictly between 0 and 1");
  }
  // Nothing half-made is left in the cache.
  for (const auto& e : fs::directory_iterator(cache.path()))
    EXPECT_FALSE(e.is_directory()) << e.path();
}

// --- LibriSpeech -------------------------------------------------------------------------------

void write_flac(const fs::path& path, const std::vector<std::int16_t>& samples, int rate = 16000) {
  fs::create_directories(path.parent_path());
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  ASSERT_EQ(sf_writef_short(f, samples.data(), static_cast<sf_count_t>(samples.size())),
            static_cast<sf_count_t>(samples.size()));
  sf_close(f);
}

std::vector<std::int16_t> tone(std::int64_t n, int seed) {
  std::vector<std::int16_t> v(n);
  for (std::int64_t i = 0; i < n; ++i)
    v[i] = static_cast<std::int16_t>(8000 * std::sin(0.01 * (seed + 1) * i) + seed);
  return v;
}

// Three utterances of two speakers; frame labels are the frame index mod 5 (plus the seed).
class LibriSpeechFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::vector<std::tuple<std::string, std::int64_t>> utts = {
        {"19-198-0001", 3200}, {"19-198-0002", 4960}, {"26-495-0003", 1600}};
    std::ofstream align(root() / "converted_aligned_phones.txt");
    int seed = 0;
    for (const auto& [id, n] : utts) {
      const std::string speaker = id.substr(0, id.find('-'));
      const std::string chapter = id.substr(id.find('-') + 1, 3);
      samples[id] = tone(n, seed);
      write_flac(root() / "train-clean-100" / speaker / chapter / (id + ".flac"), samples[id]);
      align << id;
      for (std::int64_t f = 0; f < n / 160; ++f) align << ' ' << (f + seed) % 5;
      align << '\n';
      ++seed;
    }
    std::ofstream(root() / "train_split.txt") << "19-198-0001\n26-495-0003\n";
    std::ofstream(root() / "test_split.txt") << "19-198-0002\n";
  }
  fs::path root() const { return dir.path(); }
  std::map<std::string, ParamValue> params() const { return {{"root", root().string()}}; }
  void expect_refused(const std::map<std::string, ParamValue>& p,
                      const std::vector<std::string>& needles) {
    try {
      make("librispeech", p);
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      for (const auto& needle : needles)
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
  test::TempDir dir;
  std::map<std::string, std::vector<std::int16_t>> samples;
};

TEST_F(LibriSpeechFiles, ReadsAudioLabelsSpeakersAndSplits) {
  auto ds = make("librispeech", params());
  const DatasetSpec spec = ds->spec();
  EXPECT_EQ(spec.split_sizes.at("train"), 2);
  EXPECT_EQ(spec.split_sizes.at("test"), 1);
  EXPECT_EQ(spec.num_groups, 2);
  EXPECT_EQ(spec.input.num_classes, 5);
  EXPECT_EQ(spec.lengths.at("train"), (std::vector<std::int64_t>{3200, 1600}));
  EXPECT_EQ(spec.groups.at("train"), (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(spec.groups.at("test"), (std::vector<std::int64_t>{0}));
  const Batch b = ds->get("train", torch::tensor({1, 0}, torch::kLong));
  ASSERT_EQ(b.x.sizes(), (std::vector<std::int64_t>{2, 1, 3200}));
  for (const auto& [row, id] :
       {std::pair<int, std::string>{0, "26-495-0003"}, {1, "19-198-0001"}}) {
    const auto& s = samples[id];
    for (std::size_t i = 0; i < s.size(); i += 97)
      ASSERT_FLOAT_EQ(b.x[row][0][i].item<float>(), s[i] / 32768.0f) << id << " " << i;
    const std::int64_t seed = id == "19-198-0001" ? 0 : 2;
    for (std::int64_t f = 0; f < static_cast<std::int64_t>(s.size()) / 160; ++f)
      ASSERT_EQ(b.labels[row][f].item<std::int64_t>(), (f + seed) % 5) << id << " frame " << f;
  }
  EXPECT_TRUE(b.labels[0].narrow(0, 10, 10).eq(-1).all().item<bool>());  // 1600 samples: 10 frames,
                                                                         // then padding
  EXPECT_EQ(b.groups[0].item<std::int64_t>(), 1);
  EXPECT_EQ(b.lengths[0].item<std::int64_t>(), 1600);
  // 4960 samples are 31 frames: the last 0.0 s partial frame has no label.
  const Batch t = ds->get("test", torch::tensor({0}, torch::kLong));
  EXPECT_EQ(t.labels.size(1), 31);
}

TEST_F(LibriSpeechFiles, MissingFolderNamesIt) {
  auto p = params();
  p["audio"] = std::string("no-such-folder");
  expect_refused(p, {(root() / "no-such-folder").string(), "does not exist"});
}

TEST_F(LibriSpeechFiles, MissingAudioFileNamesIt) {
  fs::remove(root() / "train-clean-100" / "26" / "495" / "26-495-0003.flac");
  expect_refused(params(),
                 {(root() / "train-clean-100" / "26" / "495" / "26-495-0003.flac").string(),
                  "does not exist"});
}

TEST_F(LibriSpeechFiles, MissingAlignmentFileNamesIt) {
  fs::remove(root() / "converted_aligned_phones.txt");
  expect_refused(params(), {(root() / "converted_aligned_phones.txt").string()});
}

TEST_F(LibriSpeechFiles, FrameCountMismatchNamesTheUtteranceAndBothCounts) {
  // 26-495-0003 has 1600 samples (10 frames); give it 14 labels.
  auto line = [](const std::string& id, int n) {
    std::string s = id;
    for (int i = 0; i < n; ++i) s += " 1";
    return s + "\n";
  };
  std::ofstream(root() / "converted_aligned_phones.txt", std::ios::trunc)
      << line("19-198-0001", 20) << line("19-198-0002", 31) << line("26-495-0003", 14);
  expect_refused(params(), {"26-495-0003", "14 frame labels", "10 frames"});
  // Within the tolerance (2 frames) it is accepted: the extra label is dropped.
  std::ofstream(root() / "converted_aligned_phones.txt", std::ios::trunc)
      << line("19-198-0001", 20) << line("19-198-0002", 31) << line("26-495-0003", 11);
  EXPECT_EQ(make("librispeech", params())
                ->get("train", torch::tensor({1}, torch::kLong))
                .labels.ge(0)
                .sum()
                .item<std::int64_t>(),
            10);
}

TEST_F(LibriSpeechFiles, WrongSampleRateNamesTheFileAndTheRate) {
  const fs::path f = root() / "train-clean-100" / "26" / "495" / "26-495-0003.flac";
  write_flac(f, tone(800, 2), 8000);
  expect_refused(params(), {f.string(), "8000 Hz"});
}

TEST_F(LibriSpeechFiles, UnreadableAudioNamesTheFile) {
  const fs::path f = root() / "train-clean-100" / "19" / "198" / "19-198-0001.flac";
  std::ofstream(f, std::ios::trunc) << "this is not FLAC";
  expect_refused(params(), {f.string(), "cannot read"});
}

TEST_F(LibriSpeechFiles, EmptySplitIsRefused) {
  std::ofstream(root() / "test_split.txt", std::ios::trunc) << "\n";
  expect_refused(params(), {"test split is empty", (root() / "test_split.txt").string()});
}

TEST_F(LibriSpeechFiles, AnUtteranceInBothSplitsIsRefused) {
  std::ofstream(root() / "test_split.txt", std::ios::trunc) << "19-198-0002\n19-198-0001\n";
  expect_refused(params(), {"19-198-0001 is in the train list and again in the test list",
                            (root() / "test_split.txt").string()});
}

TEST_F(LibriSpeechFiles, BadLabelNamesFileAndLine) {
  std::ofstream(root() / "converted_aligned_phones.txt", std::ios::app) << "27-1-0001 3 x 4\n";
  expect_refused(params(), {"converted_aligned_phones.txt:4", "label 'x'"});
}

}  // namespace
}  // namespace rpcbench
