// Aggregates over crafted case reports: divergence fractions with Wilson intervals, seed
// statistics, and slopes across a sweep axis, against values worked out by hand.
#include "run/aggregates.hpp"
#include "stats/intervals.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace rpcbench {
namespace {

struct Crafted {
  Suite suite;
  std::vector<Case> cases;
  std::vector<CaseReport> reports;
  std::shared_ptr<PluginUse> dataset = std::make_shared<PluginUse>(), rpc = std::make_shared<PluginUse>();

  Crafted() {
    dataset->label = "d";
    rpc->label = "rpc";
    suite.datasets = {*dataset};
    suite.seed = 5;
    suite.repeats = 4;
    SweepAxis axis;
    axis.key = "batch_size";
    axis.name = "batch_size";
    axis.numeric = true;
    axis.texts = {"32", "64", "128"};
    axis.values = {std::int64_t{32}, std::int64_t{64}, std::int64_t{128}};
    suite.sweep = {axis};
    cases.reserve(12);
    // Accuracy 0.5 + 0.05·log2(batch) + seed noise ±0.01 (mean 0 over the four seeds); at batch 32
    // one seed diverges (no accuracy).
    const double noise[] = {0.01, -0.01, 0.005, -0.005};
    for (int b : {32, 64, 128})
      for (int r = 0; r < 4; ++r) {
        Case c;
        c.index = cases.size();
        c.group = "dataset=d/objective=rpc/batch_size=" + std::to_string(b);
        c.key = c.group + "/repeat=" + std::to_string(r);
        c.dataset = dataset;
        c.objective = rpc;
        c.repeat = r;
        c.coordinates = {{"batch_size", std::to_string(b), static_cast<double>(b)}};
        cases.push_back(c);
      }
    for (const Case& c : cases) {
      CaseReport report;
      report.c = &c;
      const double b = c.coordinates[0].number;
      if (b == 32 && c.repeat == 3) {
        report.status = CaseStatus::diverged;
      } else {
        report.status = CaseStatus::finished;
        const double acc = 0.5 + 0.05 * std::log2(b) + (b == 32 ? 0.0 : noise[c.repeat]);
        report.summary = {{"", "linear_top1", acc}, {"", "loss_variance", 0.1 * (c.repeat + 1)}};
      }
      reports.push_back(report);
    }
  }
};

std::map<std::string, double> index(const std::vector<AggregateValue>& values) {
  std::map<std::string, double> out;
  for (const auto& v : values) out[v.grouping + "|" + v.scope + "|" + v.name + "|" + v.statistic] = v.value;
  return out;
}

TEST(Aggregates, DivergedFractionSeedStatisticsAndSlope) {
  Crafted c;
  const auto a = index(compute_aggregates(c.suite, c.reports, {{"linear_top1", "linear top-1", true}}));
  const std::string g32 = "dataset=d/objective=rpc/batch_size=32", g64 = "dataset=d/objective=rpc/batch_size=64";
  EXPECT_DOUBLE_EQ(a.at(g32 + "||diverged|fraction"), 0.25);
  EXPECT_DOUBLE_EQ(a.at(g32 + "||diverged|ci_low"), wilson_interval(1, 4).low);
  EXPECT_DOUBLE_EQ(a.at(g64 + "||diverged|fraction"), 0.0);
  EXPECT_DOUBLE_EQ(a.at(g32 + "||linear_top1|n"), 3.0);  // the diverged seed has no accuracy
  EXPECT_NEAR(a.at(g64 + "||linear_top1|mean"), 0.8, 1e-12);
  // std (ddof 1) of ±0.01, ±0.005: sqrt(2·(1e-4 + 2.5e-5) / 3).
  EXPECT_NEAR(a.at(g64 + "||linear_top1|std"), std::sqrt(2 * (1e-4 + 2.5e-5) / 3), 1e-12);
  EXPECT_LT(a.at(g64 + "||linear_top1|ci_low"), 0.8);
  EXPECT_GT(a.at(g64 + "||linear_top1|ci_high"), 0.8);
  EXPECT_NEAR(a.at(g64 + "||loss_variance|mean"), 0.25, 1e-12);
  // Across the axis: 0.05 per doubling exactly (the noise averages out per value, and the slope
  // of an exact line through the per-value means of a balanced design is that line's).
  const std::string across = "dataset=d/objective=rpc";
  EXPECT_NEAR(a.at(across + "||linear_top1|slope_log2(batch_size)"), 0.05, 1e-3);
  EXPECT_LT(a.at(across + "||linear_top1|slope_ci_low_log2(batch_size)"), 0.05);
  EXPECT_GT(a.at(across + "||linear_top1|slope_ci_high_log2(batch_size)"), 0.05);
  EXPECT_DOUBLE_EQ(a.at(across + "||linear_top1|n_log2(batch_size)"), 11.0);
  // (0.85 − 0.75) / 0.85: the accuracy lost from batch 128 to batch 32, relative.
  EXPECT_NEAR(a.at(across + "||linear_top1|relative_drop_log2(batch_size)"), 0.1 / 0.85, 1e-12);
}

TEST(Aggregates, TablesShowTheGridAndTheSeeds) {
  Crafted c;
  const std::vector<HeadlineMetric> headline = {{"linear_top1", "linear top-1", true}};
  const auto values = compute_aggregates(c.suite, c.reports, headline);
  const auto tables = aggregate_tables(c.suite, c.reports, values, headline);
  ASSERT_EQ(tables.size(), 2u);  // across seeds; linear top-1 against batch_size
  EXPECT_EQ(tables[0].rows.size(), 3u);
  EXPECT_EQ(tables[0].rows[0][2], "0.25 [0.05, 0.70]");
  ASSERT_EQ(tables[1].rows.size(), 1u);
  EXPECT_EQ(tables[1].rows[0][0], "rpc");
  EXPECT_EQ(tables[1].rows[0][1], "0.7500");
  EXPECT_EQ(tables[1].rows[0][3], "0.8500");
  EXPECT_EQ(tables[1].rows[0][5], "11.8 %");
}

TEST(Aggregates, GroupWithoutAxis) {
  EXPECT_EQ(group_without_axis("dataset=d/objective=o/batch_size=64/lr=0.1", "batch_size"), "dataset=d/objective=o/lr=0.1");
  EXPECT_EQ(group_without_axis("dataset=d/objective=o/batch_size=64", "batch_size"), "dataset=d/objective=o");
  EXPECT_EQ(group_without_axis("dataset=d/objective=o", "batch_size"), "dataset=d/objective=o");
}

// Three objectives on three datasets, two seeds each; "nwj" lost a seed on dataset c.
struct AcrossDatasets {
  Suite suite;
  std::vector<Case> cases;
  std::vector<CaseReport> reports;
  AcrossDatasets() {
    suite.seed = 3;
    suite.repeats = 2;
    const std::map<std::string, std::map<std::string, std::vector<double>>> bias = {
        {"rpc", {{"a", {0.1, 0.3}}, {"b", {0.5, 0.5}}, {"c", {1.0, 2.0}}}},
        {"nwj", {{"a", {0.0, 0.2}}, {"b", {0.1, 0.1}}, {"c", {NAN, 0.3}}}},  // one seed lost on c
        {"infonce", {{"a", {0.2, 0.2}}, {"b", {0.3, 0.3}}, {"c", {0.4, 0.4}}}}};
    cases.reserve(18);
    for (const auto& [objective, per_dataset] : bias)
      for (const auto& [dataset, values] : per_dataset)
        for (int r = 0; r < 2; ++r) {
          Case c;
          c.index = cases.size();
          auto d = std::make_shared<PluginUse>(), o = std::make_shared<PluginUse>();
          d->label = dataset;
          o->label = objective;
          c.dataset = d;
          c.objective = o;
          c.group = "dataset=" + dataset + "/objective=" + objective;
          c.key = c.group + "/repeat=" + std::to_string(r);
          c.repeat = r;
          cases.push_back(c);
          CaseReport report;
          report.status = CaseStatus::finished;
          report.summary = {{"", "mean_abs_bias", values[r]}};
          reports.push_back(report);
        }
    for (std::size_t i = 0; i < cases.size(); ++i) reports[i].c = &cases[i];
    for (const char* label : {"a", "b", "c"}) {
      PluginUse d;
      d.label = label;
      suite.datasets.push_back(d);
    }
  }
};

TEST(Aggregates, RankingAcrossDatasetsAveragesEachDatasetsMeanAndSkipsIncompleteObjectives) {
  AcrossDatasets c;
  const std::vector<HeadlineMetric> headline = {{"mean_abs_bias", "mean |bias|", false}};
  const auto values = compute_aggregates(c.suite, c.reports, headline);
  const auto a = index(values);
  // rpc: (0.2 + 0.5 + 1.5) / 3 over its three datasets.
  EXPECT_NEAR(a.at("objective=rpc||mean_abs_bias|mean_over_datasets"), 2.2 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(a.at("objective=rpc||mean_abs_bias|datasets"), 3.0);
  EXPECT_NEAR(a.at("objective=infonce||mean_abs_bias|mean_over_datasets"), 0.3, 1e-12);
  // nwj is best on a and b, and one of its seeds on c is fine, but the other diverged: not ranked
  // on the seeds that survived.
  EXPECT_TRUE(std::isnan(a.at("objective=nwj||mean_abs_bias|mean_over_datasets")));
  EXPECT_DOUBLE_EQ(a.at("objective=nwj||mean_abs_bias|datasets"), 2.0);
  const auto tables = aggregate_tables(c.suite, c.reports, values, headline);
  const auto ranking = std::find_if(tables.begin(), tables.end(), [](const ResultTable& t) {
    return t.title.find("averaged over the 3 datasets") != std::string::npos;
  });
  ASSERT_NE(ranking, tables.end());
  ASSERT_EQ(ranking->rows.size(), 2u);  // lower is better: infonce first
  EXPECT_EQ(ranking->rows[0][1], "infonce");
  EXPECT_EQ(ranking->rows[0][2], "0.3000");
  EXPECT_EQ(ranking->rows[1][1], "rpc");
  EXPECT_EQ(ranking->rows[1][2], "0.7333");
  ASSERT_EQ(ranking->notes.size(), 1u);
  EXPECT_NE(ranking->notes[0].find("nwj: not ranked"), std::string::npos);
  // A higher-is-better metric ranks the other way.
  const std::vector<HeadlineMetric> accuracy = {{"mean_abs_bias", "accuracy", true}};
  const auto flipped = aggregate_tables(c.suite, c.reports, compute_aggregates(c.suite, c.reports, accuracy), accuracy);
  const auto up = std::find_if(flipped.begin(), flipped.end(), [](const ResultTable& t) {
    return t.title.find("averaged over the 3 datasets") != std::string::npos;
  });
  ASSERT_NE(up, flipped.end());
  ASSERT_EQ(up->rows.size(), 2u);
  EXPECT_EQ(up->rows[0][1], "rpc");
  EXPECT_EQ(up->rows[0][2], "0.7333");
}

}  // namespace
}  // namespace rpcbench
