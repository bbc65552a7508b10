// `harness compare` on crafted results: an improvement, a regression beyond tolerance, a change
// within noise, a significant-but-tiny change, missing cases; the tests against references.
#include "compare/compare.hpp"
#include "stats/two_sample.hpp"
#include "test_support.hpp"
#include "util/errors.hpp"

#include <nlohmann/json.hpp>

#include <functional>

namespace rpcbench {
namespace {

ResultSet set(const std::string& name, std::map<std::string, std::vector<double>> values_by_group,
              const std::string& metric = "accuracy") {
  ResultSet s;
  s.description = name;
  for (auto& [group, values] : values_by_group) {
    s.groups[group].values["|" + metric] = values;
    s.groups[group].statuses.assign(values.size(), "finished");
  }
  return s;
}

Gate higher(double abs_tol, const std::string& test = "none") {
  Gate g;
  g.origin = "[[gates]] #1";
  g.metric = "accuracy";
  g.higher_is_better = true;
  g.abs_tolerance = abs_tol;
  g.test = test;
  return g;
}

TEST(Statistics, MatchReferenceValues) {
  // Exact Mann–Whitney: complete separation of 5 and 5 is 2 of the C(10, 5) = 252 splits (R's
  // wilcox.test(1:5, 6:10): 0.007937). Welch's t against the Student-t tail integrated
  // numerically (independently of Boost).
  EXPECT_NEAR(mann_whitney_p({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}), 2.0 / 252.0, 1e-12);
  EXPECT_NEAR(welch_p({1, 2, 3, 4}, {2, 4, 6, 8}), 0.1515805, 1e-6);
  EXPECT_DOUBLE_EQ(mann_whitney_p({1, 1}, {1, 1}), 1.0);
  // Ties, by hand: ranks of {1, 2 | 2, 3} are 1, 2.5 | 2.5, 4; the rank sum 3.5 of the first is
  // 1.5 from its mean 5, and 4 of the 6 ways to pick two ranks are as far (3.5, 3.5, 6.5, 6.5).
  EXPECT_NEAR(mann_whitney_p({1, 2}, {2, 3}), 4.0 / 6.0, 1e-12);
  // Past the exact limit (C(40, 20) splits): the normal approximation, here with no overlap.
  std::vector<double> low, high;
  for (int i = 0; i < 20; ++i) low.push_back(i), high.push_back(100 + i);
  EXPECT_LT(mann_whitney_p(low, high), 1e-6);
}

TEST(Statistics, MannWhitneyNormalApproximationWithTieAndContinuityCorrections) {
  // C(24, 12) = 2 704 156 orderings: past the exact limit, so the normal approximation, with many
  // ties. Reference: scipy.stats.mannwhitneyu(a, b, alternative='two-sided', method='asymptotic')
  // (scipy 1.10): 0.015897806579345367 with the continuity correction, 0.014674888100590764
  // without it; and by hand: U = 30 against a mean of 72, the ties' Σ(t³ − t) = 174, so
  // σ² = 12·12/12 · (25 − 174/552), and z = (|30 − 72| − ½) / σ.
  const std::vector<double> a{1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 7, 8}, b{3, 4, 4, 5, 6, 6, 7, 8, 8, 9, 9, 10};
  EXPECT_NEAR(mann_whitney_p(a, b), 0.015897806579345367, 1e-12);
  EXPECT_NEAR(mann_whitney_p(b, a), 0.015897806579345367, 1e-12);
  const double sigma = std::sqrt(12.0 * 12.0 / 12.0 * (25.0 - 174.0 / (24.0 * 23.0)));
  EXPECT_NEAR(mann_whitney_p(a, b), std::erfc(41.5 / sigma / std::sqrt(2.0)), 1e-12);
}

TEST(Statistics, SmallestReachablePValue) {
  EXPECT_DOUBLE_EQ(mann_whitney_min_p(1, 1), 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney_min_p(3, 3), 0.1);          // 2 / C(6, 3)
  EXPECT_DOUBLE_EQ(mann_whitney_min_p(4, 4), 2.0 / 70.0);   // the first below 0.05
  EXPECT_NEAR(mann_whitney_p({1, 2, 3, 4}, {5, 6, 7, 8}), mann_whitney_min_p(4, 4), 1e-12);
}

TEST(Statistics, NonFiniteSamplesAreRefusedNotLoopedOn) {
  // NaN == NaN is false: a tie loop over it never ends. The tests refuse it instead.
  EXPECT_THROW(mann_whitney_p({NAN, 1.0}, {2.0, 3.0}), std::invalid_argument);
  EXPECT_THROW(mann_whitney_p({1.0}, {INFINITY}), std::invalid_argument);
  EXPECT_THROW(welch_p({1.0, NAN}, {2.0, 3.0}), std::invalid_argument);
  EXPECT_THROW(welch_p({1.0}, {2.0, 3.0}), std::invalid_argument);
}

TEST(Compare, ImprovementAndRegressionBeyondTolerance) {
  const auto base = set("b", {{"dataset=d/objective=a", {0.80}}, {"dataset=d/objective=b", {0.80}}});
  const auto cand = set("c", {{"dataset=d/objective=a", {0.85}}, {"dataset=d/objective=b", {0.70}}});
  const CompareReport r = compare(base, cand, {higher(0.02)});
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].verdict, Verdict::improvement);
  EXPECT_NEAR(r.rows[0].change, 0.05, 1e-12);
  EXPECT_EQ(r.rows[1].verdict, Verdict::regression);
  EXPECT_NEAR(r.rows[1].relative, -0.125, 1e-12);
  EXPECT_TRUE(r.regression());
}

