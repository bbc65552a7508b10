// A labelled speech corpus synthesised with libespeak-ng: no download. Sentences are drawn from a
// word list a Debian package ships (wamerican) or from lines of a text file; speakers are
// espeak-ng voices × variants, each with its own pitch, pitch range and rate; audio is resampled
// to 16 kHz with libsoxr; each 10 ms frame is labelled with the phoneme espeak-ng reported at the
// frame's centre (its phoneme events carry sample positions), pauses and the edges as silence.
// Generated once per settings and cached on disk with a manifest; later runs load the cache.
#include "../common/speech_set.hpp"
#include "synthesis.hpp"

#include <openssl/evp.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace {

using rpcbench::ParamType;
namespace ds = rpcbench::datasets;
namespace fs = std::filesystem;

constexpr std::int64_t kRate = 16000, kStride = 160;
constexpr const char* kFormat =
    "rpcbench espeak_corpus 1";  // bump when the layout or labelling changes

constexpr rpcbench::ParamSpec kParams[] = {
    {"cache_dir", ParamType::text, "\"results/cache\"",
     "where generated corpora are kept (relative to the working folder)"},
    {"seed", ParamType::integer, "1",
     "generation seed: sentences, speaker settings, silences, split"},
    {"voices", ParamType::text, "\"en-us,en\"",
     "comma-separated espeak-ng voices (espeak-ng --voices)"},
    {"variants", ParamType::text, "\"m1,m2,m3,m4,m5,m7,f1,f2,f3,f4,f5,klatt\"",
     "comma-separated variants (files of espeak-ng-data/voices/!v); speakers = voices × variants"},
    {"utterances_per_speaker", ParamType::integer, "40", "the corpus size"},
    {"test_fraction", ParamType::real, "0.2",
     "share of each speaker's utterances in the test split (rounded; at least one each side)"},
    {"words_min", ParamType::integer, "4", "fewest words per sentence"},
    {"words_max", ParamType::integer, "10", "most words per sentence"},
    {"pitch_min", ParamType::integer, "25", "lowest base pitch (espeak-ng 0–100) a speaker draws"},
    {"pitch_max", ParamType::integer, "75", "highest base pitch"},
    {"rate_min", ParamType::integer, "140",
     "slowest speaking rate a speaker draws (words per minute)"},
    {"rate_max", ParamType::integer, "210", "fastest speaking rate"},
    {"edge_silence_ms", ParamType::integer, "200",
     "silence before and after each utterance: uniform in [half, all] of this"},
    {"word_list", ParamType::path, "\"\"",
     "one word a line; lower-case a–z words of 2–12 letters are used (\"\": Debian's wamerican, "
     "/usr/share/dict/american-english)"},
    {"sentence_file", ParamType::path, "\"\"",
     "if set: sentences are its non-empty lines (in turn) instead of random words"},
    {"jobs", ParamType::integer, "0",
     "synthesis processes (0: one per core); does not change the corpus"},
};

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
// Library distributions differ between standard libraries; these do not.
std::int64_t uniform_int(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < length; ++i) out += {hex[digest[i] >> 4], hex[digest[i] & 15]};
  return out;
}

// Word lists and sentence files are text of a few MB: a device, a FIFO or a huge file is refused
// before it is read (/dev/zero read until bad_alloc, a FIFO hung).
constexpr std::uintmax_t kMaxTextBytes = 64u << 20;
constexpr const char* kDefaultWordList = "/usr/share/dict/american-english";

std::string read_text(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw std::runtime_error("espeak_corpus: the " + what + " '" + path.string() + "' is not a regular file");
  if (fs::file_size(path, ec) > kMaxTextBytes || ec)
    throw std::runtime_error("espeak_corpus: the " + what + " '" + path.string() + "' is larger than " +
                             std::to_string(kMaxTextBytes >> 20) + " MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("espeak_corpus: cannot read the " + what + " '" + path.string() + "'");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> split_list(const std::string& text, const rpcbench::Params& p,
                                    const char* key) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) p.fail(key, "has an empty entry in \"" + text + "\"");
    out.push_back(item);
  }
  if (out.empty()) p.fail(key, "is empty");
  return out;
}

struct Loaded {
  ds::SpeechSet set;
  std::vector<std::int16_t> audio;
  std::vector<std::int64_t> sample_offset;
  nlohmann::json manifest;
};

