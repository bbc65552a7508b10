// The claims verdict on crafted databases: supported, contradicted, inconclusive and missing,
// with the numbers behind each verdict checked against hand-computed intervals.
#include "claims/claims.hpp"
#include "db/database.hpp"
#include "stats/intervals.hpp"
#include "test_support.hpp"

namespace rpcbench {
namespace {

class CraftedDb {
 public:
  CraftedDb() : db_(dir_.path() / "c.db", Database::Mode::read_write) {}
  Database& db() { return db_; }

  std::int64_t run(const std::string& suite, const std::string& task, const std::string& evidence,
                   const std::string& status = "finished", const std::string& sweep = "") {
    const std::string resolved = R"({"suite":{"name":")" + suite + R"(","repeats":1,"evidence":[")" + evidence + R"("]})" +
                                 (sweep.empty() ? "" : R"(,"sweep":)" + sweep) + "}";
    auto s = db_.prepare("INSERT INTO runs (suite_name, suite_path, suite_sha256, profile, task, seed, resolved_suite, "
                         "resolved_hash, provenance, started_at, finished_at, status) VALUES (?1, 'p', 'h', '', ?2, 0, ?3, "
                         "'x', '{}', 't0', 't1', ?4)");
    s.bind(1, suite).bind(2, task).bind(3, resolved).bind(4, status);
    s.run();
    return db_.last_insert_id();
  }
  std::int64_t add_case(std::int64_t run, const std::string& dataset, const std::string& objective, int repeat,
                        const std::string& status, const std::string& coords = "") {
    const std::string key = "dataset=" + dataset + "/objective=" + objective + coords + "/repeat=" + std::to_string(repeat);
    auto s = db_.prepare("INSERT INTO cases (run_id, case_key, dataset, encoder, objective, repeat, seed, config_text, "
                         "config_hash, device, threads, started_at, status) VALUES (?1, ?2, ?3, 'e', ?4, ?5, 0, '{}', 'h', "
                         "'cpu', 1, 't', ?6)");
    s.bind(1, run).bind(2, key).bind(3, dataset).bind(4, objective).bind(5, static_cast<std::int64_t>(repeat)).bind(6, status);
    s.run();
    return db_.last_insert_id();
  }
  void summary(std::int64_t case_id, const std::string& scope, const std::string& name, double value) {
    db_.prepare("INSERT INTO summaries VALUES (?1, ?2, ?3, ?4)").bind(1, case_id).bind(2, scope).bind(3, name).bind(4, value).run();
  }
  void aggregate(std::int64_t run, const std::string& grouping, const std::string& scope, const std::string& name,
                 const std::string& statistic, double value) {
    db_.prepare("INSERT INTO aggregates VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .bind(1, run).bind(2, grouping).bind(3, scope).bind(4, name).bind(5, statistic).bind(6, value)
        .run();
  }
  // `diverged` of `n` seeds diverge; the others record an estimate variance.
  void objective(std::int64_t run, const std::string& label, int n, int diverged, double variance) {
    for (int i = 0; i < n; ++i) {
      const auto id = add_case(run, "gaussian", label, i, i < diverged ? "diverged" : "finished");
      if (i >= diverged) summary(id, "", "mi_variance", variance * (1.0 + 0.01 * i));
    }
  }

 private:
  test::TempDir dir_;
  Database db_;
};

const ClaimRow* find(const ClaimSection& s, const std::string& baseline, const std::string& metric_prefix) {
  for (const auto& r : s.rows)
    if (r.baseline == baseline && r.metric.rfind(metric_prefix, 0) == 0) return &r;
  return nullptr;
}

TEST(Claims, WithoutRunsEveryClaimSaysItHasNoData) {
  CraftedDb c;
  const auto sections = evaluate_claims(c.db(), "rpc");
  ASSERT_EQ(sections.size(), 3u);
  for (const auto& s : sections) {
    EXPECT_TRUE(s.rows.empty());
    EXPECT_NE(s.missing.find("no finished run"), std::string::npos) << s.missing;
  }
}

TEST(Claims, StabilityVerdictsFollowTheIntervals) {
  CraftedDb c;
  const auto run = c.run("stability-mi", "mi", "stability");
  c.objective(run, "rpc", 10, 0, 0.01);
  c.objective(run, "dv", 10, 8, 5.0);     // diverges far more often: supported
  c.objective(run, "js", 10, 0, 0.01);    // neither diverges: inconclusive
  c.objective(run, "nwj", 10, 2, 0.011);  // 0/10 vs 2/10: the intervals overlap
  const auto unfinished = c.run("stability-mi", "mi", "stability", "killed");  // newer but not finished
  c.objective(unfinished, "rpc", 10, 10, 1.0);
  const auto sections = evaluate_claims(c.db(), "rpc");
  const ClaimSection& s = sections[0];
  ASSERT_TRUE(s.missing.empty()) << s.missing;
  const ClaimRow* dv = find(s, "dv", "diverged");
  ASSERT_NE(dv, nullptr);
  EXPECT_EQ(dv->verdict, ClaimVerdict::supported);
  EXPECT_DOUBLE_EQ(dv->subject_value.value, 0.0);
  EXPECT_DOUBLE_EQ(dv->baseline_value.value, 0.8);
  EXPECT_DOUBLE_EQ(dv->baseline_value.low, wilson_interval(8, 10).low);
  EXPECT_DOUBLE_EQ(dv->subject_value.high, wilson_interval(0, 10).high);
  EXPECT_EQ(find(s, "dv", "estimate variance")->verdict, ClaimVerdict::supported);
  EXPECT_EQ(find(s, "js", "diverged")->verdict, ClaimVerdict::inconclusive);
  EXPECT_EQ(find(s, "js", "diverged")->reason, "neither diverged at this budget");
  EXPECT_EQ(find(s, "nwj", "diverged")->verdict, ClaimVerdict::inconclusive);
  // The killed run is named and not used.
  bool named = false;
  for (const auto& line : s.budget) named = named || line.find("is killed") != std::string::npos;
  EXPECT_TRUE(named);
  EXPECT_NE(sections[1].missing, "");  // no batch-size run
}

TEST(Claims, AContradictionIsReportedAsSuch) {
  CraftedDb c;
  const auto run = c.run("stability-vision", "contrastive", "stability");
  c.objective(run, "rpc", 10, 9, 3.0);
  c.objective(run, "infonce", 10, 0, 0.1);
  const auto s = evaluate_claims(c.db(), "rpc")[0];
  EXPECT_EQ(find(s, "infonce", "diverged")->verdict, ClaimVerdict::contradicted);
  // Only one finite case for rpc: no interval for its variance.
  EXPECT_EQ(find(s, "infonce", "estimate variance")->verdict, ClaimVerdict::inconclusive);
}

TEST(Claims, BatchSizeComparesDegradationPerHalving) {
  CraftedDb c;
  const auto run = c.run("batch-size-vision", "contrastive", "batch_size", "finished", R"([{"key":"batch_size","values":[32,64]}])");
  c.add_case(run, "d", "rpc", 0, "finished", "/batch_size=32");
  c.add_case(run, "d", "infonce", 0, "finished", "/batch_size=32");
  c.add_case(run, "d", "dv", 0, "finished", "/batch_size=32");
  auto slope = [&](const std::string& objective, double s, double lo, double hi) {
    const std::string g = "dataset=d/objective=" + objective;
    c.aggregate(run, g, "", "linear_top1", "slope_log2(batch_size)", s);
    c.aggregate(run, g, "", "linear_top1", "slope_ci_low_log2(batch_size)", lo);
    c.aggregate(run, g, "", "linear_top1", "slope_ci_high_log2(batch_size)", hi);
    c.aggregate(run, g, "", "linear_top1", "n_log2(batch_size)", 5);
  };
  slope("rpc", 0.005, 0.001, 0.009);      // loses half a point per halving
  slope("infonce", 0.03, 0.02, 0.04);     // loses three: rpc degrades less, supported
  slope("dv", 0.004, -0.002, 0.010);      // overlaps: inconclusive
  const auto s = evaluate_claims(c.db(), "rpc")[1];
  ASSERT_TRUE(s.missing.empty()) << s.missing;
  const ClaimRow* infonce = find(s, "infonce", "linear top-1");
  ASSERT_NE(infonce, nullptr);
  EXPECT_EQ(infonce->verdict, ClaimVerdict::supported);
  EXPECT_DOUBLE_EQ(infonce->subject_value.value, 0.005);
  EXPECT_EQ(find(s, "dv", "linear top-1")->verdict, ClaimVerdict::inconclusive);
}

// The batch-size aggregates of one objective on dataset "g" of an MI run: the slope of mean |bias|
// against log2(batch), its interval, n = 8, and how many points along the axis were lost.
void put_mi_bias_slope(CraftedDb& c, std::int64_t run, const std::string& objective, double s, double lo, double hi,
                       double lost) {
  const std::string g = "dataset=g/objective=" + objective;
  c.aggregate(run, g, "", "mean_abs_bias", "slope_log2(batch_size)", s);
  c.aggregate(run, g, "", "mean_abs_bias", "slope_ci_low_log2(batch_size)", lo);
  c.aggregate(run, g, "", "mean_abs_bias", "slope_ci_high_log2(batch_size)", hi);
  c.aggregate(run, g, "", "mean_abs_bias", "n_log2(batch_size)", 8);
  c.aggregate(run, g, "", "mean_abs_bias", "not_finished_log2(batch_size)", lost);
}

TEST(Claims, BatchSizeOnALowerIsBetterMetricAndWithDivergedPoints) {
  // The MI task's mean |bias| is lower-is-better: degradation per halving is minus the slope.
  CraftedDb c;
  const auto run = c.run("batch-size-mi", "mi", "batch_size", "finished", R"([{"key":"batch_size","values":[32,64]}])");
  for (const char* o : {"rpc", "infonce", "dv", "label_rpc"}) c.add_case(run, "g", o, 0, "finished", "/batch_size=32");
  auto slope = [&](const std::string& objective, double s, double lo, double hi, double lost) {
    put_mi_bias_slope(c, run, objective, s, lo, hi, lost);
  };
  slope("rpc", -0.1, -0.2, 0.0, 0);        // bias grows 0.1 nats per halving
  slope("infonce", -1.0, -1.2, -0.8, 0);   // grows 1 nat per halving: rpc degrades less
  slope("dv", -2.0, -2.5, -1.5, 1);        // one point diverged: no verdict
  slope("label_rpc", -5.0, -6, -4, 0);     // a label that merely starts with the subject's
  const auto s = evaluate_claims(c.db(), "rpc")[1];
  const ClaimRow* infonce = find(s, "infonce", "mean |bias|");
  ASSERT_NE(infonce, nullptr);
  EXPECT_DOUBLE_EQ(infonce->subject_value.value, 0.1);
  EXPECT_DOUBLE_EQ(infonce->subject_value.low, 0.0);
  EXPECT_DOUBLE_EQ(infonce->subject_value.high, 0.2);
  EXPECT_EQ(infonce->verdict, ClaimVerdict::supported);
  const ClaimRow* dv = find(s, "dv", "mean |bias|");
  ASSERT_NE(dv, nullptr);
  EXPECT_EQ(dv->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(dv->reason.find("diverged"), std::string::npos) << dv->reason;
  for (const auto& r : s.rows) EXPECT_EQ(r.context.find("label_rpc"), std::string::npos) << r.context;
  EXPECT_NE(find(s, "label_rpc", "mean |bias|"), nullptr);  // it is a baseline, not the subject
}

TEST(Claims, MiVarianceCountsOnlyAtComparableBias) {
  CraftedDb c;
  const auto run = c.run("mi", "mi", "mi_estimation");
  c.add_case(run, "g", "rpc", 0, "finished");
  c.add_case(run, "g", "smile_5", 0, "finished");
  c.add_case(run, "g", "infonce", 0, "finished");
  c.add_case(run, "g", "nwj", 0, "finished");
  auto level = [&](const std::string& objective, double variance, double bias, double n) {
    const std::string g = "dataset=g/objective=" + objective;
    for (const auto& [name, v] : {std::pair<std::string, double>{"variance", variance}, {"bias", bias}}) {
      c.aggregate(run, g, "mi=8", name, "mean", v);
      c.aggregate(run, g, "mi=8", name, "std", std::abs(v) * 0.05);
      c.aggregate(run, g, "mi=8", name, "n", n);
    }
  };
  level("rpc", 0.03, -0.4, 3);
  level("smile_5", 0.16, 0.5, 3);   // lower variance, |bias| 0.1 smaller: supported
  level("infonce", 0.10, -3.9, 3);  // lower variance, but rpc's bias is not larger: supported
  level("nwj", 3.0, 0.0, 3);        // rpc's |bias| is 0.4 larger: still comparable (≤ 0.5)
  auto s = evaluate_claims(c.db(), "rpc")[2];
  // t(0.975, 2) = 4.303: rpc's interval 0.03 ± 4.303 · 0.0015 / √3.
  EXPECT_NEAR(find(s, "smile_5", "variance")->subject_value.high, 0.03 + 4.302653 * 0.0015 / std::sqrt(3.0), 1e-6);
  EXPECT_EQ(find(s, "smile_5", "variance")->verdict, ClaimVerdict::supported);
  EXPECT_EQ(find(s, "nwj", "variance")->verdict, ClaimVerdict::supported);  // |bias| 0.4 larger: comparable
  // InfoNCE at its ceiling: low variance bought with 3.5 nats of bias is no evidence either way.
  const ClaimRow* infonce = find(s, "infonce", "variance");
  ASSERT_NE(infonce, nullptr);
  EXPECT_EQ(infonce->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(infonce->reason.find("bias not comparable"), std::string::npos) << infonce->reason;

  CraftedDb biased;
  const auto run2 = biased.run("mi", "mi", "mi_estimation");
  biased.add_case(run2, "g", "rpc", 0, "finished");
  biased.add_case(run2, "g", "smile_5", 0, "finished");
  const auto put = [&](const std::string& objective, double variance, double bias, double n) {
    const std::string g = "dataset=g/objective=" + objective;
    for (const auto& [name, v] : {std::pair<std::string, double>{"variance", variance}, {"bias", bias}}) {
      biased.aggregate(run2, g, "mi=8", name, "mean", v);
      biased.aggregate(run2, g, "mi=8", name, "std", std::abs(v) * 0.05);
      biased.aggregate(run2, g, "mi=8", name, "n", n);
    }
  };
  put("rpc", 0.03, -2.0, 3);
  put("smile_5", 0.16, 0.1, 3);  // lower variance bought with 1.9 nats more bias: inconclusive
  s = evaluate_claims(biased.db(), "rpc")[2];
  const ClaimRow* row = find(s, "smile_5", "variance");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(row->reason.find("bias not comparable"), std::string::npos) << row->reason;
}

TEST(Claims, BatchSizeGivesNoVerdictWhenTheSubjectLostPointsAlongTheAxis) {
  // The subject's slope without its diverged batch sizes would flatter it: no verdict either way.
  CraftedDb c;
  const auto run = c.run("batch-size-mi", "mi", "batch_size", "finished", R"([{"key":"batch_size","values":[32,64]}])");
  for (const char* o : {"rpc", "infonce"}) c.add_case(run, "g", o, 0, "finished", "/batch_size=32");
  auto slope = [&](const std::string& objective, double s, double lo, double hi, double lost) {
    put_mi_bias_slope(c, run, objective, s, lo, hi, lost);
  };
  slope("rpc", -0.1, -0.2, 0.0, 2);       // would be "supported" on its surviving points
  slope("infonce", -1.0, -1.2, -0.8, 0);
  const auto s = evaluate_claims(c.db(), "rpc")[1];
  const ClaimRow* infonce = find(s, "infonce", "mean |bias|");
  ASSERT_NE(infonce, nullptr);
  EXPECT_EQ(infonce->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(infonce->reason.find("2 of the subject's and 0 of the baseline's"), std::string::npos) << infonce->reason;
}

}  // namespace
}  // namespace rpcbench