TEST(Compare, RefusesATestThatCannotFireWithTheseSeeds) {
  const auto one = set("b", {{"g", {0.80}}});
  const auto one_worse = set("c", {{"g", {0.10}}});
  try {
    compare(one, one_worse, {higher(0.02, "mann_whitney")});
    FAIL() << "a one-seed Mann-Whitney gate was accepted";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("[[gates]] #1"), std::string::npos) << m;
    EXPECT_NE(m.find("1 baseline and 1 candidate"), std::string::npos) << m;
    EXPECT_NE(m.find("smallest p-value the exact test can give is 1"), std::string::npos) << m;
  }
  EXPECT_THROW(compare(set("b", {{"g", {0.8, 0.7, 0.9}}}), set("c", {{"g", {0.1, 0.2, 0.3}}}), {higher(0.02, "mann_whitney")}),
               InputError);  // 3 per side: at best p = 0.1
  EXPECT_THROW(compare(one, one_worse, {higher(0.02, "welch")}), InputError);
  // Four per side can fire, and does on a clear drop.
  const CompareReport r = compare(set("b", {{"g", {0.80, 0.81, 0.82, 0.83}}}), set("c", {{"g", {0.70, 0.71, 0.72, 0.73}}}),
                                  {higher(0.02, "mann_whitney")});
  EXPECT_EQ(r.rows[0].verdict, Verdict::regression);
  EXPECT_NEAR(*r.rows[0].p_value, 2.0 / 70.0, 1e-12);
}

TEST(Compare, AGateThatMatchesNothingIsAnInputError) {
  const auto base = set("b", {{"dataset=d/objective=rpc", {0.8}}});
  Gate wrong_metric = higher(0.02);
  wrong_metric.metric = "MSE";
  EXPECT_THROW(compare(base, base, {higher(0.02), wrong_metric}), InputError);
  Gate wrong_objective = higher(0.02);
  wrong_objective.objectives = {"RPC"};
  try {
    compare(base, base, {wrong_objective});
    FAIL() << "a gate over no objective passed";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("objective 'RPC' is in no case"), std::string::npos) << e.what();
  }
  try {
    compare(base, base, {wrong_metric});
    FAIL() << "a gate over no metric passed";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("matches no value"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("objectives: rpc"), std::string::npos) << e.what();  // what there is
  }
  Gate wrong_scope = higher(0.02);
  wrong_scope.scope = "mi=4";
  EXPECT_THROW(compare(base, base, {wrong_scope}), InputError);
}

