// The mi task through the run loop: determinism bit for bit, divergence recorded as data, and the
// per-level statistics against the recorded per-step estimates.
#include "db/database.hpp"
#include "report/sqlite_reporter.hpp"
#include "run/environment.hpp"
#include "run/runner.hpp"
#include "stats/window_stats.hpp"
#include "tasks/task.hpp"
#include "test_support.hpp"

#include <functional>

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

// `between` runs after the suite is loaded and before its cases run.
Recorded run_into(const std::filesystem::path& db_path, const std::filesystem::path& suite_path,
                  const std::function<void()>& between = {}) {
  configure_threads(1);
  TaskCatalog tasks;
  const Suite suite = load_suite(suite_path, {}, test::real_plugins(), tasks);
  const auto cases = expand_cases(suite);
  if (between) between();
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

// The fixture's loss (or estimate, or gradient scale) is 10^t at training call t: 10^7 is the
// first past 5e6, so each limit trips at step 7 exactly.
const char* kExploding = R"toml([suite]
name = "explodes"
task = "mi"
seed = 3

[task]
batch_size = 8
window = 5
stability_window = 10

[encoder]
plugin = "separable"
hidden = 8
embed = 4

[[datasets]]
plugin = "gaussian_staircase"
dim = 2
mi_levels = [1.0, 2.0]
steps_per_level = 15

[[objectives]]
plugin = "fixture_explodes"
label = "late"
part = "loss"
growth = 2.0
task = { diverge_loss_above = 1e5 }

[[objectives]]
plugin = "fixture_explodes"
label = "loss_grows"
part = "loss"
task = { diverge_loss_above = 5e6 }

[[objectives]]
plugin = "fixture_explodes"
label = "estimate_grows"
part = "estimate"
task = { diverge_estimate_above = 5e6 }

[[objectives]]
plugin = "fixture_explodes"
label = "gradient_grows"
part = "gradient"
task = { diverge_grad_norm_above = 1e3 }

[[objectives]]
plugin = "rpc"
)toml";

TEST_F(MiTask, ThresholdsMarkDivergenceAtTheStepTheyAreCrossed) {
  const Recorded r = run_into(dir.path() / "x.db", dir.write("x.toml", kExploding));
  const std::string prefix = "dataset=gaussian_staircase/objective=";
  for (const char* label : {"loss_grows", "estimate_grows"}) {
    SCOPED_TRACE(label);
    const std::string key = prefix + label + "/repeat=0";
    EXPECT_EQ(r.status.at(key), "diverged");
    EXPECT_EQ(r.stopped.at(key), 7);
  }
  EXPECT_NE(r.message.at(prefix + "loss_grows/repeat=0").find("exceeds diverge_loss_above = 5e+06 at step 7"),
            std::string::npos)
      << r.message.at(prefix + "loss_grows/repeat=0");
  EXPECT_NE(r.message.at(prefix + "estimate_grows/repeat=0").find("diverge_estimate_above"), std::string::npos);
  const std::string gradient = prefix + "gradient_grows/repeat=0";
  EXPECT_EQ(r.status.at(gradient), "diverged");
  EXPECT_NE(r.message.at(gradient).find("gradient norm"), std::string::npos) << r.message.at(gradient);
  EXPECT_EQ(r.status.at(prefix + "rpc/repeat=0"), "finished");  // the suite goes on
  // 2^17 is the first power past 1e5: "late" diverges in the second level, after the first.
  EXPECT_EQ(r.status.at(prefix + "late/repeat=0"), "diverged");
  EXPECT_EQ(r.stopped.at(prefix + "late/repeat=0"), 17);

  // The summaries keep the last finite values: steps 0..6 completed, the loss of step 6 is 10^6.
  Database db(dir.path() / "x.db", Database::Mode::read_only);
  auto q = db.prepare("SELECT name, value FROM case_summaries WHERE case_key = ?1 AND scope = ''");
  q.bind(1, prefix + "loss_grows/repeat=0");
  std::map<std::string, double> got;
  while (q.step()) got[q.column_text(0)] = q.column_double(1);
  EXPECT_DOUBLE_EQ(got["steps"], 7.0);
  EXPECT_DOUBLE_EQ(got["steps_to_divergence"], 7.0);
  EXPECT_NEAR(got["final_loss"], 1e6, 1.0);
  // A case that completed only the first level has its statistics, but no headline over levels:
  // a mean |bias| over the easy level alone would look better than a finished case's.
  auto late = db.prepare("SELECT count(*), sum(name = 'mean' AND scope = 'mi=1'), "
                         "sum(name = 'mean_abs_bias' AND value IS NULL) FROM case_summaries WHERE case_key = ?1");
  late.bind(1, prefix + "late/repeat=0");
  ASSERT_TRUE(late.step());
  EXPECT_EQ(late.column_int(1), 1);
  EXPECT_EQ(late.column_int(2), 1);
}

