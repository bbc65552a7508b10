#include "synthesis.hpp"

#include <espeak-ng/speak_lib.h>
#if RPCBENCH_ESPEAK_NG_HAS_RAND_SEED
#include <espeak-ng/espeak_ng.h>
#endif
#include <soxr.h>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace rpcbench::espeak {
namespace {

namespace fs = std::filesystem;

struct Capture {
  std::vector<std::int16_t> audio;
  std::vector<std::pair<std::int64_t, std::string>> events;  // (sample at espeak's rate, phoneme)
};

// Retrieval mode: audio blocks and their events. The user data rides on every event, the list
// terminator included, so blocks without events are captured too.
int on_synth(short* wav, int count, espeak_EVENT* event) {
  auto* capture = static_cast<Capture*>(event->user_data);
  if (capture == nullptr) return 0;
  for (; event->type != espeakEVENT_LIST_TERMINATED; ++event)
    if (event->type == espeakEVENT_PHONEME) {
      const char* name = event->id.string;
      capture->events.emplace_back(event->sample,
                                   std::string(name, strnlen(name, sizeof event->id.string)));
    }
  if (wav != nullptr && count > 0) capture->audio.insert(capture->audio.end(), wav, wav + count);
  return 0;
}

template <class T>
void put(std::ostream& out, const T& v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof v);
}
template <class T>
T take(std::istream& in) {
  T v{};
  in.read(reinterpret_cast<char*>(&v), sizeof v);
  if (!in) throw std::runtime_error("espeak_corpus: a synthesis shard is truncated");
  return v;
}

// Runs in the child: everything espeak-ng touches stays in this process.
void synthesise_speaker(const SpeakerRequest& speaker, std::int64_t rate, std::int64_t pad_to,
                        const fs::path& out_path) {
  const int native =
      espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr,
                        espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_DONT_EXIT);
  if (native <= 0)
    throw std::runtime_error("espeak-ng failed to initialise (is espeak-ng-data installed?)");
  espeak_SetSynthCallback(on_synth);
  const char* data_path = nullptr;
  espeak_Info(&data_path);
  // espeak-ng accepts an unknown variant silently (and speaks without it): check the file.
  const fs::path variant_file =
      fs::path(data_path ? data_path : "") / "voices" / "!v" / speaker.variant;
  if (speaker.variant.empty() || !fs::is_regular_file(variant_file))
    throw std::runtime_error("unknown espeak-ng variant '" + speaker.variant + "' (no file '" +
                             variant_file.string() + "')");
  const std::string name = speaker.voice + "+" + speaker.variant;
  if (espeak_SetVoiceByName(name.c_str()) != EE_OK)
    throw std::runtime_error("unknown espeak-ng voice '" + speaker.voice +
                             "' (espeak-ng --voices lists them)");
  espeak_SetParameter(espeakRATE, speaker.rate, 0);
  espeak_SetParameter(espeakPITCH, speaker.pitch, 0);
  espeak_SetParameter(espeakRANGE, speaker.range, 0);

  const soxr_io_spec_t io = soxr_io_spec(SOXR_INT16_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);  // linear phase: no time shift
  const double ratio = static_cast<double>(rate) / native;
  std::ofstream out(out_path, std::ios::binary);
  put<std::uint64_t>(out, speaker.utterances.size());
  for (const UtteranceRequest& request : speaker.utterances) {
    Capture capture;
    std::srand(request.rand_seed);
#if RPCBENCH_ESPEAK_NG_HAS_RAND_SEED
    espeak_ng_SetRandSeed(static_cast<long>(request.rand_seed));  // 1.52+: its own generator
#endif
    const espeak_ERROR rc = espeak_Synth(request.text.c_str(), request.text.size() + 1, 0,
                                         POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr, &capture);
    if (rc != EE_OK || espeak_Synchronize() != EE_OK)
      throw std::runtime_error("espeak-ng could not synthesise \"" + request.text + "\" (error " +
                               std::to_string(rc) + ")");
    std::vector<float> resampled(static_cast<std::size_t>(std::ceil(capture.audio.size() * ratio)) +
                                 16);
    std::size_t done = 0;
    if (const soxr_error_t error =
            soxr_oneshot(native, rate, 1, capture.audio.data(), capture.audio.size(), nullptr,
                         resampled.data(), resampled.size(), &done, &io, &quality, nullptr))
      throw std::runtime_error(std::string("libsoxr: ") + error);
    const std::int64_t lead = request.lead_ms * rate / 1000, trail = request.trail_ms * rate / 1000;
    std::int64_t total = lead + static_cast<std::int64_t>(done) + trail;
    total = (total + pad_to - 1) / pad_to * pad_to;
    std::vector<std::int16_t> audio(total, 0);
    for (std::size_t i = 0; i < done; ++i)
      audio[lead + i] = static_cast<std::int16_t>(
          std::lrint(std::clamp(resampled[i] * 32768.0f, -32768.0f, 32767.0f)));
    put<std::uint64_t>(out, audio.size());
    out.write(reinterpret_cast<const char*>(audio.data()),
              static_cast<std::streamsize>(audio.size() * 2));
    put<std::uint64_t>(out, capture.events.size());
    for (const auto& [sample, phoneme] : capture.events) {
      put<std::int64_t>(out, lead + std::llround(sample * ratio));
      put<std::uint8_t>(out, static_cast<std::uint8_t>(phoneme.size()));
      out.write(phoneme.data(), static_cast<std::streamsize>(phoneme.size()));
    }
  }
  out.close();
  if (!out) throw std::runtime_error("cannot write '" + out_path.string() + "'");
}