template <class T>
void put(std::ostream& out, const T& v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof v);
}
template <class T>
void put_vector(std::ostream& out, const std::vector<T>& v) {
  put<std::uint64_t>(out, v.size());
  out.write(reinterpret_cast<const char*>(v.data()),
            static_cast<std::streamsize>(v.size() * sizeof(T)));
}
void put_strings(std::ostream& out, const std::vector<std::string>& v) {
  put<std::uint64_t>(out, v.size());
  for (const auto& s : v) {
    put<std::uint64_t>(out, s.size());
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
  }
}
struct Reader {
  const std::string& bytes;
  std::size_t at = 0;
  template <class T>
  T get() {
    if (at + sizeof(T) > bytes.size()) throw std::runtime_error("truncated");
    T v;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    at += sizeof v;
    return v;
  }
  template <class T>
  std::vector<T> vec() {
    const auto n = get<std::uint64_t>();
    if (n > (bytes.size() - at) / sizeof(T)) throw std::runtime_error("truncated");
    std::vector<T> v(n);
    std::memcpy(v.data(), bytes.data() + at, n * sizeof(T));
    at += n * sizeof(T);
    return v;
  }
  std::vector<std::string> strings() {
    std::vector<std::string> v(get<std::uint64_t>());
    for (auto& s : v) {
      const auto n = get<std::uint64_t>();
      if (n > bytes.size() - at) throw std::runtime_error("truncated");
      s.assign(bytes.data() + at, n);
      at += n;
    }
    return v;
  }
};

// The corpus file: every array of the set, then the audio. Little-endian, this machine's cache.
std::string serialise(const Loaded& c) {
  std::ostringstream out;
  out << kFormat << '\n';
  put_strings(out, c.set.class_names);
  put_strings(out, c.set.speaker_names);
  put_strings(out, c.set.ids);
  put_vector(out, c.set.speaker);
  put_vector(out, c.set.samples);
  put_vector(out, c.set.frames);
  put_vector(out, c.set.labels);
  put_vector(out, c.set.splits.at("train"));
  put_vector(out, c.set.splits.at("test"));
  put_vector(out, c.audio);
  return out.str();
}

Loaded deserialise(const std::string& bytes) {
  const std::string head = std::string(kFormat) + '\n';
  if (bytes.compare(0, head.size(), head) != 0)
    throw std::runtime_error("not a corpus of format '" + std::string(kFormat) + "'");
  Reader r{bytes, head.size()};
  Loaded c;
  c.set.class_names = r.strings();
  c.set.speaker_names = r.strings();
  c.set.ids = r.strings();
  c.set.speaker = r.vec<std::int64_t>();
  c.set.samples = r.vec<std::int64_t>();
  c.set.frames = r.vec<std::int64_t>();
  c.set.labels = r.vec<std::int16_t>();
  c.set.splits["train"] = r.vec<std::int64_t>();
  c.set.splits["test"] = r.vec<std::int64_t>();
  c.audio = r.vec<std::int16_t>();
  const std::size_t n = c.set.ids.size();
  if (c.set.speaker.size() != n || c.set.samples.size() != n || c.set.frames.size() != n ||
      r.at != bytes.size())
    throw std::runtime_error("inconsistent arrays");
  std::int64_t samples = 0, frames = 0;
  for (std::size_t u = 0; u < n; ++u) {
    c.sample_offset.push_back(samples);
    c.set.frame_offset.push_back(frames);
    samples += c.set.samples[u];
    frames += c.set.frames[u];
  }
  if (samples != static_cast<std::int64_t>(c.audio.size()) ||
      frames != static_cast<std::int64_t>(c.set.labels.size()))
    throw std::runtime_error("inconsistent sizes");
  return c;
}

