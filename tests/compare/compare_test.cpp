// `harness compare` on crafted results: an improvement, a regression beyond tolerance, a change
// within noise, a significant-but-tiny change, missing cases; the tests against references.
#include "compare/compare.hpp"
#include "compare/statistics.hpp"
#include "test_support.hpp"
#include "util/errors.hpp"

#include <nlohmann/json.hpp>

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
  g.metric = "accuracy";
  g.higher_is_better = true;
  g.abs_tolerance = abs_tol;
  g.test = test;
  return g;
}

TEST(Statistics, MatchReferenceValues) {
  // References: the normal approximation with continuity correction, and Welch's t with the
  // Student-t tail integrated numerically (independently of Boost).
  EXPECT_NEAR(mann_whitney_p({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}), 0.0121858, 1e-6);
  EXPECT_NEAR(welch_p({1, 2, 3, 4}, {2, 4, 6, 8}), 0.1515805, 1e-6);
  EXPECT_DOUBLE_EQ(mann_whitney_p({1, 1}, {1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(welch_p({1}, {2, 3}), 1.0);
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

  for (auto& c : doc["cases"]) c["case_key"] = "dataset=other/objective=x/repeat=0";
  const auto unrelated = dir.write("unrelated.json", doc.dump());
  auto none = test::run_command(h + " compare " + unrelated.string() + " " + db);
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_NE(none.output.find("nothing to compare"), std::string::npos) << none.output;
  EXPECT_EQ(test::run_command(h + " compare nosuchthing " + db + " --db " + db).exit_code, 2);
}

}  // namespace
}  // namespace rpcbench
