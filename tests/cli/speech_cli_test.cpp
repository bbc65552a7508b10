// The speech suite end to end: the quick profile into a fresh database, LibriSpeech input refused
// before any row, a NaN objective marked diverged, and checkpoint/resume bit for bit.
#include "db/database.hpp"
#include "test_support.hpp"
#include "util/format.hpp"

#include <sndfile.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

namespace rpcbench {
namespace {

using test::harness;
using test::run_command;

std::string speech_suite() { return std::string(RPCBENCH_SOURCE_DIR) + "/suites/speech.toml"; }

std::int64_t count(const std::filesystem::path& db, const std::string& sql) {
  Database d(db, Database::Mode::read_only);
  auto s = d.prepare(sql);
  s.step();
  return s.column_int(0);
}

TEST(CliSpeech, QuickProfileRecordsTheControlProbesAndTrainingCurves) {
  test::TempDir dir;
  const auto db = dir.path() / "speech.db";
  const auto r = run_command(harness() + " run " + speech_suite() +
                             " --profile quick --quiet --db " + db.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("random_init (control)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("phoneme top-1"), std::string::npos);
  EXPECT_NE(r.output.find("protocol:"), std::string::npos);
  EXPECT_NE(r.output.find("h train"), std::string::npos);
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM runs WHERE status = 'finished' AND task = 'cpc' AND "
                  "profile = 'quick'"),
            1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases"), 7);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE status = 'finished'"), 7);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE objective = 'random_init'"), 1);
  for (const char* metric : {"phoneme_top1", "speaker_top1", "phoneme_majority"})
    EXPECT_EQ(
        count(db, std::string("SELECT count(*) FROM summaries WHERE scope = '' AND name = '") +
                      metric + "' AND value BETWEEN 0 AND 1"),
        7)
        << metric;
  // One corpus for every case: the same majority baseline, the same hours.
  EXPECT_EQ(
      count(db, "SELECT count(DISTINCT value) FROM summaries WHERE name = 'phoneme_majority'"), 1);
  EXPECT_EQ(
      count(db,
            "SELECT count(DISTINCT value) FROM summaries WHERE name = 'train_hours' AND value > 0"),
      1);
  // Every trained case: one loss, MI, gradient norm and rate per step (6 steps), the control none.
  for (const char* metric : {"loss", "mi", "grad_norm", "frames_per_second", "prediction_accuracy"})
    EXPECT_EQ(
        count(
            db,
            std::string(
                "SELECT count(*) FROM samples s JOIN cases c USING (case_id) WHERE c.objective != "
                "'random_init' AND s.name = '") +
                metric + "'"),
        6 * 6)
        << metric;
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM samples s JOIN cases c USING (case_id) WHERE c.objective = "
                  "'random_init' "
                  "AND s.name = 'loss'"),
            0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM summaries WHERE name = 'steps' AND value = 6"), 6);
  // The phoneme probe sees every test frame: the same count in every case.
  EXPECT_EQ(count(db,
                  "SELECT count(DISTINCT value) FROM summaries WHERE name = 'probe_test_frames' "
                  "AND value > 100"),
            1);
  // InfoNCE's estimate never exceeds its ceiling log(negatives + 1) = log 17.
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM samples s JOIN cases c USING (case_id) WHERE c.objective = "
                  "'infonce' "
                  "AND s.name = 'mi' AND s.value > ln(17) + 1e-9"),
            0);
  // The report has the speech table (7 rows), the probe bars and the training curves.
  const auto out = dir.path() / "report";
  const auto rep =
      run_command(harness() + " report --db " + db.string() + " --out " + out.string());
  ASSERT_EQ(rep.exit_code, 0) << rep.output;
  std::ifstream html_file(out / "index.html");
  const std::string html((std::istreambuf_iterator<char>(html_file)),
                         std::istreambuf_iterator<char>());
  auto occurrences = [&](const std::string& needle) {
    std::size_t n = 0;
    for (auto at = html.find(needle); at != std::string::npos; at = html.find(needle, at + 1)) ++n;
    return n;
  };
  // The cases table carries the task's headline metrics: a row per case with its probes.
  EXPECT_EQ(occurrences("<th>phoneme top-1</th><th>speaker top-1</th>"), 1u);
  EXPECT_EQ(occurrences("<tr><td>"), 7u) << "a row per case in the cases table";
  {
    Database d(db, Database::Mode::read_only);
    auto q = d.prepare("SELECT value FROM summaries WHERE scope = '' AND name IN ('phoneme_top1', 'speaker_top1')");
    int rows = 0;
    while (q.step()) {
      ++rows;
      EXPECT_NE(html.find("<td>" + format_fixed(q.column_double(0), 4) + "</td>"), std::string::npos)
          << q.column_double(0);
    }
    EXPECT_EQ(rows, 14);
  }
  EXPECT_NE(html.find("Frozen-feature probes on espeak"), std::string::npos);
  EXPECT_NE(html.find("Training loss on espeak"), std::string::npos);
  EXPECT_NE(html.find("MI estimate (mean over prediction steps) on espeak"), std::string::npos);
  EXPECT_EQ(occurrences("<svg "), occurrences("</svg>"));
  // The protocol is in each case's recorded config.
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM cases WHERE config_text LIKE '%\"predict_steps\":4%' AND "
                  "config_text LIKE '%\"probe_features\":\"context\"%'"),
            7);
}

