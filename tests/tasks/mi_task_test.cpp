// The mi task through the run loop: determinism bit for bit, divergence recorded as data, and the
// per-level statistics against the recorded per-step estimates.
#include "db/database.hpp"
#include "report/sqlite_reporter.hpp"
#include "run/environment.hpp"
#include "run/runner.hpp"
#include "stats/window_stats.hpp"
#include "test_support.hpp"

namespace rpcbench {
namespace {

const char* kSuite = R"toml([suite]
name = "tiny-mi"
task = "mi"
seed = 11

[task]
batch_size = 16
window = 8
learning_rate = 1e-3

[encoder]
plugin = "separable"
hidden = 32
embed = 8

[[datasets]]
plugin = "gaussian_staircase"
dim = 4
mi_levels = [1.0, 2.0]
steps_per_level = 20

[[objectives]]
plugin = "fixture_nan"
label = "diverges"
nan_at_call = 25

[[objectives]]
plugin = "rpc"

[[objectives]]
plugin = "smile"
)toml";

struct Recorded {
  std::vector<std::tuple<std::string, std::string, std::int64_t, double>> samples;  // key, name, step, value
  std::map<std::string, std::string> status, message;
  std::map<std::string, std::int64_t> stopped;
};

Recorded run_into(const std::filesystem::path& db_path, const std::filesystem::path& suite_path) {
  configure_threads(1);
  TaskCatalog tasks;
  const Suite suite = load_suite(suite_path, {}, test::real_plugins(), tasks);
  const auto cases = expand_cases(suite);
  Database db(db_path, Database::Mode::read_write);
  SqliteReporter sqlite(db);
  RunRequest request;
  request.suite = &suite;
  request.task = tasks.find("mi");
  request.registry = &test::real_plugins();
  request.info.provenance = {{"device", "cpu"}, {"threads", "1"}};
  request.info.started_at = utc_now();
  run_suite(request, cases, sqlite);

  Recorded r;
  auto s = db.prepare("SELECT c.case_key, s.name, s.step, s.value FROM samples s JOIN cases c USING (case_id) "
                      "ORDER BY c.case_key, s.name, s.step");
  while (s.step()) r.samples.emplace_back(s.column_text(0), s.column_text(1), s.column_int(2), s.column_double(3));
  auto c = db.prepare("SELECT case_key, status, message, stopped_step FROM cases");
  while (c.step()) {
    r.status[c.column_text(0)] = c.column_text(1);
    r.message[c.column_text(0)] = c.column_text(2);
    if (!c.is_null(3)) r.stopped[c.column_text(0)] = c.column_int(3);
  }
  return r;
}

class MiTask : public ::testing::Test {
 protected:
  test::TempDir dir;
  std::filesystem::path suite = dir.write("tiny.toml", kSuite);
};

TEST_F(MiTask, SameCaseTwiceGivesIdenticalMetricsBitForBit) {
  const Recorded a = run_into(dir.path() / "a.db", suite);
  const Recorded b = run_into(dir.path() / "b.db", suite);
  ASSERT_GT(a.samples.size(), 200u);
  ASSERT_EQ(a.samples.size(), b.samples.size());
  for (std::size_t i = 0; i < a.samples.size(); ++i) {
    ASSERT_EQ(std::get<0>(a.samples[i]), std::get<0>(b.samples[i]));
    ASSERT_EQ(std::get<1>(a.samples[i]), std::get<1>(b.samples[i]));
    const double x = std::get<3>(a.samples[i]), y = std::get<3>(b.samples[i]);
    // Bit for bit: memcmp, not a tolerance.
    ASSERT_EQ(std::memcmp(&x, &y, sizeof x), 0) << std::get<0>(a.samples[i]) << " " << std::get<1>(a.samples[i])
                                                << " step " << std::get<2>(a.samples[i]);
  }
}

TEST_F(MiTask, NanLossMarksTheCaseDivergedAtItsStepAndTheSuiteGoesOn) {
  const Recorded r = run_into(dir.path() / "r.db", suite);
  const std::string diverged = "dataset=gaussian_staircase/objective=diverges/repeat=0";
  EXPECT_EQ(r.status.at(diverged), "diverged");
  EXPECT_EQ(r.stopped.at(diverged), 25);
  EXPECT_NE(r.message.at(diverged).find("nan at step 25"), std::string::npos) << r.message.at(diverged);
  EXPECT_EQ(r.status.at("dataset=gaussian_staircase/objective=rpc/repeat=0"), "finished");
  EXPECT_EQ(r.status.at("dataset=gaussian_staircase/objective=smile/repeat=0"), "finished");
  // Samples up to and including the diverged step are kept.
  std::int64_t last = -1;
  for (const auto& [key, name, step, value] : r.samples)
    if (key == diverged && name == "loss") last = std::max(last, step);
  EXPECT_EQ(last, 25);
}

TEST_F(MiTask, LevelStatisticsAreThoseOfTheRecordedWindow) {
  run_into(dir.path() / "s.db", suite);
  Database db(dir.path() / "s.db", Database::Mode::read_only);
  const std::string key = "dataset=gaussian_staircase/objective=rpc/repeat=0";
  std::vector<double> window;
  auto s = db.prepare("SELECT value FROM samples JOIN cases USING (case_id) WHERE case_key = ?1 "
                      "AND name = 'mi' AND step >= 32 AND step < 40 ORDER BY step");
  s.bind(1, key);
  while (s.step()) window.push_back(s.column_double(0));
  ASSERT_EQ(window.size(), 8u);
  const WindowStats expected = window_stats(window, 2.0);
  std::map<std::string, double> got;
  auto q = db.prepare("SELECT name, value FROM case_summaries WHERE case_key = ?1 AND scope = 'mi=2'");
  q.bind(1, key);
  while (q.step()) got[q.column_text(0)] = q.column_double(1);
  EXPECT_NEAR(got["true_mi"], 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(got["mean"], expected.mean);
  EXPECT_DOUBLE_EQ(got["variance"], expected.variance);
  EXPECT_DOUBLE_EQ(got["mse"], expected.mse);
  EXPECT_DOUBLE_EQ(got["window"], 8.0);
}

}  // namespace
}  // namespace rpcbench
