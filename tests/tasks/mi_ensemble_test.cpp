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
#include <regex>

namespace rpcbench {
namespace {

// Learning rates, objectives and stream lengths differ between members; one member diverges on a
// NaN loss at call 25, one on its gradient norm, one throws, one draws from the global generator.
std::string suite_text(const std::string& encoder) {
  return R"toml([suite]
name = "ensemble-mi"
task = "mi"
seed = 5

[task]
batch_size = 16
window = 8

[encoder]
)toml" + encoder + R"toml(

[[datasets]]
plugin = "gaussian_staircase"
dim = 4
mi_levels = [1.0, 2.0]
steps_per_level = 20

[[datasets]]
plugin = "gaussian_staircase"
label = "longer"
dim = 4
mi_levels = [1.0, 2.0]
steps_per_level = 30

[[objectives]]
plugin = "fixture_nan"
label = "diverges"
nan_at_call = 25

[[objectives]]
plugin = "fixture_nan"
label = "throws"
throw_at_call = 7

[[objectives]]
plugin = "fixture_nan"
label = "noisy"
global_noise = true

[[objectives]]
plugin = "fixture_explodes"
label = "gradient_explodes"
part = "gradient"
growth = 10.0
task = { diverge_grad_norm_above = 1e4 }

[[objectives]]
plugin = "infonce"

[[objectives]]
plugin = "nwj"

[[objectives]]
plugin = "rpc"

[sweep]
learning_rate = [1e-3, 5e-3]
)toml";
}

const std::string kSeparable = "plugin = \"separable\"\nhidden = 32\nembed = 8";
const std::string kConcat = "plugin = \"concat\"\nhidden = 32\nlayers = 2";

struct Recorded {
  std::map<std::tuple<std::string, std::string, std::int64_t>, double> samples;  // key, name, step
  std::map<std::tuple<std::string, std::string, std::string>, double> summaries;  // key, scope, name
  std::map<std::string, std::string> status, message;
  std::map<std::string, std::int64_t> stopped;
};

// Runs the suite's cases whose objective is in `objectives` (all when empty) as `units`: every case
// alone (off), or planned by the runner (automatic).
Recorded run_cases(const std::filesystem::path& db_path, const std::filesystem::path& suite_path, EnsembleMode mode,
                   const std::set<std::string>& objectives = {}, const std::string& only_key = "") {
  configure_threads(1);
  TaskCatalog tasks;
  const Suite suite = load_suite(suite_path, {}, test::real_plugins(), tasks);
  std::vector<Case> cases;
  for (const Case& c : expand_cases(suite))
    if ((objectives.empty() || objectives.count(c.objective->label) != 0) && (only_key.empty() || c.key == only_key))
      cases.push_back(c);
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
  std::filesystem::path suite = dir.write("ensemble.toml", suite_text(kSeparable));
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
  ASSERT_EQ(all.size(), 28u);
  const auto units = plan_units(request, all);
  ASSERT_EQ(units.size(), 2u);  // 28 small critics of one shape: two ensembles of 14 (at most 16 each)
  EXPECT_EQ(units[0].size(), 14u);
  std::vector<const Case*> in_order = units[0];
  in_order.insert(in_order.end(), units[1].begin(), units[1].end());
  EXPECT_EQ(in_order, all);
  EXPECT_EQ(plan_units(request, all, 3).size(), 3u);  // --jobs 3: every worker gets a part
  request.ensemble = EnsembleMode::off;
  EXPECT_EQ(plan_units(request, all).size(), all.size());
}

// Same rows; each member's first steps equal its separate run's within float rounding (so the same
// initial parameters from its seed, the same data stream and the same global random stream), its
// statistics within a tolerance. For both critics that train as ensembles.
TEST_F(MiEnsemble, EveryMemberRecordsWhatItsSeparateRunRecords) {
  for (const auto& [name, encoder] : {std::pair("separable", kSeparable), std::pair("concat", kConcat)}) {
    SCOPED_TRACE(name);
    const auto path = dir.write(std::string(name) + ".toml", suite_text(encoder));
    const Recorded alone = run_cases(dir.path() / (std::string(name) + "-off.db"), path, EnsembleMode::off);
    const Recorded together = run_cases(dir.path() / (std::string(name) + "-auto.db"), path, EnsembleMode::automatic);
    EXPECT_EQ(alone.status, together.status);
    EXPECT_EQ(alone.stopped, together.stopped);
    EXPECT_EQ(keys(alone.samples), keys(together.samples));
    EXPECT_EQ(keys(alone.summaries), keys(together.summaries));
    ASSERT_EQ(alone.status.size(), 28u);
    for (const auto& [key, message] : alone.message)  // the same, up to the rounding of a gradient norm it quotes
      EXPECT_EQ(std::regex_replace(message, std::regex("[0-9.]+e\\+[0-9]+"), "N"),
                std::regex_replace(together.message.at(key), std::regex("[0-9.]+e\\+[0-9]+"), "N"));
    const std::string lr = "/learning_rate=0.001/repeat=0";
    EXPECT_EQ(together.status.at("dataset=gaussian_staircase/objective=diverges" + lr), "diverged");
    EXPECT_EQ(together.stopped.at("dataset=gaussian_staircase/objective=diverges" + lr), 25);
    EXPECT_EQ(together.status.at("dataset=longer/objective=gradient_explodes" + lr), "diverged");
    EXPECT_NE(together.message.at("dataset=longer/objective=gradient_explodes" + lr).find("gradient norm"), std::string::npos);
    EXPECT_EQ(together.status.at("dataset=gaussian_staircase/objective=throws" + lr), "failed");
    EXPECT_EQ(together.message.at("dataset=gaussian_staircase/objective=throws" + lr), "fixture throws at call 7");
    EXPECT_EQ(together.summaries.at({"dataset=longer/objective=rpc" + lr, "", "steps"}), 60);  // it outlived the 40-step members
    std::size_t compared = 0;
    for (const auto& [key, value] : alone.samples) {
      const auto& [name, step] = std::pair(std::get<1>(key), std::get<2>(key));
      const double other = together.samples.at(key);
      // (An exploding gradient multiplies rounding differences by 10 a step: its stopping step above.)
      if (step < 3 && std::get<0>(key).find("objective=gradient_explodes") == std::string::npos) {
        EXPECT_NEAR(other, value, 1e-5 * std::max(1.0, std::abs(value))) << std::get<0>(key) << " " << name << " @" << step;
        ++compared;
      }
    }
    EXPECT_GT(compared, 200u);
    for (const auto& [key, value] : alone.summaries) {
      const std::string& summary = std::get<2>(key);
      const double other = together.summaries.at(key);
      if (summary == "mean" || summary == "bias" || summary == "final_loss" || summary == "steps" || summary == "true_mi") {
        EXPECT_TRUE(std::abs(other - value) <= 0.02 + 0.02 * std::abs(value) || same_or_both_nan(other, value))
            << std::get<0>(key) << " " << std::get<1>(key) << " " << summary << ": " << value << " alone, " << other << " together";
      }
    }
  }
}

// Bit for bit: a member's records do not depend on which other members share its ensemble, so a
// member that diverges (a NaN loss, an exploding gradient), throws or draws random numbers takes
// nothing from the others.
TEST_F(MiEnsemble, AMemberThatDivergesOrThrowsLeavesTheOthersBitForBit) {
  const Recorded with = run_cases(dir.path() / "with.db", suite, EnsembleMode::automatic);
  const Recorded without =
      run_cases(dir.path() / "without.db", suite, EnsembleMode::automatic, {"infonce", "nwj", "rpc"});
  ASSERT_EQ(without.status.size(), 12u);
  std::size_t compared = 0;
  for (const auto& [key, value] : without.samples) {
    ASSERT_TRUE(same_or_both_nan(with.samples.at(key), value)) << std::get<0>(key) << " " << std::get<1>(key) << " @" << std::get<2>(key);
    ++compared;
  }
  EXPECT_GE(compared, 12u * 40u * 4u);  // mi, true_mi, loss and grad_norm of 12 cases × 40 or 60 steps, and diagnostics
  // A case alone under --ensemble auto (a unit of one, as --jobs or --resume may leave it) is an
  // ensemble of one: the same values as in the full ensemble.
  const std::string key = "dataset=longer/objective=rpc/learning_rate=0.005/repeat=0";
  const Recorded single = run_cases(dir.path() / "single.db", suite, EnsembleMode::automatic, {}, key);
  ASSERT_EQ(single.status.size(), 1u);
  std::size_t single_compared = 0;
  for (const auto& [k, value] : single.samples) {
    ASSERT_TRUE(same_or_both_nan(with.samples.at(k), value)) << std::get<1>(k) << " @" << std::get<2>(k);
    ++single_compared;
  }
  EXPECT_GE(single_compared, 60u * 4u);
  for (const auto& [key, value] : without.summaries)
    if (std::get<2>(key) != "steps_per_second") {  // (timing)
      EXPECT_TRUE(same_or_both_nan(with.summaries.at(key), value)) << std::get<0>(key);
    }
}

}  // namespace
}  // namespace rpcbench
