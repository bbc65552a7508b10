// The claims verdict on crafted databases: supported, contradicted, inconclusive and missing,
// with the numbers behind each verdict checked against hand-computed intervals.
#include "claims/claims.hpp"
#include "compare/compare.hpp"
#include "db/database.hpp"
#include "db/merge.hpp"
#include "stats/intervals.hpp"
#include "test_support.hpp"

#include <cmath>
#include <set>

namespace rpcbench {
namespace {

class CraftedDb {
 public:
  CraftedDb() : db_(dir_.path() / "c.db", Database::Mode::read_write) {}
  Database& db() { return db_; }

  // A run; `started` orders runs in time (ISO 8601 as the harness writes it), `profile` and
  // `hash` tell configurations apart, `provenance` may mark a shard.
  std::int64_t run(const std::string& suite, const std::string& task, const std::string& evidence,
                   const std::string& status = "finished", const std::string& sweep = "",
                   const std::string& started = "2026-01-01T00:00:00.000Z", const std::string& profile = "",
                   const std::string& hash = "x", const std::string& provenance = "{}") {
    const std::string resolved = R"({"suite":{"name":")" + suite + R"(","repeats":1,"evidence":[")" + evidence + R"("]})" +
                                 (sweep.empty() ? "" : R"(,"sweep":)" + sweep) + "}";
    auto s = db_.prepare("INSERT INTO runs (suite_name, suite_path, suite_sha256, profile, task, seed, resolved_suite, "
                         "resolved_hash, provenance, started_at, finished_at, status) VALUES (?1, 'p', 'h', ?5, ?2, 0, ?3, "
                         "?6, ?7, ?8, 't1', ?4)");
    s.bind(1, suite).bind(2, task).bind(3, resolved).bind(4, status).bind(5, profile).bind(6, hash).bind(7, provenance).bind(8, started);
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
  // `diverged` of `n` seeds diverge; the others record an estimate jitter (no true MI: vision).
  void objective(std::int64_t run, const std::string& label, int n, int diverged, double variance,
                 const std::string& coords = "") {
    for (int i = 0; i < n; ++i) {
      const auto id = add_case(run, "gaussian", label, i, i < diverged ? "diverged" : "finished", coords);
      if (i >= diverged) summary(id, "", "mi_trend_variance", variance * (1.0 + 0.01 * i));
    }
  }
  // A seed of an MI case with one level (true MI 8): window variance, jitter and bias there.
  std::int64_t mi_seed(std::int64_t run, const std::string& label, int repeat, double variance, double trend_variance,
                       double bias, const std::string& coords = "", const std::string& status = "finished",
                       const std::string& dataset = "g") {
    const auto id = add_case(run, dataset, label, repeat, status, coords);
    summary(id, "mi=8", "variance", variance);
    summary(id, "mi=8", "trend_variance", trend_variance);
    summary(id, "mi=8", "bias", bias);
    summary(id, "", "mi_variance", variance);  // what claim 1 used to read: the window variance
    return id;
  }

 private:
  test::TempDir dir_;
  Database db_;
};

const ClaimRow* find(const ClaimSection& s, const std::string& baseline, const std::string& metric_prefix,
                     const std::string& context_part = "") {
  for (const auto& r : s.rows)
    if (r.baseline == baseline && r.metric.rfind(metric_prefix, 0) == 0 &&
        (context_part.empty() || r.context.find(context_part) != std::string::npos))
      return &r;
  return nullptr;
}

TEST(Claims, WithoutRunsEveryClaimSaysItHasNoData) {
  CraftedDb c;
  const auto sections = evaluate_claims(c.db(), "rpc");
  ASSERT_EQ(sections.size(), 3u);
  for (const auto& s : sections) {
    EXPECT_TRUE(s.rows.empty());
    EXPECT_NE(s.missing.find("no complete finished run"), std::string::npos) << s.missing;
  }
}

TEST(Claims, StabilityVerdictsFollowTheIntervals) {
  CraftedDb c;
  const auto run = c.run("stability-mi", "mi", "stability");
  c.objective(run, "rpc", 10, 0, 0.01);
  c.objective(run, "dv", 10, 8, 5.0);     // diverges far more often: supported
  c.objective(run, "js", 10, 0, 0.01);    // neither diverges: inconclusive
  c.objective(run, "nwj", 10, 2, 0.011);  // 0/10 vs 2/10: the intervals overlap
  const auto unfinished = c.run("stability-mi", "mi", "stability", "killed", "", "2026-02-01T00:00:00.000Z");  // newer, not finished
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
  // No true MI here: the jitter is shown, but bears no verdict (a pinned estimate jitters little).
  const ClaimRow* dv_jitter = find(s, "dv", "jitter");
  ASSERT_NE(dv_jitter, nullptr);
  EXPECT_EQ(dv_jitter->verdict, ClaimVerdict::inconclusive);
  EXPECT_LT(dv_jitter->subject_value.value, dv_jitter->baseline_value.value);
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
  EXPECT_EQ(find(s, "infonce", "jitter")->verdict, ClaimVerdict::inconclusive);
}

// One objective along batch_size ∈ {32, 64, 128, 256}, two seeds: `metric` loses `per_halving`
// per halving of the batch (± a small seed-to-seed wobble). Batch sizes in `lost` diverged.
// Returns the (log2 b, value) points of the finished cases, in insertion order.
std::pair<std::vector<double>, std::vector<double>> along_batch(CraftedDb& c, std::int64_t run, const std::string& objective,
                                                                const std::string& metric, double at_256, double per_halving,
                                                                bool higher_is_better, const std::set<int>& lost = {},
                                                                int seeds = 2) {
  std::vector<double> xs, ys;
  for (int b : {32, 64, 128, 256})
    for (int seed = 0; seed < seeds; ++seed) {
      const bool diverged = lost.count(b) != 0 && (seed == 0 || lost.count(-1) != 0);  // -1: every seed
      const auto id = c.add_case(run, "g", objective, seed, diverged ? "diverged" : "finished", "/batch_size=" + std::to_string(b));
      if (diverged) continue;
      const double halvings = 8.0 - std::log2(b);  // 0 at 256
      const double y = at_256 + (higher_is_better ? -1 : 1) * per_halving * halvings + (seed == 0 ? 1e-3 : -1e-3);
      c.summary(id, "", metric, y);
      c.summary(id, "", "mean_variance", 0.1 + 0.05 * halvings);  // a diagnostic: no claim-2 row
      xs.push_back(std::log2(b));
      ys.push_back(y);
    }
  return {xs, ys};
}

const char* kBatchSweep = R"([{"key":"batch_size","values":[32,64,128,256]}])";

TEST(Claims, BatchSizeComparesDegradationPerHalving) {
  CraftedDb c;
  const auto run = c.run("batch-size-vision", "contrastive", "batch_size", "finished", kBatchSweep);
  const auto [xs, ys] = along_batch(c, run, "rpc", "linear_top1", 0.85, 0.005, true);
  along_batch(c, run, "infonce", "linear_top1", 0.85, 0.03, true);  // loses 3 points per halving: supported
  auto dv = along_batch(c, run, "dv", "linear_top1", 0.85, 0.0045, true);
  const auto s = evaluate_claims(c.db(), "rpc")[1];
  ASSERT_TRUE(s.missing.empty()) << s.missing;
  const ClaimRow* infonce = find(s, "infonce", "linear top-1");
  ASSERT_NE(infonce, nullptr);
  EXPECT_EQ(infonce->verdict, ClaimVerdict::supported) << infonce->reason;
  // The slope is the OLS fit of the finished cases, as a loss per halving.
  const Slope fit = least_squares_slope(xs, ys);
  EXPECT_DOUBLE_EQ(infonce->subject_value.value, fit.slope);
  EXPECT_DOUBLE_EQ(infonce->subject_value.low, fit.ci.low);
  EXPECT_EQ(infonce->subject_value.n, 8u);
  EXPECT_NEAR(infonce->subject_value.value, 0.005, 1e-4);
  EXPECT_EQ(find(s, "dv", "linear top-1")->verdict, ClaimVerdict::inconclusive);  // 0.0045 vs 0.005: overlap
}

TEST(Claims, BatchSizeOnALowerIsBetterMetricCountsOnlyTheDownstreamMetric) {
  // The MI task's mean |bias| is lower-is-better: degradation per halving is minus the slope. Its
  // mean variance over levels is a diagnostic, not what claim 2 is about: no row for it.
  CraftedDb c;
  const auto run = c.run("batch-size-mi", "mi", "batch_size", "finished", kBatchSweep);
  along_batch(c, run, "rpc", "mean_abs_bias", 0.3, 0.1, false);          // bias grows 0.1 nats per halving
  along_batch(c, run, "infonce", "mean_abs_bias", 0.3, 1.0, false);      // grows 1 nat: rpc degrades less
  along_batch(c, run, "label_rpc", "mean_abs_bias", 0.3, 5.0, false);    // a label that merely starts with the subject's
  const auto s = evaluate_claims(c.db(), "rpc")[1];
  const ClaimRow* infonce = find(s, "infonce", "mean |bias|");
  ASSERT_NE(infonce, nullptr);
  EXPECT_NEAR(infonce->subject_value.value, 0.1, 1e-4);
  EXPECT_LT(infonce->subject_value.low, infonce->subject_value.value);
  EXPECT_EQ(infonce->verdict, ClaimVerdict::supported);
  for (const auto& r : s.rows) {
    EXPECT_EQ(r.context.find("label_rpc"), std::string::npos) << r.context;
    EXPECT_EQ(r.metric.find("variance"), std::string::npos) << r.metric;
  }
  EXPECT_NE(find(s, "label_rpc", "mean |bias|"), nullptr);  // it is a baseline, not the subject
  EXPECT_EQ(s.rows.size(), 2u);
}

TEST(Claims, BatchSizeReportsABaselineThatDivergedAtMostBatchSizes) {
  // JS diverges at every batch but the largest: it has no slope, and that collapse is what the
  // claim is about. It is a row with the diverged fraction per batch size, not left out.
  CraftedDb c;
  const auto run = c.run("batch-size-mi", "mi", "batch_size", "finished", kBatchSweep);
  along_batch(c, run, "rpc", "mean_abs_bias", 0.3, 0.1, false);
  along_batch(c, run, "js", "mean_abs_bias", 0.3, 0.1, false, {32, 64, 128, -1});  // every seed there
  const auto s = evaluate_claims(c.db(), "rpc")[1];
  const ClaimRow* js = find(s, "js", "mean |bias|");
  ASSERT_NE(js, nullptr);
  EXPECT_EQ(js->verdict, ClaimVerdict::inconclusive);
  EXPECT_TRUE(std::isnan(js->baseline_value.value));
  EXPECT_NE(js->reason.find("js 32: 2/2, 64: 2/2, 128: 2/2, 256: 0/2"), std::string::npos) << js->reason;
  EXPECT_NE(js->reason.find("rpc 32: 0/2"), std::string::npos) << js->reason;
}

TEST(Claims, BatchSizeGivesNoVerdictWhenTheSubjectLostPointsAlongTheAxis) {
  // The subject's slope without its diverged batch sizes would flatter it: no verdict either way.
  CraftedDb c;
  const auto run = c.run("batch-size-mi", "mi", "batch_size", "finished", kBatchSweep);
  along_batch(c, run, "rpc", "mean_abs_bias", 0.3, 0.1, false, {32});  // one seed at 32
  along_batch(c, run, "infonce", "mean_abs_bias", 0.3, 1.0, false);
  const auto s = evaluate_claims(c.db(), "rpc")[1];
  const ClaimRow* infonce = find(s, "infonce", "mean |bias|");
  ASSERT_NE(infonce, nullptr);
  EXPECT_EQ(infonce->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(infonce->reason.find("rpc 32: 1/2, 64: 0/2"), std::string::npos) << infonce->reason;
  EXPECT_NE(infonce->reason.find("infonce 32: 0/2"), std::string::npos) << infonce->reason;
}

TEST(Claims, MiVarianceCountsOnlyAtComparableBias) {
  CraftedDb c;
  const auto run = c.run("mi", "mi", "mi_estimation");
  auto seeds = [&](const std::string& objective, std::vector<double> variances, std::vector<double> biases) {
    for (std::size_t i = 0; i < variances.size(); ++i) c.mi_seed(run, objective, static_cast<int>(i), variances[i], 0.01, biases[i]);
  };
  seeds("rpc", {0.030, 0.031, 0.029}, {-0.4, -0.4, -0.4});
  seeds("smile_5", {0.16, 0.17, 0.15}, {0.5, 0.5, 0.5});      // higher variance, |bias| 0.1 larger: supported
  seeds("infonce", {0.10, 0.11, 0.12}, {-3.9, -3.9, -3.9});   // higher variance and far more bias: supported
  seeds("chi2", {0.001, 0.0011, 0.0012}, {-3.9, -3.9, -3.9}); // lower variance bought with 3.5 nats more |bias|
  seeds("nwj", {3.0, 3.1, 2.9}, {0.0, 0.0, 0.0});             // rpc's |bias| is 0.4 larger: still comparable (≤ 0.5)
  seeds("dv", {0.001, 0.0011, 0.0012}, {1.5, -1.5, 1.5});     // signed mean 0.5, but |bias| 1.5 on every seed
  auto s = evaluate_claims(c.db(), "rpc")[2];
  // t(0.975, 2) = 0.95·√(2 / (1 − 0.95²)): rpc's interval 0.03 ± t · 0.001 / √3.
  const double t2 = 0.95 * std::sqrt(2.0 / (1.0 - 0.95 * 0.95));
  const ClaimRow* smile = find(s, "smile_5", "variance");
  ASSERT_NE(smile, nullptr);
  EXPECT_NEAR(smile->subject_value.value, 0.03, 1e-15);
  EXPECT_NEAR(smile->subject_value.high, 0.03 + t2 * 0.001 / std::sqrt(3.0), 1e-12);
  EXPECT_EQ(smile->verdict, ClaimVerdict::supported);
  EXPECT_NE(smile->context.find("true MI 8"), std::string::npos) << smile->context;
  EXPECT_EQ(find(s, "nwj", "variance")->verdict, ClaimVerdict::supported);
  // The rule is one-sided: rpc's lower variance with less bias is evidence.
  EXPECT_EQ(find(s, "infonce", "variance")->verdict, ClaimVerdict::supported);
  // χ² at a ceiling: its lower variance bought with 3.5 nats of bias is no evidence against rpc.
  const ClaimRow* chi2 = find(s, "chi2", "variance");
  ASSERT_NE(chi2, nullptr);
  EXPECT_EQ(chi2->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(chi2->reason.find("bias not comparable"), std::string::npos) << chi2->reason;
  // Seeds at +1.5 and −1.5 are biased, not unbiased on average.
  const ClaimRow* dv = find(s, "dv", "variance");
  ASSERT_NE(dv, nullptr);
  EXPECT_EQ(dv->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(dv->reason.find("mean |bias| 0.40 vs 1.50"), std::string::npos) << dv->reason;

  CraftedDb biased;
  const auto run2 = biased.run("mi", "mi", "mi_estimation");
  for (int i = 0; i < 3; ++i) {
    biased.mi_seed(run2, "rpc", i, 0.03 + 0.001 * i, 0.01, -2.0);
    biased.mi_seed(run2, "smile_5", i, 0.16 + 0.01 * i, 0.01, 0.1);  // rpc's lower variance comes with 1.9 nats more bias
  }
  s = evaluate_claims(biased.db(), "rpc")[2];
  const ClaimRow* row = find(s, "smile_5", "variance");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(row->reason.find("bias not comparable"), std::string::npos) << row->reason;
}

TEST(Claims, ZeroVariancesAreKept) {
  // A constant estimate (variance 0) is a result: it counts, as a geometric mean at the floor and
  // as an arithmetic mean of 0.
  CraftedDb c;
  const auto run = c.run("mi", "mi", "mi_estimation");
  for (int i = 0; i < 3; ++i) {
    c.mi_seed(run, "rpc", i, 0.0, 0.0, 0.1);
    c.mi_seed(run, "infonce", i, 0.1 + 0.01 * i, 0.01, 0.1);
  }
  const auto s = evaluate_claims(c.db(), "rpc")[2];
  const ClaimRow* row = find(s, "infonce", "variance");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->subject_value.n, 3u);
  EXPECT_DOUBLE_EQ(row->subject_value.value, 0.0);
  EXPECT_EQ(row->verdict, ClaimVerdict::supported);

  const Estimate g = geometric_mean_interval({0.0, 1e-4, 1e-2});
  EXPECT_EQ(g.n, 3u);
  EXPECT_NEAR(std::log10(g.value), (-12.0 - 4.0 - 2.0) / 3.0, 1e-12);
}

TEST(Claims, GeometricMeanIntervalByHand) {
  // log10 of {0.01, 0.1, 1} is {−2, −1, 0}: mean −1, std 1, n 3; t(0.975, 2) = 0.95·√(2 / 0.0975).
  const Estimate g = geometric_mean_interval({0.01, 0.1, 1.0, NAN});
  const double half = 0.95 * std::sqrt(2.0 / (1.0 - 0.95 * 0.95)) / std::sqrt(3.0);
  EXPECT_EQ(g.n, 3u);
  EXPECT_NEAR(g.value, 0.1, 1e-15);
  EXPECT_NEAR(std::log10(g.low), -1.0 - half, 1e-12);
  EXPECT_NEAR(std::log10(g.high), -1.0 + half, 1e-12);
  EXPECT_TRUE(std::isnan(geometric_mean_interval({}).value));
}

TEST(Claims, StabilityJitterIsComparedPerLevelAtComparableBias) {
  // Claim 1 on an MI staircase: the estimate's jitter around its trend at each level. An estimate
  // pinned 3 nats below the truth jitters little; that is no evidence of stability.
  CraftedDb c;
  const auto run = c.run("stability-mi", "mi", "stability");
  for (int i = 0; i < 3; ++i) {
    c.mi_seed(run, "rpc", i, /*variance=*/0.002, /*trend=*/0.001 + 1e-4 * i, /*bias=*/-3.0);
    c.mi_seed(run, "dv", i, 0.5, 0.5 + 0.01 * i, 0.1);        // far more jitter, unbiased
    c.mi_seed(run, "smile_5", i, 0.5, 0.4 + 0.01 * i, -2.8);  // far more jitter at comparable bias
  }
  const auto s = evaluate_claims(c.db(), "rpc")[0];
  const ClaimRow* dv = find(s, "dv", "jitter");
  ASSERT_NE(dv, nullptr);
  EXPECT_NE(dv->context.find("true MI 8"), std::string::npos) << dv->context;
  EXPECT_EQ(dv->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(dv->reason.find("bias not comparable"), std::string::npos) << dv->reason;
  EXPECT_NEAR(dv->subject_value.value, geometric_mean_interval({0.001, 0.0011, 0.0012}).value, 1e-15);
  EXPECT_EQ(find(s, "smile_5", "jitter")->verdict, ClaimVerdict::supported);
  EXPECT_EQ(find(s, "dv", "diverged")->reason, "neither diverged at this budget");
}

TEST(Claims, LearningRatesAreNotPooledIntoOneVerdict) {
  // rpc never diverges at the small learning rate and always at the large one; JS the other way
  // round. Pooled, 5/10 against 5/10 would hide both: the verdict is given per grid point, and the
  // pooled row says the points disagree.
  CraftedDb c;
  const auto run = c.run("stability-mi", "mi", "stability", "finished", R"([{"key":"learning_rate","values":[0.0005,0.002]}])");
  c.objective(run, "rpc", 5, 0, 0.01, "/learning_rate=0.0005");
  c.objective(run, "rpc", 5, 5, 0.01, "/learning_rate=0.002");
  c.objective(run, "js", 5, 5, 0.01, "/learning_rate=0.0005");
  c.objective(run, "js", 5, 0, 0.01, "/learning_rate=0.002");
  c.objective(run, "nwj", 5, 5, 0.01, "/learning_rate=0.0005");  // diverges at both: rpc ahead at the small one, tied at the other
  c.objective(run, "nwj", 5, 5, 0.01, "/learning_rate=0.002");
  const auto s = evaluate_claims(c.db(), "rpc")[0];
  const ClaimRow* small = find(s, "js", "diverged", "learning_rate=0.0005");
  const ClaimRow* large = find(s, "js", "diverged", "learning_rate=0.002");
  const ClaimRow* pooled = find(s, "js", "diverged", "grid points pooled");
  ASSERT_NE(small, nullptr);
  ASSERT_NE(large, nullptr);
  ASSERT_NE(pooled, nullptr);
  EXPECT_EQ(small->verdict, ClaimVerdict::supported);
  EXPECT_EQ(large->verdict, ClaimVerdict::contradicted);
  EXPECT_TRUE(pooled->pooled);
  EXPECT_EQ(pooled->verdict, ClaimVerdict::mixed);
  EXPECT_NE(pooled->reason.find("the subject's values are lower at gaussian, learning_rate=0.0005, the baseline's at "
                                "gaussian, learning_rate=0.002"),
            std::string::npos)
      << pooled->reason;
  EXPECT_DOUBLE_EQ(pooled->subject_value.value, 0.5);
  EXPECT_EQ(pooled->subject_value.n, 10u);
  // No point against the other: the pool's own intervals decide (5/10 vs 10/10 overlap).
  EXPECT_EQ(find(s, "nwj", "diverged", "learning_rate=0.0005")->verdict, ClaimVerdict::supported);
  EXPECT_EQ(find(s, "nwj", "diverged", "learning_rate=0.002")->verdict, ClaimVerdict::inconclusive);
  EXPECT_EQ(find(s, "nwj", "diverged", "grid points pooled")->verdict, ClaimVerdict::inconclusive);
  // Three seeds a point cannot separate 0/3 from 3/3 (Wilson): pooled over two agreeing points,
  // 0/6 against 6/6 can.
  CraftedDb three;
  const auto run3 = three.run("stability-mi", "mi", "stability", "finished", R"([{"key":"learning_rate","values":[0.0005,0.002]}])");
  for (const char* lr : {"/learning_rate=0.0005", "/learning_rate=0.002"}) {
    three.objective(run3, "rpc", 3, 0, 0.01, lr);
    three.objective(run3, "js", 3, 3, 0.01, lr);
  }
  const auto s3 = evaluate_claims(three.db(), "rpc")[0];
  EXPECT_EQ(find(s3, "js", "diverged", "learning_rate=0.0005")->verdict, ClaimVerdict::inconclusive);
  EXPECT_EQ(find(s3, "js", "diverged", "grid points pooled")->verdict, ClaimVerdict::supported);
}

TEST(Claims, ShardsAndRunsWithCasesLeftAreNotEvidence) {
  CraftedDb c;
  const auto whole = c.run("stability-vision", "contrastive", "stability", "finished", "", "2026-01-01T00:00:00.000Z");
  c.objective(whole, "rpc", 5, 0, 0.01);
  c.objective(whole, "dv", 5, 5, 0.01);
  // Newer: one part of a sharded run (only its cases), and a run with a killed case.
  const auto shard = c.run("stability-vision", "contrastive", "stability", "finished", "", "2026-02-01T00:00:00.000Z", "", "x",
                           R"({"shard":"0/2"})");
  c.objective(shard, "rpc", 1, 1, 0.01);
  c.objective(shard, "dv", 1, 0, 0.01);
  const auto s = evaluate_claims(c.db(), "rpc")[0];
  EXPECT_EQ(s.runs, std::vector<std::int64_t>{whole});
  EXPECT_EQ(find(s, "dv", "diverged")->verdict, ClaimVerdict::supported);
  std::string budget;
  for (const auto& line : s.budget) budget += line + "\n";
  EXPECT_NE(budget.find("shard 0/2"), std::string::npos) << budget;
  EXPECT_NE(budget.find("merge the shards"), std::string::npos) << budget;
  // Seeds are counted from the cases (the resolved suite says repeats = 1).
  EXPECT_NE(budget.find("10 cases, 2 objectives, 5 seeds per grid point"), std::string::npos) << budget;

  // A run with a case still marked running or killed is not complete evidence either.
  const auto killed = c.run("stability-vision", "contrastive", "stability", "finished", "", "2026-03-01T00:00:00.000Z");
  c.objective(killed, "rpc", 2, 0, 0.01);
  c.add_case(killed, "gaussian", "dv", 0, "killed");
  const auto again = evaluate_claims(c.db(), "rpc")[0];
  EXPECT_EQ(again.runs, std::vector<std::int64_t>{whole});
}

// A database holding one finished stability-vision run started at `started`, rpc diverging in
// `rpc_diverged` of 5 seeds and dv in 5 − that.
void one_run_db(const std::filesystem::path& path, const std::string& started, int rpc_diverged) {
  Database db(path, Database::Mode::read_write);
  auto s = db.prepare("INSERT INTO runs (suite_name, suite_path, suite_sha256, profile, task, seed, resolved_suite, resolved_hash, "
                      "provenance, started_at, finished_at, status) VALUES ('stability-vision', 'p', 'h', '', 'contrastive', 0, "
                      "'{\"datasets\":[],\"encoder\":{},\"objectives\":[],\"suite\":{\"evidence\":[\"stability\"],"
                      "\"name\":\"stability-vision\",\"profile\":\"\",\"repeats\":5,\"seed\":0,\"task\":\"contrastive\"},"
                      "\"task\":{}}', 'x', '{}', ?1, '2026-06-01T00:00:00.000Z', 'finished')");
  s.bind(1, started).run();
  const auto run = db.last_insert_id();
  for (const auto& [objective, diverged] : {std::pair<std::string, int>{"rpc", rpc_diverged}, {"dv", 5 - rpc_diverged}})
    for (int i = 0; i < 5; ++i) {
      auto c = db.prepare("INSERT INTO cases (run_id, case_key, dataset, encoder, objective, repeat, seed, config_text, config_hash, "
                          "device, threads, started_at, status) VALUES (?1, ?2, 'gaussian', 'e', ?3, ?4, 0, '{}', 'h', 'cpu', 1, "
                          "'2026-01-01T00:00:00.000Z', ?5)");
      c.bind(1, run).bind(2, "dataset=gaussian/objective=" + objective + "/repeat=" + std::to_string(i)).bind(3, objective);
      c.bind(4, static_cast<std::int64_t>(i)).bind(5, std::string(i < diverged ? "diverged" : "finished")).run();
    }
}

TEST(Claims, TheLatestRunIsTheLatestStartedEvenAfterAMergeInReverseOrder) {
  test::TempDir dir;
  one_run_db(dir.path() / "old.db", "2026-01-01T00:00:00.000Z", 5);  // rpc diverged: contradicted
  one_run_db(dir.path() / "new.db", "2026-03-01T00:00:00.000Z", 0);  // rpc stable: supported
  Database merged(dir.path() / "merged.db", Database::Mode::read_write);
  merge_database(merged, dir.path() / "new.db");  // the newer first: it becomes run 1
  merge_database(merged, dir.path() / "old.db");  // the older becomes run 2
  const auto s = evaluate_claims(merged, "rpc")[0];
  ASSERT_EQ(s.runs.size(), 1u);
  EXPECT_EQ(s.runs[0], 1);
  EXPECT_EQ(find(s, "dv", "diverged")->verdict, ClaimVerdict::supported);
  // compare's default side is the same run, and an unfinished newer run is passed over.
  merged.prepare("INSERT INTO runs (suite_name, suite_path, suite_sha256, profile, task, seed, resolved_suite, resolved_hash, "
                 "provenance, started_at, status) VALUES ('stability-vision', 'p', 'h', '', 'contrastive', 0, '{}', 'y', '{}', "
                 "'2026-05-01T00:00:00.000Z', 'killed')")
      .run();
  EXPECT_EQ(load_result_set((dir.path() / "merged.db").string(), "", "").description.rfind("run 1 in", 0), 0u)
      << load_result_set((dir.path() / "merged.db").string(), "", "").description;
}

TEST(Claims, RunsAreChosenBySuiteProfileAndResolvedSuite) {
  // A newer quick run does not replace the default run: each is evidence of its own, named; and
  // a query for one run (a report's) gives that run's verdicts only.
  CraftedDb c;
  const auto full = c.run("stability-vision", "contrastive", "stability", "finished", "", "2026-01-01T00:00:00.000Z", "", "aaa");
  c.objective(full, "rpc", 5, 0, 0.01);
  c.objective(full, "dv", 5, 5, 0.01);
  const auto quick = c.run("stability-vision", "contrastive", "stability", "finished", "", "2026-02-01T00:00:00.000Z", "quick", "bbb");
  c.objective(quick, "rpc", 5, 5, 0.01);
  c.objective(quick, "dv", 5, 0, 0.01);
  const auto both = evaluate_claims(c.db(), "rpc")[0];
  EXPECT_EQ(both.runs, (std::vector<std::int64_t>{quick, full}));
  EXPECT_EQ(find(both, "dv", "diverged", "run " + std::to_string(full) + " ")->verdict, ClaimVerdict::supported);
  EXPECT_EQ(find(both, "dv", "diverged", "run " + std::to_string(quick) + " ")->verdict, ClaimVerdict::contradicted);
  const auto only = evaluate_claims(c.db(), ClaimsQuery{"rpc", {full}})[0];
  EXPECT_EQ(only.runs, std::vector<std::int64_t>{full});
  for (const auto& r : only.rows) EXPECT_EQ(r.context.find("run " + std::to_string(quick) + " "), std::string::npos);
  ASSERT_EQ(only.budget.size(), 1u);
  EXPECT_EQ(only.budget.front().find("quick"), std::string::npos) << only.budget.front();
}

TEST(Claims, APooledVarianceVerdictCannotOutvoteAPointThatGoesAgainstIt) {
  // At lr 0.0005 rpc's variance is far lower but bought with bias (no verdict, yet its values lean
  // to rpc); at lr 0.002 rpc's variance is higher at equal bias (contradicted). Pooled, the first
  // point's tiny variances could make "supported": the pool is mixed instead.
  CraftedDb c;
  const auto run = c.run("mi", "mi", "mi_estimation", "finished", R"([{"key":"learning_rate","values":[0.0005,0.002]}])");
  for (int i = 0; i < 10; ++i) {
    const double wobble = 1.0 + 0.01 * i;
    c.mi_seed(run, "rpc", i, 0.01 * wobble, 0.01, 1.0, "/learning_rate=0.0005");
    c.mi_seed(run, "dv", i, 10.0 * wobble, 0.01, 0.3, "/learning_rate=0.0005");
    c.mi_seed(run, "rpc", i, 0.3 * wobble, 0.01, 0.3, "/learning_rate=0.002");
    c.mi_seed(run, "dv", i, 0.1 * wobble, 0.01, 0.3, "/learning_rate=0.002");
  }
  const auto s = evaluate_claims(c.db(), "rpc")[2];
  const ClaimRow* biased = find(s, "dv", "variance", "learning_rate=0.0005");
  ASSERT_NE(biased, nullptr);
  EXPECT_EQ(biased->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(biased->reason.find("bias not comparable"), std::string::npos) << biased->reason;
  EXPECT_EQ(find(s, "dv", "variance", "learning_rate=0.002")->verdict, ClaimVerdict::contradicted);
  const ClaimRow* pooled = find(s, "dv", "variance", "grid points pooled");
  ASSERT_NE(pooled, nullptr);
  EXPECT_EQ(pooled->verdict, ClaimVerdict::mixed) << pooled->reason;
}

TEST(Claims, APooledVerdictAgainstOnePointsLeanIsMixed) {
  // Simpson's paradox: rpc's variance is lower at both learning rates, but most of its seeds sit at
  // the high-variance point and most of SMILE's at the low one, so the pool says "contradicted".
  // No point says so: the pool is mixed.
  CraftedDb c;
  const auto run = c.run("mi", "mi", "mi_estimation", "finished", R"([{"key":"learning_rate","values":[0.0005,0.002]}])");
  int repeat = 0;
  auto seeds = [&](const std::string& objective, int n, double variance, const std::string& lr) {
    for (int i = 0; i < n; ++i) c.mi_seed(run, objective, repeat++, variance * (1.0 + 0.001 * i), 0.01, 0.1, "/learning_rate=" + lr);
  };
  seeds("rpc", 10, 10.0, "0.0005");
  seeds("smile_5", 2, 10.1, "0.0005");
  seeds("rpc", 2, 0.1, "0.002");
  seeds("smile_5", 10, 0.11, "0.002");
  const auto s = evaluate_claims(c.db(), "rpc")[2];
  for (const char* lr : {"learning_rate=0.0005", "learning_rate=0.002"}) {
    const ClaimRow* point = find(s, "smile_5", "variance", lr);
    ASSERT_NE(point, nullptr);
    EXPECT_LT(point->subject_value.value, point->baseline_value.value) << lr;
    EXPECT_NE(point->verdict, ClaimVerdict::contradicted) << lr;
  }
  const ClaimRow* pooled = find(s, "smile_5", "variance", "grid points pooled");
  ASSERT_NE(pooled, nullptr);
  EXPECT_GT(pooled->subject_value.value, pooled->baseline_value.value);  // the paradox itself
  EXPECT_EQ(pooled->verdict, ClaimVerdict::mixed) << pooled->reason;
  EXPECT_NE(pooled->reason.find("the baseline's at none"), std::string::npos) << pooled->reason;
}

TEST(Claims, SeedsLostBeforeALevelDoNotFlatterTheirSide) {
  // Two of five dv seeds diverged before the level; the three that survived vary less than rpc's.
  // Their lower variance is not evidence against rpc; rpc's lower variance against a side that
  // lost seeds still is.
  CraftedDb c;
  const auto run = c.run("mi", "mi", "mi_estimation");
  for (int i = 0; i < 5; ++i) {
    c.mi_seed(run, "rpc", i, 0.05 + 0.001 * i, 0.01, 0.1);
    if (i < 2) c.add_case(run, "g", "dv", i, "diverged");
    else c.mi_seed(run, "dv", i, 0.01 + 0.001 * i, 0.01, 0.1);
    if (i < 2) c.add_case(run, "g", "nwj", i, "diverged");
    else c.mi_seed(run, "nwj", i, 1.0 + 0.01 * i, 0.01, 0.1);
  }
  const auto s = evaluate_claims(c.db(), "rpc")[2];
  const ClaimRow* dv = find(s, "dv", "variance");
  ASSERT_NE(dv, nullptr);
  EXPECT_EQ(dv->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(dv->reason.find("the baseline lost 2 seed(s)"), std::string::npos) << dv->reason;
  const ClaimRow* nwj = find(s, "nwj", "variance");
  EXPECT_EQ(nwj->verdict, ClaimVerdict::supported);
  EXPECT_NE(nwj->reason.find("0 and 2 seed(s) lost"), std::string::npos) << nwj->reason;
}

TEST(Claims, ARunWithoutTheJitterSummarySaysSo) {
  // A database from before the harness recorded trend_variance: the rows say why they are empty.
  CraftedDb c;
  const auto run = c.run("stability-mi", "mi", "stability");
  for (int i = 0; i < 3; ++i)
    for (const char* o : {"rpc", "dv"}) {
      const auto id = c.add_case(run, "g", o, i, "finished");
      c.summary(id, "mi=8", "variance", 0.1);
      c.summary(id, "mi=8", "bias", 0.1);
    }
  const auto s = evaluate_claims(c.db(), "rpc")[0];
  const ClaimRow* row = find(s, "dv", "jitter");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->verdict, ClaimVerdict::inconclusive);
  EXPECT_NE(row->reason.find("no 'trend_variance' summaries"), std::string::npos) << row->reason;
}

TEST(Claims, BatchSizeIsTheOnlyAxisClaimTwoFits) {
  // A learning rate swept beside the batch size is a grid coordinate of its own, not a slope.
  CraftedDb c;
  const auto run = c.run("batch-size-mi", "mi", "batch_size", "finished",
                         R"([{"key":"batch_size","values":[32,64,128,256]},{"key":"learning_rate","values":[0.0005,0.002]}])");
  for (const char* lr : {"/learning_rate=0.0005", "/learning_rate=0.002"})
    for (int b : {32, 64, 128, 256})
      for (const char* o : {"rpc", "infonce"}) {
        const auto id = c.add_case(run, "g", o, 0, "finished", "/batch_size=" + std::to_string(b) + lr);
        c.summary(id, "", "mean_abs_bias",
                  (o == std::string("rpc") ? 0.1 : 1.0) * (8 - std::log2(b)) + (std::string(lr) == "/learning_rate=0.002" ? 0.5 : 0.0));
      }
  const auto s = evaluate_claims(c.db(), "rpc")[1];
  for (const auto& r : s.rows) EXPECT_EQ(r.metric.find("learning_rate"), std::string::npos) << r.metric;
  const ClaimRow* at_small = find(s, "infonce", "mean |bias|", "learning_rate=0.0005");
  ASSERT_NE(at_small, nullptr);
  EXPECT_NEAR(at_small->subject_value.value, 0.1, 1e-12);  // exactly linear: 0.1 nats per halving
  EXPECT_NE(find(s, "infonce", "mean |bias|", "grid points pooled"), nullptr);
}

TEST(Claims, MergedShardsAndOnePartRunsAreEvidence) {
  CraftedDb c;
  const auto merged = c.run("stability-vision", "contrastive", "stability", "finished", "", "2026-01-01T00:00:00.000Z", "", "x",
                            R"({"shard":"all 2 merged"})");
  c.objective(merged, "rpc", 5, 0, 0.01);
  c.objective(merged, "dv", 5, 5, 0.01);
  const auto single = c.run("stability-vision", "contrastive", "stability", "finished", "", "2026-01-02T00:00:00.000Z", "quick",
                            "y", R"({"shard":"0/1"})");
  c.objective(single, "rpc", 5, 0, 0.01);
  c.objective(single, "dv", 5, 5, 0.01);
  // A run with a case still running (another process on it) is not complete.
  const auto running = c.run("stability-vision", "contrastive", "stability", "finished", "", "2026-01-03T00:00:00.000Z");
  c.objective(running, "rpc", 5, 0, 0.01);
  c.add_case(running, "gaussian", "dv", 0, "running");
  const auto s = evaluate_claims(c.db(), "rpc")[0];
  EXPECT_EQ(s.runs, (std::vector<std::int64_t>{single, merged}));
}

TEST(Claims, OlderRunsOfAnotherResolvedSuiteAreNamedNotUsedUnlessAskedFor) {
  CraftedDb c;
  const auto edited = c.run("stability-vision", "contrastive", "stability", "finished", "", "2026-03-01T00:00:00.000Z", "", "new");
  c.objective(edited, "rpc", 5, 0, 0.01);
  c.objective(edited, "dv", 5, 5, 0.01);
  const auto original = c.run("stability-vision", "contrastive", "stability", "finished", "", "2026-01-01T00:00:00.000Z", "", "old");
  c.objective(original, "rpc", 5, 0, 0.01);
  c.objective(original, "dv", 5, 5, 0.01);
  const auto s = evaluate_claims(c.db(), "rpc")[0];
  EXPECT_EQ(s.runs, std::vector<std::int64_t>{edited});
  std::string budget;
  for (const auto& line : s.budget) budget += line + "\n";
  EXPECT_NE(budget.find("run " + std::to_string(original) + " of 'stability-vision', resolved suite old, is older"),
            std::string::npos)
      << budget;
  EXPECT_NE(budget.find("--run " + std::to_string(original)), std::string::npos) << budget;
  // Asked for by id, both are used.
  const auto both = evaluate_claims(c.db(), ClaimsQuery{"rpc", {original, edited}})[0];
  EXPECT_EQ(both.runs, (std::vector<std::int64_t>{edited, original}));
}

}  // namespace
}  // namespace rpcbench
