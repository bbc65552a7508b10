// The mi task's ensembles (--ensemble auto) against the same cases run one at a time: the same
// rows, values within rounding of bmm vs mm, members independent of one another (a diverging or
// throwing member leaves the others bit for bit as they are without it).
#include "db/database.hpp"
#include "report/sqlite_reporter.hpp"
#include "run/environment.hpp"
#include "run/runner.hpp"
#include "tasks/task.hpp"
#include "test_support.hpp"

#include <cmath>

namespace rpcbench {
namespace {

// Learning rates and objectives differ between members; one member diverges at call 25, one throws.
const char* kSuite = R"toml([suite]
name = "ensemble-mi"
task = "mi"
seed = 5

[task]
batch_size = 16
window = 8

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
plugin = "fixture_nan"
label = "throws"
throw_at_call = 7

[[objectives]]
plugin = "infonce"

[[objectives]]
plugin = "nwj"

[[objectives]]
plugin = "rpc"

[sweep]
learning_rate = [1e-3, 5e-3]
)toml";

struct Recorded {
  std::map<std::tuple<std::string, std::string, std::int64_t>, double> samples;  // key, name, step
  std::map<std::tuple<std::string, std::string, std::string>, double> summaries;  // key, scope, name
  std::map<std::string, std::string> status, message;
  std::map<std::string, std::int64_t> stopped;
};

// Runs the suite's cases whose objective is in `objectives` (all when empty) as `units`: every case
// alone (off), or planned by the runner (automatic).
Recorded run_cases(const std::filesystem::path& db_path, const std::filesystem::path& suite_path, EnsembleMode mode,
                   const std::set<std::string>& objectives = {}) {
  configure_threads(1);
  TaskCatalog tasks;
  const Suite suite = load_suite(suite_path, {}, test::real_plugins(), tasks);
  std::vector<Case> cases;
  for (const Case& c : expand_cases(suite))
    if (objectives.empty() || objectives.count(c.objective->label) != 0) cases.push_back(c);
  for (std::size_t i = 0; i < cases.size(); ++i) cases[i].index = i;
  Database db(db_path, Database::Mode::read_write);
  SqliteReporter sqlite(db);
  RunRequest request;
  request.suite = &suite;
  request.task = tasks.find("mi");
  request.registry = &test::real_plugins();
  request.ensemble = mode;
  request.info.provenance = {{"device", "cpu"}, {"threads", "1"}};
  request.info.started_at = utc_now();
  run_suite(request, cases, sqlite);

  Recorded r;
  auto s = db.prepare("SELECT c.case_key, s.name, s.step, s.value FROM samples s JOIN cases c USING (case_id)");
  while (s.step()) r.samples[{s.column_text(0), s.column_text(1), s.column_int(2)}] = s.column_double(3);
  auto v = db.prepare("SELECT c.case_key, v.scope, v.name, v.value FROM summaries v JOIN cases c USING (case_id)");
  while (v.step()) r.summaries[{v.column_text(0), v.column_text(1), v.column_text(2)}] = v.is_null(3) ? NAN : v.column_double(3);
  auto c = db.prepare("SELECT case_key, status, message, stopped_step FROM cases");
  while (c.step()) {
    r.status[c.column_text(0)] = c.column_text(1);
    r.message[c.column_text(0)] = c.column_text(2);
    if (!c.is_null(3)) r.stopped[c.column_text(0)] = c.column_int(3);
  }
  return r;
}

template <class Map>
std::set<typename Map::key_type> keys(const Map& m) {
  std::set<typename Map::key_type> out;
  for (const auto& [k, v] : m) out.insert(k);
  return out;
}

bool same_or_both_nan(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

class MiEnsemble : public ::testing::Test {
 protected:
  test::TempDir dir;
  std::filesystem::path suite = dir.write("ensemble.toml", kSuite);
};

TEST_F(MiEnsemble, TheRunnerGroupsTheSuitesCasesIntoOneEnsemble) {
  TaskCatalog tasks;
  const Suite s = load_suite(suite, {}, test::real_plugins(), tasks);
  const auto cases = expand_cases(s);
  std::vector<const Case*> all;
  for (const Case& c : cases) all.push_back(&c);
  RunRequest request;
  request.suite = &s;
  request.task = tasks.find("mi");
  request.registry = &test::real_plugins();
  request.ensemble = EnsembleMode::automatic;
  const auto units = plan_units(request, all);
  ASSERT_EQ(units.size(), 1u);  // 10 small critics of one shape: one ensemble
  EXPECT_EQ(units[0], all);
  EXPECT_EQ(plan_units(request, all, 3).size(), 3u);  // --jobs 3: every worker gets a part
  request.ensemble = EnsembleMode::off;
  EXPECT_EQ(plan_units(request, all).size(), all.size());
}

// Same rows; each member's first steps equal its separate run's within float rounding (so the same
// initial parameters from its seed and the same data stream), its statistics within a tolerance.
TEST_F(MiEnsemble, EveryMemberRecordsWhatItsSeparateRunRecords) {
  const Recorded alone = run_cases(dir.path() / "off.db", suite, EnsembleMode::off);
  const Recorded together = run_cases(dir.path() / "auto.db", suite, EnsembleMode::automatic);
  EXPECT_EQ(alone.status, together.status);
  EXPECT_EQ(alone.stopped, together.stopped);
  EXPECT_EQ(alone.message, together.message);
  EXPECT_EQ(keys(alone.samples), keys(together.samples));
  EXPECT_EQ(keys(alone.summaries), keys(together.summaries));
  ASSERT_EQ(alone.status.size(), 10u);
  EXPECT_EQ(together.status.at("dataset=gaussian_staircase/objective=diverges/learning_rate=0.001/repeat=0"), "diverged");
  EXPECT_EQ(together.stopped.at("dataset=gaussian_staircase/objective=diverges/learning_rate=0.001/repeat=0"), 25);
  EXPECT_EQ(together.status.at("dataset=gaussian_staircase/objective=throws/learning_rate=0.005/repeat=0"), "failed");
  EXPECT_EQ(together.message.at("dataset=gaussian_staircase/objective=throws/learning_rate=0.005/repeat=0"),
            "fixture throws at call 7");
  std::size_t compared = 0;
  for (const auto& [key, value] : alone.samples) {
    const auto& [name, step] = std::pair(std::get<1>(key), std::get<2>(key));
    const double other = together.samples.at(key);
    if (name == "true_mi") {
      EXPECT_EQ(value, other);
    }
    if (step < 3 && name != "true_mi") {  // (true_mi: compared exactly above)
      EXPECT_NEAR(other, value, 1e-5 * std::max(1.0, std::abs(value))) << std::get<0>(key) << " " << name << " @" << step;
      ++compared;
    }
  }
  EXPECT_GT(compared, 50u);
  for (const auto& [key, value] : alone.summaries) {
    const std::string& name = std::get<2>(key);
    if (name == "steps_per_second") continue;  // timing
    const double other = together.summaries.at(key);
    if (name == "mean" || name == "steps" || name == "true_mi") {
      EXPECT_TRUE(std::abs(other - value) <= 0.02 + 0.02 * std::abs(value) || same_or_both_nan(other, value))
          << std::get<0>(key) << " " << std::get<1>(key) << " " << name << ": " << value << " alone, " << other << " together";
    }
  }
}

// Bit for bit: a member's records do not depend on which other members share its ensemble, so a
// member that diverges (NaN loss) or throws takes nothing from the others.
TEST_F(MiEnsemble, AMemberThatDivergesOrThrowsLeavesTheOthersBitForBit) {
  const Recorded with = run_cases(dir.path() / "with.db", suite, EnsembleMode::automatic);
  const Recorded without =
      run_cases(dir.path() / "without.db", suite, EnsembleMode::automatic, {"infonce", "nwj", "rpc"});
  ASSERT_EQ(without.status.size(), 6u);
  std::size_t compared = 0;
  for (const auto& [key, value] : without.samples) {
    ASSERT_TRUE(same_or_both_nan(with.samples.at(key), value)) << std::get<0>(key) << " " << std::get<1>(key) << " @" << std::get<2>(key);
    ++compared;
  }
  EXPECT_GE(compared, 6u * 40u * 4u);  // mi, true_mi, loss and grad_norm of 6 cases × 40 steps, and diagnostics
  for (const auto& [key, value] : without.summaries)
    if (std::get<2>(key) != "steps_per_second") {
      EXPECT_TRUE(same_or_both_nan(with.summaries.at(key), value)) << std::get<0>(key);
    }
}

}  // namespace
}  // namespace rpcbench