void write_flac(const std::filesystem::path& path, std::int64_t samples) {
  std::filesystem::create_directories(path.parent_path());
  SF_INFO info{};
  info.samplerate = 16000;
  info.channels = 1;
  info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  std::vector<std::int16_t> v(samples);
  for (std::int64_t i = 0; i < samples; ++i)
    v[i] = static_cast<std::int16_t>(3000 * std::sin(0.05 * i));
  sf_writef_short(f, v.data(), samples);
  sf_close(f);
}

// The full profile's dataset with a bad alignment: exit 2, the culprit named, no row written.
TEST(CliSpeech, BadLibriSpeechInputIsRefusedBeforeAnyRow) {
  test::TempDir dir;
  const auto root = dir.path() / "LibriSpeech";
  write_flac(root / "train-clean-100" / "19" / "198" / "19-198-0001.flac", 32000);
  write_flac(root / "train-clean-100" / "19" / "198" / "19-198-0002.flac", 32000);
  std::string ok = "19-198-0001", bad = "19-198-0002";
  for (int i = 0; i < 200; ++i) ok += " 1";
  for (int i = 0; i < 150; ++i) bad += " 1";
  std::ofstream(root / "converted_aligned_phones.txt") << ok << "\n" << bad << "\n";
  std::ofstream(root / "train_split.txt") << "19-198-0001\n";
  std::ofstream(root / "test_split.txt") << "19-198-0002\n";
  std::ifstream in(speech_suite());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from = "root = \"data/LibriSpeech\"";
  ASSERT_NE(text.find(from), std::string::npos);
  const auto suite = dir.write("speech.toml", text.replace(text.find(from), from.size(),
                                                           "root = \"" + root.string() + "\""));
  const auto db = dir.path() / "r.db";
  Database(db, Database::Mode::read_write);
  auto r =
      run_command(harness() + " run " + suite.string() + " --profile full --db " + db.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(
      r.output.find("utterance 19-198-0002 has 150 frame labels but its audio has 200 frames"),
      std::string::npos)
      << r.output;
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases"), 0);

  std::filesystem::remove_all(root / "train-clean-100");
  r = run_command(harness() + " run " + suite.string() + " --profile full --db " + db.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find((root / "train-clean-100").string() + "' does not exist"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 0);
}

// A small cpc suite of the given tail, on a tiny espeak corpus cached in `cache`.
std::string tiny_speech_suite(const std::filesystem::path& cache, const std::string& task_extra,
                              const std::string& tail) {
  return "[suite]\nname = \"speech-tiny\"\ntask = \"cpc\"\nthreads = 1\n"
         "[task]\nbatch_size = 4\nwindow = 3200\npredict_steps = 3\nnegatives = 8\nphoneme_epochs "
         "= 1\n"
         "speaker_epochs = 2\n" +
         task_extra +
         "[encoder]\nplugin = \"cpc_audio\"\nchannels = 8\ncontext = 8\n"
         "[[datasets]]\nplugin = \"espeak_corpus\"\ncache_dir = \"" +
         cache.string() +
         "\"\nvoices = \"en-us\"\nvariants = \"m1,f2\"\nutterances_per_speaker = 4\nwords_min = "
         "2\nwords_max = 4\n" +
         tail;
}

// Task settings that cannot work with the dataset or encoder: exit 2 before any row.
TEST(CliSpeech, ImpossibleTaskSettingsAreRefusedByName) {
  test::TempDir dir;
  const auto db = dir.path() / "r.db";
  Database(db, Database::Mode::read_write);
  const std::string objectives = "[[objectives]]\nplugin = \"infonce\"\n";
  for (const auto& [extra, needle] : std::vector<std::pair<std::string, std::string>>{
           {"window = 3000\n",
            "parameter 'window' must be a multiple of the frame stride 160, got 3000"},
           {"window = 480\n",
            "parameter 'window' must hold more than predict_steps (3) frames, got 3"},
           {"window = 1600000\n", "parameter 'window' is longer than every training utterance"},
           {"speakers_per_batch = 3\n",
            "parameter 'speakers_per_batch' must divide batch_size (4), got 3"},
           {"speakers_per_batch = 4\n",
            "asks for 4 speakers but only 2 have an utterance as long as the window"},
           {"negative_sampling = \"nearby\"\n", "must be batch or same_speaker, got \"nearby\""}}) {
    // tiny_speech_suite sets window = 3200 first; a later key in [task] would be a TOML error, so
    // replace it.
    std::string text = tiny_speech_suite(dir.path() / "cache", extra, objectives);
    if (extra.rfind("window", 0) == 0) text.erase(text.find("window = 3200\n"), 14);
    const auto suite = dir.write("s.toml", text);
    const auto r = run_command(harness() + " run " + suite.string() + " --db " + db.string());
    EXPECT_EQ(r.exit_code, 2) << extra << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  }
  // A grid value is checked against the data like a [task] value.
  const auto swept = dir.write("swept.toml", tiny_speech_suite(dir.path() / "cache", "", objectives) +
                                                 "\n[sweep]\ntask.window = [3200, 1600000]\n");
  const auto r = run_command(harness() + " run " + swept.string() + " --db " + db.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("parameter 'window' is longer than every training utterance"), std::string::npos)
      << r.output;
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 0);
}

TEST(CliSpeech, NanLossMarksTheCaseDivergedAndTheSuiteGoesOn) {
  test::TempDir dir;
  const auto db = dir.path() / "r.db";
  // Three objective calls per step (k = 1, 2, 3): call 7 is step 2's k = 2.
  const auto suite = dir.write(
      "s.toml", tiny_speech_suite(dir.path() / "cache", "steps_per_epoch = 5\n",
                                  "[[objectives]]\nplugin = \"fixture_nan\"\nlabel = \"diverges\"\n"
                                  "nan_at_call = 7\n[[objectives]]\nplugin = \"infonce\"\n"));
  const auto r = run_command(harness() + " run " + suite.string() + " --quiet --plugins " +
                             std::string(RPCBENCH_FIXTURE_DIR) + "/good --db " + db.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM cases WHERE objective = 'diverges' AND status = 'diverged' "
                  "AND stopped_step = 2 AND message = 'loss is nan at step 2'"),
            1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE status = 'finished'"),
            2);  // control and infonce
  EXPECT_NE(r.output.find("diverged @2"), std::string::npos) << r.output;
}

