// The one place that talks to libespeak-ng (and libsoxr). espeak-ng keeps global state: it is not
// thread-safe, and its output depends on what it synthesised before in the same process (noise
// from rand(), filter and phase state carried between messages), and it cannot be initialised a
// second time after espeak_Terminate. So each speaker is synthesised in a fresh child process:
// its audio depends only on its own settings, and the parent never initialises espeak at all.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace rpcbench::espeak {

struct Event {
  std::int64_t start;   // first sample at the output rate
  std::string phoneme;  // espeak-ng's mnemonic ("h", "@", "oU"); "_…" are pauses
};

struct Utterance {
  std::vector<std::int16_t> audio;  // at the output rate, leading and trailing silence included
  std::vector<Event> events;        // in order of start
};

struct UtteranceRequest {
  std::string text;
  unsigned rand_seed = 1;    // espeak-ng's noise (rand() up to 1.51, its own generator from 1.52): seeded per utterance
  std::int64_t lead_ms = 0;  // silence added before and after the speech
  std::int64_t trail_ms = 0;
};

struct SpeakerRequest {
  std::string voice;    // espeak-ng voice name ("en-us")
  std::string variant;  // a file of espeak-ng-data/voices/!v ("m3", "f2", "klatt")
  int pitch = 50;       // espeakPITCH, 0–100
  int range = 50;       // espeakRANGE (pitch range), 0–100
  int rate = 175;       // espeakRATE, words per minute
  std::vector<UtteranceRequest> utterances;
};

// "espeak-ng 1.51; libsoxr-0.1.3": what the audio depends on besides the requests.
std::string versions();

// Synthesises every speaker, up to `jobs` child processes at a time, resampled to `rate` Hz with
// libsoxr (high quality, linear phase) and padded with zeros to a multiple of `pad_to` samples.
// Throws std::runtime_error with the child's message (unknown voice or variant, synthesis error).
std::vector<std::vector<Utterance>> synthesise(const std::vector<SpeakerRequest>& speakers,
                                               std::int64_t rate, std::int64_t pad_to, int jobs,
                                               const std::filesystem::path& scratch);

}  // namespace rpcbench::espeak