TEST(Compare, NonFiniteValuesAreDivergedOutcomes) {
  const auto finite = set("b", {{"g", {0.8}}});
  const auto nan = set("c", {{"g", {NAN}}});
  const auto inf = set("c", {{"g", {INFINITY}}});
  // Finite turning non-finite: a regression, whatever the tolerance.
  Gate loose = higher(100.0);
  EXPECT_EQ(compare(finite, nan, {loose}).rows[0].verdict, Verdict::regression);
  EXPECT_EQ(compare(finite, inf, {loose}).rows[0].verdict, Verdict::regression);
  // A non-finite baseline no longer disables the gate silently: it is reported as diverged.
  const CompareReport r = compare(nan, finite, {higher(0.02)});
  EXPECT_EQ(r.rows[0].verdict, Verdict::diverged);
  EXPECT_EQ(r.rows[0].reason, "diverged in the baseline, finite in the candidate");
  EXPECT_EQ(compare(nan, inf, {higher(0.02)}).rows[0].verdict, Verdict::diverged);
  // With a test over seeds, a NaN among them is an outcome too, not a hang or an exception.
  const auto four = set("b", {{"g", {0.8, 0.8, 0.8, 0.8}}});
  const auto four_nan = set("c", {{"g", {0.8, NAN, 0.8, 0.8}}});
  EXPECT_EQ(compare(four, four_nan, {higher(0.02, "mann_whitney")}).rows[0].verdict, Verdict::regression);
  EXPECT_EQ(compare(four_nan, four, {higher(0.02, "welch")}).rows[0].verdict, Verdict::diverged);
}

TEST(Compare, ACaseThatNoLongerFinishesIsARegression) {
  // Its partial summaries look better (the easy levels only), but it diverged.
  auto base = set("b", {{"dataset=d/objective=x", {4.99}}}, "mean_abs_bias");
  auto cand = set("c", {{"dataset=d/objective=x", {2.0}}}, "mean_abs_bias");
  cand.groups["dataset=d/objective=x"].statuses = {"diverged"};
  Gate g;
  g.origin = "[[gates]] #1";
  g.metric = "mean_abs_bias";
  g.higher_is_better = false;
  g.abs_tolerance = 0.1;
  const CompareReport r = compare(base, cand, {g});
  EXPECT_TRUE(r.regression());
  ASSERT_FALSE(r.rows.empty());
  EXPECT_EQ(r.rows[0].metric, "status");
  EXPECT_EQ(r.rows[0].reason, "finished in the baseline, diverged in the candidate");
  // A gate's objective label that is in no case is refused, even beside one that is.
  Gate labels = higher(0.02);
  labels.objectives = {"x", "typo"};
  EXPECT_THROW(compare(set("b", {{"dataset=d/objective=x", {0.8}}}), set("c", {{"dataset=d/objective=x", {0.8}}}), {labels}),
               InputError);
}

TEST(Compare, ChangeWithinNoiseIsNotFlagged) {
  // A 3-point drop in the mean, but the seeds overlap: Mann–Whitney does not call it.
  const auto base = set("b", {{"g", {0.80, 0.70, 0.90, 0.75, 0.85}}});
  const auto cand = set("c", {{"g", {0.78, 0.66, 0.88, 0.72, 0.81}}});
  const CompareReport r = compare(base, cand, {higher(0.02, "mann_whitney")});
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].verdict, Verdict::unchanged);
  EXPECT_EQ(r.rows[0].reason, "not significant");
  EXPECT_GT(*r.rows[0].p_value, 0.05);
  EXPECT_FALSE(r.regression());
}