class EspeakCorpus : public ds::SpeechDataset {
 public:
  explicit EspeakCorpus(const rpcbench::Params& p) {
    const auto voices = split_list(p.get_string("voices"), p, "voices");
    const auto variants = split_list(p.get_string("variants"), p, "variants");
    const std::int64_t per_speaker = p.get_int_in("utterances_per_speaker", 2, 1000000);
    const double test_fraction = p.get_double_in("test_fraction", 0.0, 1.0);
    // Every speaker needs an utterance on each side (the speaker probe): the share is rounded
    // and kept within [1, n − 1] utterances, so 0 and 1 themselves cannot be honoured.
    if (!(test_fraction > 0.0 && test_fraction < 1.0))
      p.fail("test_fraction", "must be strictly between 0 and 1 (every speaker needs an utterance "
                              "in both splits), got " + [&] {
                                std::ostringstream os;
                                os << test_fraction;
                                return os.str();
                              }());
    const std::int64_t words_min = p.get_int_in("words_min", 1, 200),
                       words_max = p.get_int_in("words_max", words_min, 200);
    const std::int64_t pitch_min = p.get_int_in("pitch_min", 0, 100),
                       pitch_max = p.get_int_in("pitch_max", pitch_min, 100);
    const std::int64_t rate_min = p.get_int_in("rate_min", 80, 450),
                       rate_max = p.get_int_in("rate_max", rate_min, 450);
    const std::int64_t edge_ms = p.get_int_in("edge_silence_ms", 0, 10000);
    const std::int64_t jobs = p.get_int_in("jobs", 0, 256);
    const std::uint64_t seed = static_cast<std::uint64_t>(p.get_int("seed"));

    // Sentences: random words of the list, or the file's lines in turn.
    std::vector<std::string> words, lines;
    const std::string& sentence_file = p.get_string("sentence_file");
    std::string text_source;
    if (!sentence_file.empty()) {
      text_source = read_text(sentence_file, "sentence_file");
      std::stringstream in(text_source);
      for (std::string line; std::getline(in, line);)
        if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
      if (lines.empty())
        throw std::runtime_error("espeak_corpus: sentence_file '" + sentence_file +
                                 "' has no sentences");
    } else {
      const std::string& list = p.get_string("word_list");
      text_source = read_text(list.empty() ? std::string(kDefaultWordList) : list, "word_list");
      static const std::regex plain("[a-z]{2,12}");
      std::stringstream in(text_source);
      for (std::string w; std::getline(in, w);)
        if (std::regex_match(w, plain)) words.push_back(w);
      if (words.empty())
        throw std::runtime_error("espeak_corpus: word_list '" + p.get_string("word_list") +
                                 "' has no lower-case a–z words");
    }

    // Everything the bytes depend on, hashed: a changed setting, word list or library regenerates.
    nlohmann::json settings;
    for (const auto& [key, value] : p.values())
      if (key != "cache_dir" && key != "jobs")
        std::visit([&, k = key](const auto& v) { settings[k] = v; }, value);
    settings["format"] = kFormat;
    settings["libraries"] = rpcbench::espeak::versions();
    settings["text_sha256"] = sha256_hex(text_source);
    // The text is keyed by its content above; the list's name as it was keyed before it became a
    // path parameter ("" now stands for the default), so that existing corpora stay valid.
    if (p.get_string("word_list").empty()) settings["word_list"] = kDefaultWordList;
    settings["sample_rate"] = kRate;
    settings["frame_stride"] = kStride;
    const std::string hash = sha256_hex(settings.dump());
    const fs::path dir =
        fs::path(p.get_string("cache_dir")) / ("espeak_corpus-" + hash.substr(0, 16));

    // One generation at a time in this process; a corpus loaded once is shared by every case.
    static std::mutex mutex;
    static std::map<std::string, std::shared_ptr<const Loaded>> loaded;  // by cache folder
    const std::string key = fs::absolute(dir).lexically_normal().string();
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = loaded.find(key); it != loaded.end()) {
      corpus_ = it->second;
      return;
    }
    if (auto cached = load(dir, hash)) {
      corpus_ = std::move(cached);
    } else {
      std::vector<rpcbench::espeak::SpeakerRequest> speakers;
      std::vector<std::string> speaker_names;
      std::size_t next_line = 0;
      for (const auto& voice : voices)
        for (const auto& variant : variants) {
          const std::int64_t s = static_cast<std::int64_t>(speakers.size());
          // Per speaker and per utterance generators: adding speakers or utterances keeps the rest.
          std::mt19937_64 rng(splitmix(seed ^ splitmix(static_cast<std::uint64_t>(s) + 1)));
          rpcbench::espeak::SpeakerRequest req;
          req.voice = voice;
          req.variant = variant;
          req.pitch = static_cast<int>(uniform_int(rng, pitch_min, pitch_max));
          req.range = static_cast<int>(uniform_int(rng, 30, 70));
          req.rate = static_cast<int>(uniform_int(rng, rate_min, rate_max));
          for (std::int64_t u = 0; u < per_speaker; ++u) {
            std::mt19937_64 urng(
                splitmix(seed ^ splitmix((static_cast<std::uint64_t>(s) << 32) + u + 7)));
            rpcbench::espeak::UtteranceRequest ur;
            if (!lines.empty()) {
              ur.text = lines[next_line++ % lines.size()];
            } else {
              const std::int64_t n = uniform_int(urng, words_min, words_max);
              for (std::int64_t w = 0; w < n; ++w)
                ur.text += (w ? " " : "") +
                           words[uniform_int(urng, 0, static_cast<std::int64_t>(words.size()) - 1)];
              ur.text += ".";
            }
            ur.rand_seed = static_cast<unsigned>(urng() & 0x7fffffff);
            ur.lead_ms = edge_ms > 0 ? uniform_int(urng, edge_ms / 2, edge_ms) : 0;
            ur.trail_ms = edge_ms > 0 ? uniform_int(urng, edge_ms / 2, edge_ms) : 0;
            req.utterances.push_back(std::move(ur));
          }
          speaker_names.push_back(voice + "+" + variant + " pitch " + std::to_string(req.pitch) +
                                  " range " + std::to_string(req.range) + " rate " +
                                  std::to_string(req.rate));
          speakers.push_back(std::move(req));
        }
      corpus_ =
          generate(speakers, speaker_names, seed, test_fraction,
                   jobs > 0 ? static_cast<int>(jobs)
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())),
                   settings, hash, dir);
    }
    loaded[key] = corpus_;
  }

 protected:
  const ds::SpeechSet& set() const override { return corpus_->set; }
  const std::int16_t* audio(std::int64_t u) override {
    return corpus_->audio.data() + corpus_->sample_offset[u];
  }
  std::string name() const override { return "espeak_corpus"; }

 private:
  // A cached corpus whose manifest names this hash and whose bytes match it; null otherwise.
  static std::shared_ptr<const Loaded> load(const fs::path& dir, const std::string& hash) {
    std::error_code ec;
    if (!fs::is_regular_file(dir / "manifest.json", ec) ||
        !fs::is_regular_file(dir / "corpus.bin", ec))
      return nullptr;
    try {
      auto manifest = nlohmann::json::parse(read_text(dir / "manifest.json", "manifest"));
      if (manifest.at("settings_hash") != hash) return nullptr;
      const std::string bytes = read_text(dir / "corpus.bin", "corpus");
      if (sha256_hex(bytes) != manifest.at("corpus_sha256")) {
        std::fprintf(stderr,
                     "espeak_corpus: '%s' does not match its manifest; generating it again\n",
                     (dir / "corpus.bin").c_str());
        return nullptr;
      }
      auto c = std::make_shared<Loaded>(deserialise(bytes));
      c->manifest = std::move(manifest);
      return c;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "espeak_corpus: cannot use the cache '%s' (%s); generating it again\n",
                   dir.c_str(), e.what());
      return nullptr;
    }
  }

  static std::shared_ptr<const Loaded> generate(
      const std::vector<rpcbench::espeak::SpeakerRequest>& speakers,
      const std::vector<std::string>& speaker_names, std::uint64_t seed, double test_fraction,
      int jobs, const nlohmann::json& settings, const std::string& hash, const fs::path& dir) {
    const auto start = std::chrono::steady_clock::now();
    const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (!fs::is_directory(parent, ec))
      throw std::runtime_error("espeak_corpus: cannot create the cache folder '" + parent.string() +
                               "'");
    const fs::path tmp = parent / (dir.filename().string() + ".tmp-" + std::to_string(getpid()));
    fs::remove_all(tmp, ec);
    std::vector<std::vector<rpcbench::espeak::Utterance>> synthesised;
    try {
      synthesised = rpcbench::espeak::synthesise(speakers, kRate, kStride, jobs, tmp / "scratch");
    } catch (...) {
      fs::remove_all(tmp, ec);
      throw;
    }

    // The phoneme inventory: every name that occurs, sorted; class 0 is silence (pauses, edges).
    std::set<std::string> names;
    for (const auto& speaker : synthesised)
      for (const auto& u : speaker)
        for (const auto& e : u.events)
          if (!e.phoneme.empty() && e.phoneme[0] != '_') names.insert(e.phoneme);
    auto c = std::make_shared<Loaded>();
    c->set.sample_rate = kRate;
    c->set.frame_stride = kStride;
    c->set.class_names = {"sil"};
    c->set.class_names.insert(c->set.class_names.end(), names.begin(), names.end());
    std::map<std::string, std::int16_t> label_of;
    for (std::size_t i = 0; i < c->set.class_names.size(); ++i)
      label_of[c->set.class_names[i]] = static_cast<std::int16_t>(i);
    c->set.speaker_names = speaker_names;
    auto& train = c->set.splits["train"];
    auto& test = c->set.splits["test"];
    for (std::size_t s = 0; s < synthesised.size(); ++s) {
      const auto& utterances = synthesised[s];
      std::vector<std::int64_t> members;
      for (std::size_t u = 0; u < utterances.size(); ++u) {
        const auto& utt = utterances[u];
        // A frame takes the phoneme sounding at its centre.
        std::vector<std::int16_t> frames(utt.audio.size() / kStride, 0);
        std::size_t e = 0;
        std::int16_t current = 0;
        for (std::size_t f = 0; f < frames.size(); ++f) {
          const std::int64_t centre = static_cast<std::int64_t>(f) * kStride + kStride / 2;
          for (; e < utt.events.size() && utt.events[e].start <= centre; ++e)
            if (!utt.events[e].phoneme.empty())
              current = utt.events[e].phoneme[0] == '_' ? 0 : label_of.at(utt.events[e].phoneme);
          frames[f] = current;
        }
        c->sample_offset.push_back(static_cast<std::int64_t>(c->audio.size()));
        c->audio.insert(c->audio.end(), utt.audio.begin(), utt.audio.end());
        members.push_back(c->set.add("s" + std::to_string(s) + "-u" + std::to_string(u),
                                     static_cast<std::int64_t>(s),
                                     static_cast<std::int64_t>(utt.audio.size()), frames));
      }
      // Split by utterance within each speaker: every speaker on both sides.
      std::mt19937_64 rng(splitmix(seed ^ 0x5eed5011ull ^ splitmix(s + 1)));
      for (std::size_t i = members.size(); i > 1; --i)
        std::swap(members[i - 1], members[uniform_int(rng, 0, i - 1)]);
      const auto n = static_cast<std::int64_t>(members.size());
      const std::int64_t n_test =
          std::clamp<std::int64_t>(std::llround(test_fraction * n), 1, n - 1);
      test.insert(test.end(), members.begin(), members.begin() + n_test);
      train.insert(train.end(), members.begin() + n_test, members.end());
    }
    std::sort(train.begin(), train.end());
    std::sort(test.begin(), test.end());

    const std::string bytes = serialise(*c);
    double train_samples = 0, test_samples = 0;
    for (auto u : train) train_samples += static_cast<double>(c->set.samples[u]);
    for (auto u : test) test_samples += static_cast<double>(c->set.samples[u]);
    c->manifest = {
        {"settings", settings},
        {"settings_hash", hash},
        {"corpus_sha256", sha256_hex(bytes)},
        {"speakers", speaker_names},
        {"phonemes", c->set.class_names},
        {"utterances", {{"train", train.size()}, {"test", test.size()}}},
        {"hours",
         {{"train", train_samples / kRate / 3600.0}, {"test", test_samples / kRate / 3600.0}}},
        {"generation_seconds",
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
    };
    {
      std::ofstream corpus(tmp / "corpus.bin", std::ios::binary), manifest(tmp / "manifest.json");
      corpus << bytes;
      manifest << c->manifest.dump(2) << '\n';
      if (!corpus.flush() || !manifest.flush()) {
        fs::remove_all(tmp, ec);
        throw std::runtime_error("espeak_corpus: cannot write the cache in '" + tmp.string() + "'");
      }
    }
    fs::remove_all(tmp / "scratch", ec);
    // Publish atomically; another process may have published the same corpus meanwhile.
    fs::remove_all(dir, ec);
    fs::rename(tmp, dir, ec);
    if (ec) fs::remove_all(tmp, ec);
    return c;
  }

  std::shared_ptr<const Loaded> corpus_;
};

}  // namespace

RPCBENCH_DATASET(
    EspeakCorpus, "espeak_corpus", "1.0.0",
    "speech synthesised with espeak-ng: 16 kHz, 10 ms phoneme labels, speakers = voices × variants",
    kParams)