// A cpc case stopped after a checkpoint and resumed records exactly what an uninterrupted run
// records: every sample bit for bit, and the same accuracies.
TEST(CliSpeech, CheckpointResumeEqualsAnUninterruptedRun) {
  test::TempDir a, b;
  const std::string extra =
      "epochs = 8\nsteps_per_epoch = 4\ncheckpoint_every = 1\ncontrol = false\n";
  const std::string objectives = "[[objectives]]\nplugin = \"rpc\"\n";
  const auto suite_a = a.write("s.toml", tiny_speech_suite(a.path() / "cache", extra, objectives));
  // One corpus: generated by the first run, loaded from the cache by the second.
  const auto suite_b = b.write("s.toml", tiny_speech_suite(a.path() / "cache", extra, objectives));
  const auto db_a = a.path() / "r.db", db_b = b.path() / "r.db";
  ASSERT_EQ(run_command(harness() + " run " + suite_a.string() + " --quiet --db " + db_a.string())
                .exit_code,
            0);
  run_command(harness() + " run " + suite_b.string() + " --quiet --db " + db_b.string() + " > " +
              (b.path() / "log").string() + " 2>&1 & echo $! > " + (b.path() / "pid").string());
  std::string pid;
  std::ifstream(b.path() / "pid") >> pid;
  bool checkpointed = false;
  for (int i = 0; i < 6000 && !checkpointed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::error_code ec;
    if (std::filesystem::is_directory(b.path() / "checkpoints", ec))
      for (const auto& f : std::filesystem::directory_iterator(b.path() / "checkpoints", ec))
        checkpointed |= f.path().extension() == ".pt";
  }
  ASSERT_TRUE(checkpointed);
  run_command("kill -TERM " + pid + "; while kill -0 " + pid + " 2>/dev/null; do sleep 0.05; done");
  ASSERT_EQ(count(db_b, "SELECT count(*) FROM cases WHERE status = 'killed'"), 1);
  const auto resumed = run_command(harness() + " run " + suite_b.string() +
                                   " --resume --quiet --db " + db_b.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;

  auto rows = [](const std::filesystem::path& db) {
    Database d(db, Database::Mode::read_only);
    std::vector<std::tuple<std::string, std::int64_t, double>> out;
    auto s = d.prepare(
        "SELECT name, step, value FROM samples WHERE name != 'frames_per_second' ORDER BY name, "
        "step");
    while (s.step()) out.emplace_back(s.column_text(0), s.column_int(1), s.column_double(2));
    auto v = d.prepare(
        "SELECT name, value FROM summaries WHERE name IN ('phoneme_top1', 'speaker_top1', "
        "'final_loss', "
        "'steps') ORDER BY name");
    while (v.step()) out.emplace_back(v.column_text(0), -1, v.column_double(1));
    return out;
  };
  const auto ra = rows(db_a), rb = rows(db_b);
  ASSERT_GT(ra.size(), 8u * 4u * 4u);
  ASSERT_EQ(ra.size(), rb.size());
  for (std::size_t i = 0; i < ra.size(); ++i) {
    ASSERT_EQ(std::get<0>(ra[i]), std::get<0>(rb[i]));
    ASSERT_EQ(std::get<1>(ra[i]), std::get<1>(rb[i]));
    const double x = std::get<2>(ra[i]), y = std::get<2>(rb[i]);
    ASSERT_EQ(std::memcmp(&x, &y, sizeof x), 0)
        << std::get<0>(ra[i]) << " at step " << std::get<1>(ra[i]);
  }
}

}  // namespace
}  // namespace rpcbench