std::vector<Utterance> read_shard(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("espeak_corpus: cannot read '" + path.string() + "'");
  std::vector<Utterance> utterances(take<std::uint64_t>(in));
  for (Utterance& u : utterances) {
    u.audio.resize(take<std::uint64_t>(in));
    in.read(reinterpret_cast<char*>(u.audio.data()),
            static_cast<std::streamsize>(u.audio.size() * 2));
    u.events.resize(take<std::uint64_t>(in));
    for (Event& e : u.events) {
      e.start = take<std::int64_t>(in);
      e.phoneme.resize(take<std::uint8_t>(in));
      in.read(e.phoneme.data(), static_cast<std::streamsize>(e.phoneme.size()));
    }
    if (!in) throw std::runtime_error("espeak_corpus: '" + path.string() + "' is truncated");
  }
  return utterances;
}

}  // namespace

std::string versions() {
  // espeak_Info only reports the compiled-in version string; it needs no initialisation.
  return std::string("espeak-ng ") + espeak_Info(nullptr) + "; " + soxr_version();
}

std::vector<std::vector<Utterance>> synthesise(const std::vector<SpeakerRequest>& speakers,
                                               std::int64_t rate, std::int64_t pad_to, int jobs,
                                               const fs::path& scratch) {
  fs::create_directories(scratch);
  // Children are waited for by pid, oldest first: never reaping a process the host started.
  std::deque<std::pair<pid_t, std::size_t>> running;
  std::string failure;
  auto reap = [&] {
    const auto [pid, s] = running.front();
    running.pop_front();
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
      if (errno != EINTR)
        throw std::runtime_error(std::string("espeak_corpus: waitpid: ") + std::strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
    std::ifstream err(scratch / ("speaker-" + std::to_string(s) + ".err"));
    std::stringstream text;
    text << err.rdbuf();
    if (failure.empty())
      failure = "speaker " + std::to_string(s) + " (" + speakers[s].voice + "+" +
                speakers[s].variant + "): " +
                (text.str().empty() ? (WIFSIGNALED(status) ? "synthesis killed by signal " +
                                                                 std::to_string(WTERMSIG(status))
                                                           : std::string("synthesis failed"))
                                    : text.str());
  };
  for (std::size_t s = 0; s < speakers.size() && failure.empty(); ++s) {
    while (static_cast<int>(running.size()) >= std::max(jobs, 1)) reap();
    if (!failure.empty()) break;
    const fs::path shard = scratch / ("speaker-" + std::to_string(s) + ".bin");
    const pid_t pid = fork();
    if (pid < 0)
      throw std::runtime_error(std::string("espeak_corpus: fork: ") + std::strerror(errno));
    if (pid == 0) {
      // The child: default signal handling (Ctrl-C ends it), no return into the harness.
      std::signal(SIGINT, SIG_DFL);
      std::signal(SIGTERM, SIG_DFL);
      int code = 0;
      try {
        synthesise_speaker(speakers[s], rate, pad_to, shard);
      } catch (const std::exception& e) {
        std::ofstream(scratch / ("speaker-" + std::to_string(s) + ".err")) << e.what();
        code = 1;
      }
      std::_Exit(code);
    }
    running.emplace_back(pid, s);
  }
  while (!running.empty()) reap();
  if (!failure.empty()) throw std::runtime_error("espeak_corpus: " + failure);
  std::vector<std::vector<Utterance>> out;
  out.reserve(speakers.size());
  for (std::size_t s = 0; s < speakers.size(); ++s)
    out.push_back(read_shard(scratch / ("speaker-" + std::to_string(s) + ".bin")));
  return out;
}

}  // namespace rpcbench::espeak