// An estimate that is no number diverges the case at its step even when the loss is finite (no
// limit set): the estimator failed.
TEST_F(MiTask, AnInfiniteEstimateWithAFiniteLossDiverges) {
  std::string text = kSuite;
  text = text.substr(0, text.find("[[objectives]]")) +
         "[[objectives]]\nplugin = \"fixture_nan\"\ninf_estimate_at_call = 12\n";
  const Recorded r = run_into(dir.path() / "i.db", dir.write("i.toml", text));
  const std::string key = "dataset=gaussian_staircase/objective=fixture_nan/repeat=0";
  EXPECT_EQ(r.status.at(key), "diverged");
  EXPECT_EQ(r.stopped.at(key), 12);
  EXPECT_NE(r.message.at(key).find("MI estimate is inf at step 12"), std::string::npos) << r.message.at(key);
}

TEST_F(MiTask, StabilitySummariesAreTheVariancesOfTheRecordedSteps) {
  run_into(dir.path() / "v.db", dir.write("v.toml", kExploding));
  Database db(dir.path() / "v.db", Database::Mode::read_only);
  const std::string key = "dataset=gaussian_staircase/objective=rpc/repeat=0";
  auto series = [&](const std::string& name) {
    std::vector<double> v;
    auto s = db.prepare("SELECT value FROM samples JOIN cases USING (case_id) WHERE case_key = ?1 AND name = ?2 ORDER BY step");
    s.bind(1, key).bind(2, name);
    while (s.step()) v.push_back(s.column_double(0));
    return v;
  };
  auto variance = [](std::vector<double> v, std::size_t last) {
    v.erase(v.begin(), v.end() - static_cast<long>(std::min(last, v.size())));
    double m = 0, q = 0;
    for (double x : v) m += x / v.size();
    for (double x : v) q += (x - m) * (x - m) / v.size();
    return q;
  };
  std::map<std::string, double> got;
  auto q = db.prepare("SELECT name, value FROM case_summaries WHERE case_key = ?1 AND scope = ''");
  q.bind(1, key);
  while (q.step()) got[q.column_text(0)] = q.column_double(1);
  for (const char* name : {"loss", "mi", "grad_norm"}) {
    SCOPED_TRACE(name);
    const std::vector<double> v = series(name);
    ASSERT_EQ(v.size(), 30u);
    EXPECT_NEAR(got[std::string(name) + "_variance"], variance(v, 10), 1e-12);  // stability_window = 10
    EXPECT_NEAR(got[std::string(name) + "_variance_run"], variance(v, 30), 1e-12);
  }
  EXPECT_DOUBLE_EQ(got["mi_trend_variance"], trend_variance(series("mi"), kTrendHalfWidth));
  EXPECT_EQ(got.count("steps_to_divergence"), 0u);
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
  // The jitter around the running trend is over the whole level (steps 20…39), not the window.
  std::vector<double> level;
  auto all = db.prepare("SELECT value FROM samples JOIN cases USING (case_id) WHERE case_key = ?1 "
                        "AND name = 'mi' AND step >= 20 AND step < 40 ORDER BY step");
  all.bind(1, key);
  while (all.step()) level.push_back(all.column_double(0));
  ASSERT_EQ(level.size(), 20u);
  EXPECT_DOUBLE_EQ(got["trend_variance"], trend_variance(level, kTrendHalfWidth));
  EXPECT_GT(got["trend_variance"], 0.0);
}

const char* kLearns = R"toml([suite]
name = "learns"
task = "mi"
seed = 5

[task]
batch_size = 64
window = 100
learning_rate = 2e-3

[encoder]
plugin = "separable"
hidden = 64
embed = 16

[[datasets]]
plugin = "gaussian_staircase"
dim = 2
mi_levels = [2.0]
steps_per_level = 400

[[objectives]]
plugin = "infonce"
)toml";

// The positive of anchor i is the score of its own pair (x_i, y_i); a task that paired it with
// another sample's y would train a critic on independent pairs and estimate about 0.
TEST_F(MiTask, ACriticTrainedOnMatchedPairsEstimatesMostOfTheMi) {
  run_into(dir.path() / "l.db", dir.write("l.toml", kLearns));
  Database db(dir.path() / "l.db", Database::Mode::read_only);
  auto q = db.prepare("SELECT value FROM case_summaries WHERE scope = 'mi=2' AND name = 'mean'");
  ASSERT_TRUE(q.step());
  EXPECT_GT(q.column_double(0), 1.3);  // true MI 2 nats, InfoNCE's ceiling log 64 = 4.16
  EXPECT_LT(q.column_double(0), 2.3);
}