TEST(Compare, SignificantButTinyChangeIsUnderTheFactor) {
  std::vector<double> b, c;
  for (int i = 0; i < 30; ++i) {
    b.push_back(0.800 + 0.0001 * i);
    c.push_back(0.795 + 0.0001 * i);  // every seed 0.005 lower: significant, but below 0.02
  }
  const CompareReport r = compare(set("b", {{"g", b}}), set("c", {{"g", c}}), {higher(0.02, "welch")});
  EXPECT_LT(*r.rows[0].p_value, 1e-6);
  EXPECT_EQ(r.rows[0].verdict, Verdict::unchanged);
  EXPECT_EQ(r.rows[0].reason, "within tolerance");
  // The same drop, significant and beyond a tolerance it exceeds: a regression.
  EXPECT_EQ(compare(set("b", {{"g", b}}), set("c", {{"g", c}}), {higher(0.001, "welch")}).rows[0].verdict,
            Verdict::regression);
}

TEST(Compare, MissingCasesAndMetrics) {
  const auto base = set("b", {{"dataset=d/objective=a", {0.8}}, {"dataset=d/objective=b", {0.8}}});
  const auto cand = set("c", {{"dataset=d/objective=a", {0.8}}});
  const CompareReport r = compare(base, cand, {higher(0.02)});
  EXPECT_TRUE(r.regression());
  EXPECT_EQ(r.rows.back().reason, "case missing in the candidate");
  // A diverged candidate has no summary for the metric: that is a regression too.
  auto diverged = set("c", {{"dataset=d/objective=a", {0.8}}, {"dataset=d/objective=b", {0.8}}}, "other");
  EXPECT_TRUE(compare(base, diverged, {higher(0.02)}).regression());
  // Nothing in common: an input error, not a pass.
  EXPECT_THROW(compare(base, set("c", {{"dataset=x/objective=y", {0.8}}}), {higher(0.02)}), InputError);
  EXPECT_THROW(compare(base, base, {}), InputError);
}

TEST(Compare, TimingIsReportedNotGatedUnlessMarked) {
  Gate g;
  g.metric = "steps_per_second";
  g.rel_tolerance = 0.1;
  const auto base = set("b", {{"g", {1000}}}, "steps_per_second");
  const auto cand = set("c", {{"g", {500}}}, "steps_per_second");
  EXPECT_EQ(compare(base, cand, {g}).rows[0].verdict, Verdict::reported);
  g.timing = true;
  EXPECT_EQ(compare(base, cand, {g}).rows[0].verdict, Verdict::regression);
}

TEST(Compare, GatesCanBeLimitedToObjectives) {
  Gate g = higher(0.02);
  g.objectives = {"rpc"};
  const auto base = set("b", {{"dataset=d/objective=rpc", {0.8}}, {"dataset=d/objective=js", {0.8}}});
  const auto cand = set("c", {{"dataset=d/objective=rpc", {0.8}}, {"dataset=d/objective=js", {0.1}}});
  const CompareReport r = compare(base, cand, {g});
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].group, "dataset=d/objective=rpc");
  EXPECT_FALSE(r.regression());
}