// WPC through the task: the penalty is recorded every step, trains the critic (a large λ changes
// every step after the first), and stays out of the recorded loss (step 0 is InfoNCE's loss of the
// same critic: one label, hence one seed, for the three runs).
TEST_F(MiTask, TheCriticPenaltyTrainsButIsNotPartOfTheRecordedLoss) {
  const auto run = [&](const std::string& name, const std::string& objective) {
    std::string text = kSuite;
    text = text.substr(0, text.find("[[objectives]]")) + "[[objectives]]\nlabel = \"critic\"\n" + objective;
    // A fast rate grows the small critic past slope 1 within a few steps: the one-sided penalty bites.
    text.replace(text.find("learning_rate = 1e-3"), 20, "learning_rate = 3e-2");
    return run_into(dir.path() / (name + ".db"), dir.write(name + ".toml", text));
  };
  const Recorded weak = run("weak", "plugin = \"wpc\"\ngradient_penalty = 1e-12\n");
  const Recorded strong = run("strong", "plugin = \"wpc\"\ngradient_penalty = 100.0\n");
  const Recorded infonce = run("infonce", "plugin = \"infonce\"\n");
  const auto series = [](const Recorded& r, const std::string& name) {
    std::vector<double> v;
    for (const auto& [key, metric, step, value] : r.samples)
      if (metric == name) v.push_back(value);
    return v;
  };
  const auto weak_loss = series(weak, "loss"), strong_loss = series(strong, "loss"), infonce_loss = series(infonce, "loss");
  ASSERT_EQ(weak_loss.size(), 40u);
  ASSERT_EQ(strong_loss.size(), 40u);
  EXPECT_EQ(series(strong, "gradient_penalty").size(), 40u);
  EXPECT_TRUE(series(infonce, "gradient_penalty").empty());
  EXPECT_EQ(weak_loss[0], infonce_loss[0]);
  EXPECT_EQ(strong_loss[0], infonce_loss[0]);
  // Identical training while the penalty is 0; from the step after it is not, another critic.
  const auto penalty = series(strong, "gradient_penalty");
  const auto first = std::find_if(penalty.begin(), penalty.end(), [](double v) { return v > 0; }) - penalty.begin();
  ASSERT_LT(first, 30) << "the penalty never bit: the test would not see it";
  for (std::ptrdiff_t step = 0; step <= first; ++step) EXPECT_EQ(strong_loss[step], weak_loss[step]) << step;
  EXPECT_NE(strong_loss[first + 1], weak_loss[first + 1]);
  // With λ → 0 WPC trains as InfoNCE does (up to the penalty's rounding in the gradient).
  EXPECT_NEAR(weak_loss[39], infonce_loss[39], 1e-4);
}

// The run trains on the file the suite was loaded (and hashed) with: a file edited in between
// fails its case with what happened, rather than recording results under the old file's hash.
TEST_F(MiTask, AFileEditedAfterTheSuiteWasLoadedFailsItsCase) {
  dir.write("pairs.csv", "X1,Y1\n1,2\n2,1\n3,5\n4,3\n");
  const auto path = dir.write("files.toml", R"toml([suite]
name = "files"
task = "mi"
[task]
batch_size = 4
window = 2
[encoder]
plugin = "separable"
hidden = 8
embed = 2
[[datasets]]
plugin = "samples_file"
path = "pairs.csv"
steps = 3
[[objectives]]
plugin = "infonce"
)toml");
  const Recorded r = run_into(dir.path() / "f.db", path, [&] { dir.write("pairs.csv", "X1,Y1\n1,2\n2,1\n3,5\n4,4\n"); });
  ASSERT_EQ(r.status.size(), 1u);
  EXPECT_EQ(r.status.begin()->second, "failed");
  EXPECT_NE(r.message.begin()->second.find("changed since the suite was loaded"), std::string::npos) << r.message.begin()->second;
}

// A diagnostic named like one of the task's metrics does not overwrite that metric's samples.
TEST_F(MiTask, ADiagnosticNamedLikeATaskMetricIsKeptBesideIt) {
  std::string text = kSuite;
  text = text.substr(0, text.find("[[objectives]]")) + "[[objectives]]\nplugin = \"fixture_nan\"\ndiagnostic = \"mi\"\n";
  const Recorded r = run_into(dir.path() / "d.db", dir.write("d.toml", text));
  int mi = 0, objective_mi = 0;
  for (const auto& [key, name, step, value] : r.samples) {
    if (name == "mi") {
      ++mi;
      EXPECT_NE(value, 12345.0) << step;
    }
    if (name == "objective_mi") {
      ++objective_mi;
      EXPECT_EQ(value, 12345.0) << step;
    }
  }
  EXPECT_EQ(mi, 40);
  EXPECT_EQ(objective_mi, 40);
}

TEST_F(MiTask, GradientNormIsTheEuclideanNormOfEveryGradient) {
  torch::Tensor a = torch::zeros({2}, torch::requires_grad()), b = torch::zeros({1, 1}, torch::requires_grad()),
                unused = torch::zeros({3}, torch::requires_grad());
  a.mutable_grad() = torch::tensor({3.0, 0.0});
  b.mutable_grad() = torch::tensor({{4.0}});
  EXPECT_DOUBLE_EQ(gradient_norm({a, b, unused}), 5.0);  // a parameter with no gradient counts as 0
  b.mutable_grad() = torch::tensor({{-12.0}});
  a.mutable_grad() = torch::tensor({3.0, 4.0});
  EXPECT_DOUBLE_EQ(gradient_norm({a, b}), 13.0);
}

}  // namespace
}  // namespace rpcbench