// End to end: a real (small) run, exported, compared with itself, with a doctored copy, and with
// nothing that matches.
TEST(CompareCli, ExportRoundTripAndExitCodes) {
  test::TempDir dir;
  const std::string suite =
      dir.write("s.toml", test::tiny_mi_suite("gated", "[1.0, 2.0]", 40,
                                              "[[objectives]]\nplugin = \"infonce\"\n"
                                              "[[objectives]]\nplugin = \"rpc\"\n"
                                              "[[gates]]\nmetric = \"mse\"\nbetter = \"lower\"\nabs_tolerance = 0.01\n"))
          .string();
  const std::string db = (dir.path() / "r.db").string(), json_path = (dir.path() / "base.json").string();
  const auto h = test::harness();
  ASSERT_EQ(test::run_command(h + " run " + suite + " --quiet --db " + db).exit_code, 0);
  ASSERT_EQ(test::run_command(h + " export --db " + db + " -o " + json_path).exit_code, 0);

  auto same = test::run_command(h + " compare " + json_path + " " + db);
  EXPECT_EQ(same.exit_code, 0) << same.output;
  EXPECT_NE(same.output.find("result: no regression"), std::string::npos) << same.output;
  EXPECT_NE(same.output.find("4 gated values in 2 matched cases"), std::string::npos) << same.output;
  EXPECT_EQ(test::run_command(h + " compare 1 1 --db " + db).exit_code, 0);

  // A baseline whose MSE was much lower: the candidate regressed.
  std::ifstream in(json_path);
  nlohmann::json doc = nlohmann::json::parse(in);
  for (auto& c : doc["cases"])
    for (auto& [scope, names] : c["summaries"].items())
      if (names.contains("mse")) names["mse"] = names["mse"].get<double>() - 0.5;
  const auto better_base = dir.write("better.json", doc.dump());
  auto regressed = test::run_command(h + " compare " + better_base.string() + " " + db + " --format json");
  EXPECT_EQ(regressed.exit_code, 1) << regressed.output;
  EXPECT_TRUE(nlohmann::json::parse(regressed.output)["regression"].get<bool>());

  // The text form re-imports: the imported run compares equal to the original, and once only.
  const std::string db2 = (dir.path() / "imported.db").string();
  EXPECT_EQ(test::run_command(h + " import " + json_path + " --db " + db2).exit_code, 0);
  const auto again = test::run_command(h + " import " + json_path + " --db " + db2);
  EXPECT_NE(again.output.find("already present"), std::string::npos) << again.output;
  EXPECT_EQ(test::run_command(h + " compare " + db + " " + db2).exit_code, 0);
  const auto round_trip = test::run_command(h + " export --db " + db2);
  std::ifstream original(json_path);
  const std::string original_text((std::istreambuf_iterator<char>(original)), std::istreambuf_iterator<char>());
  nlohmann::json a = nlohmann::json::parse(original_text), b = nlohmann::json::parse(round_trip.output);
  a["run"].erase("run_id");
  b["run"].erase("run_id");
  EXPECT_EQ(a, b);  // every exported column and summary survives the round trip

  // The candidate cannot loosen the gates it is judged by: they come from the baseline unless
  // --gates names a suite, and the output says which.
  std::ifstream cand_in(json_path);
  nlohmann::json loose = nlohmann::json::parse(cand_in);
  loose["run"]["resolved_suite"]["gates"][0]["abs_tolerance"] = 100.0;
  for (auto& c : loose["cases"])
    for (auto& [scope, names] : c["summaries"].items())
      if (names.contains("mse")) names["mse"] = names["mse"].get<double>() + 0.5;
  const auto loose_cand = dir.write("loose.json", loose.dump());
  auto judged = test::run_command(h + " compare " + json_path + " " + loose_cand.string());
  EXPECT_EQ(judged.exit_code, 1) << judged.output;
  EXPECT_NE(judged.output.find("gates: from the baseline"), std::string::npos) << judged.output;
  auto by_suite = test::run_command(h + " compare " + json_path + " " + loose_cand.string() + " --gates " + suite);
  EXPECT_EQ(by_suite.exit_code, 1) << by_suite.output;
  EXPECT_NE(by_suite.output.find("gates: from --gates"), std::string::npos) << by_suite.output;
  // Against its own loosened gates the worse candidate would pass: the baseline's are stricter.
  auto self_judged = test::run_command(h + " compare " + loose_cand.string() + " " + loose_cand.string());
  EXPECT_EQ(self_judged.exit_code, 0) << self_judged.output;

  for (std::size_t i = 0; i < doc["cases"].size(); ++i)  // distinct keys: a duplicated one is refused
    doc["cases"][i]["case_key"] = "dataset=other/objective=x/repeat=" + std::to_string(i);
  const auto unrelated = dir.write("unrelated.json", doc.dump());
  auto none = test::run_command(h + " compare " + unrelated.string() + " " + db);
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_NE(none.output.find("nothing to compare"), std::string::npos) << none.output;
  EXPECT_EQ(test::run_command(h + " compare nosuchthing " + db + " --db " + db).exit_code, 2);
}

// A hostile export is refused whole before anything is written, naming the file and the JSON
// path: not JSON where JSON is stored, wrong types in typed columns, nulls, missing and unknown
// keys, duplicated cases, an edited resolved suite. No database is created; with a good file
// beside a bad one nothing is imported; compare refuses a duplicated case rather than counting
// it as a seed.
TEST(CompareCli, ImportRefusesAnExportThatDoesNotFitTheSchema) {
  test::TempDir dir;
  const std::string suite =
      dir.write("s.toml", test::tiny_mi_suite("hostile", "[1.0, 2.0]", 20, "[[objectives]]\nplugin = \"infonce\"\n"
                                                                           "[[objectives]]\nplugin = \"rpc\"\n"))
          .string();
  const std::string db = (dir.path() / "r.db").string(), good = (dir.path() / "good.json").string();
  const auto h = test::harness();
  ASSERT_EQ(test::run_command(h + " run " + suite + " --quiet --db " + db).exit_code, 0);
  ASSERT_EQ(test::run_command(h + " export --db " + db + " -o " + good).exit_code, 0);
  std::ifstream in(good);
  const nlohmann::json doc = nlohmann::json::parse(in);
  ASSERT_GE(doc["cases"].size(), 2u);
  const std::string scope = doc["cases"][0]["summaries"].begin().key();
  const std::string name = doc["cases"][0]["summaries"][scope].begin().key();

  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> mutations = {
      {[](auto& d) { d["run"]["resolved_suite"] = "{not json"; }, "at /run/resolved_suite: expected an object"},
      {[](auto& d) { d["run"]["resolved_suite"] = nlohmann::json::object(); }, "at /run/resolved_suite: missing object 'suite'"},
      {[](auto& d) { d["run"]["resolved_suite"]["suite"]["name"] = "other"; }, "at /run/resolved_suite/suite/name: differs"},
      {[](auto& d) { d["run"]["resolved_suite"]["seed_note"] = 1; }, "at /run/resolved_hash: is not the SHA-256"},
      {[](auto& d) { d["run"]["provenance"] = "x"; }, "at /run/provenance: expected an object"},
      {[](auto& d) { d["run"]["seed"] = "12"; }, "at /run/seed: expected an integer, got a string \"12\""},
      {[](auto& d) { d["run"].erase("started_at"); }, "at /run: missing key 'started_at'"},
      {[](auto& d) { d["run"]["status"] = "done"; }, "at /run/status: unknown status \"done\""},
      {[](auto& d) { d["run"]["evil"] = 1; }, "at /run/evil: unknown key (not a column of runs)"},
      {[](auto& d) { d["cases"][0]["seed"] = "7"; }, "at /cases/0/seed: expected an integer, got a string"},
      {[](auto& d) { d["cases"][1]["status"] = nullptr; }, "at /cases/1/status: must not be null"},
      {[](auto& d) { d["cases"][1]["wall_seconds"] = true; }, "at /cases/1/wall_seconds: expected a number, got a boolean"},
      {[&](auto& d) { d["cases"][0]["summaries"][scope][name] = "NaN"; },
       "at /cases/0/summaries/" + scope + "/" + name + ": expected a number or null, got a string"},
      {[&](auto& d) { d["cases"][0]["summaries"][scope][name] = nlohmann::json::object(); }, "got an object"},
      {[&](auto& d) { d["cases"][0]["summaries"][scope] = 3; }, "at /cases/0/summaries/" + scope + ": expected an object"},
      {[](auto& d) { d["cases"][1]["case_key"] = d["cases"][0]["case_key"]; }, "at /cases/1/case_key: case '"},
      {[](auto& d) { d["cases"] = nlohmann::json::object(); }, "at /cases: expected an array"},
      {[](auto& d) { d["schema"] = "1"; }, "is not an rpcbench export"},
      {[](auto& d) { d["run"]["resolved_suite"]["suite"]["repeats"] = "many"; }, "resolved_suite/suite/repeats: expected an integer"},
      {[](auto& d) { d["run"]["resolved_suite"]["gates"] = 5; }, "resolved_suite/gates: expected an array"},
      {[](auto& d) { d["run"]["resolved_suite"]["gates"] = {{{"metric", "mse"}, {"abs_tolerance", "big"}}}; },
       "resolved_suite/gates/0/abs_tolerance: expected a number"},
      {[](auto& d) { d["run"]["started_at"] = "9999-zzz"; }, "at /run/started_at: expected a UTC time"},
      {[](auto& d) { d["cases"][0]["config_text"] = "not json"; }, "at /cases/0/config_text: expected the case's resolved"},
      {[](auto& d) { d["cases"][0]["case_key"] = "free form"; }, "at /cases/0/case_key: expected dataset=D/objective=O"},
  };
  for (std::size_t i = 0; i < mutations.size(); ++i) {
    nlohmann::json bad = doc;
    mutations[i].first(bad);
    const std::string file = dir.write("bad" + std::to_string(i) + ".json", bad.dump()).string();
    const std::string target = (dir.path() / ("new" + std::to_string(i) + ".db")).string();
    const auto r = test::run_command(h + " import " + file + " --db " + target);
    EXPECT_EQ(r.exit_code, 2) << i << ": " << r.output;
    EXPECT_NE(r.output.find(mutations[i].second), std::string::npos) << i << ": " << r.output;
    EXPECT_NE(r.output.find(file), std::string::npos) << i << ": " << r.output;
    EXPECT_FALSE(std::filesystem::exists(target)) << i;  // a failed import creates no database
  }
  // A good file (a run new to the database) beside a bad one: nothing imported, even the good one.
  const std::string existing = (dir.path() / "existing.db").string();
  ASSERT_EQ(test::run_command(h + " import " + good + " --db " + existing).exit_code, 0);
  nlohmann::json fresh = doc;
  fresh["run"]["started_at"] = "2000-01-01T00:00:00.000Z";
  const std::string new_good = dir.write("new_good.json", fresh.dump()).string();
  fresh["run"]["started_at"] = "2000-01-02T00:00:00.000Z";
  fresh["cases"][1]["seed"] = 1.5;
  const std::string bad = dir.write("twice.json", fresh.dump()).string();
  EXPECT_EQ(test::run_command(h + " import " + new_good + " " + bad + " --db " + existing).exit_code, 2);
  Database check(existing, Database::Mode::read_only);
  auto runs = check.prepare("SELECT count(*) FROM runs");
  runs.step();
  EXPECT_EQ(runs.column_int(0), 1);
  // Every report reader still works on the database.
  EXPECT_EQ(test::run_command(h + " report --db " + existing + " --out " + (dir.path() / "html").string()).exit_code, 0);

  nlohmann::json duplicated = doc;
  duplicated["cases"].push_back(doc["cases"][0]);
  const std::string dup = dir.write("dup.json", duplicated.dump()).string();
  const auto cmp = test::run_command(h + " compare " + dup + " " + good + " --gates " + suite);
  EXPECT_EQ(cmp.exit_code, 2) << cmp.output;
  EXPECT_NE(cmp.output.find("appears twice"), std::string::npos) << cmp.output;
}

}  // namespace
}  // namespace rpcbench
