#include "run/aggregates.hpp"

#include "stats/intervals.hpp"
#include "tasks/task.hpp"
#include "util/errors.hpp"
#include "util/format.hpp"
#include "util/hash.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace rpcbench {
namespace {

bool completed(const CaseReport& r) { return r.status == CaseStatus::finished || r.status == CaseStatus::diverged; }

double summary_value(const CaseReport& r, const std::string& scope, const std::string& name) {
  for (const auto& v : r.summary)
    if (v.group == scope && v.name == name) return v.value;
  return NAN;
}

bool axis_is_log2(const SweepAxis& axis) {
  for (const auto& text : axis.texts)
    if (!(std::stod(text) > 0)) return false;
  return true;
}

double axis_value(const Case& c, const std::string& axis) {
  for (const auto& coordinate : c.coordinates)
    if (coordinate.axis == axis) return coordinate.number;
  return NAN;
}

// Lookup of aggregates by (grouping, scope, name, statistic).
class AggregateIndex {
 public:
  explicit AggregateIndex(const std::vector<AggregateValue>& values) {
    for (const auto& v : values) index_[v.grouping + "\n" + v.scope + "\n" + v.name + "\n" + v.statistic] = v.value;
  }
  double get(const std::string& grouping, const std::string& scope, const std::string& name,
             const std::string& statistic) const {
    auto it = index_.find(grouping + "\n" + scope + "\n" + name + "\n" + statistic);
    return it == index_.end() ? NAN : it->second;
  }

 private:
  std::map<std::string, double> index_;
};

std::string mean_ci_text(const AggregateIndex& a, const std::string& grouping, const std::string& name, int digits) {
  const double mean = a.get(grouping, "", name, "mean");
  if (std::isnan(mean)) return "—";
  const double low = a.get(grouping, "", name, "ci_low"), high = a.get(grouping, "", name, "ci_high");
  if (!(high > low)) return format_fixed(mean, digits);
  return format_fixed(mean, digits) + " [" + format_fixed(low, digits) + ", " + format_fixed(high, digits) + "]";
}

}  // namespace

std::string group_without_axis(const std::string& group, const std::string& axis) {
  return with_component(group, axis, "");
}

std::string sweep_value_text(const nlohmann::json& v) {
  if (v.is_number_integer()) return param_value_text(v.get<std::int64_t>());
  if (v.is_number()) return param_value_text(v.get<double>());
  if (v.is_boolean()) return param_value_text(v.get<bool>());
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string axis_statistic(const std::string& statistic, const std::string& axis, bool log2) {
  return statistic + (log2 ? "_log2(" : "(") + axis + ")";
}

std::vector<AggregateValue> compute_aggregates(const Suite& suite, const std::vector<CaseReport>& reports,
                                               const std::vector<HeadlineMetric>& headline) {
  std::vector<AggregateValue> out;
  // A fixed order (group, then seed) whatever order the reports come in — a run, a resumed run,
  // merged shards — so that sums, and the numbers, are the same to the last bit.
  std::vector<const CaseReport*> ordered;
  for (const auto& r : reports)
    if (completed(r)) ordered.push_back(&r);
  std::sort(ordered.begin(), ordered.end(), [](const CaseReport* a, const CaseReport* b) {
    return a->c->group != b->c->group ? a->c->group < b->c->group : a->c->repeat < b->c->repeat;
  });
  std::map<std::string, std::vector<const CaseReport*>> groups;
  for (const CaseReport* r : ordered) groups[r->c->group].push_back(r);

  for (const auto& [group, members] : groups) {
    const auto n = static_cast<std::int64_t>(members.size());
    const auto k = std::count_if(members.begin(), members.end(),
                                 [](const CaseReport* r) { return r->status == CaseStatus::diverged; });
    const Interval w = wilson_interval(k, n);
    out.push_back({group, "", "diverged", "fraction", static_cast<double>(k) / static_cast<double>(n)});
    out.push_back({group, "", "diverged", "ci_low", w.low});
    out.push_back({group, "", "diverged", "ci_high", w.high});
    out.push_back({group, "", "diverged", "n", static_cast<double>(n)});

    std::set<std::pair<std::string, std::string>> keys;
    for (const CaseReport* r : members)
      for (const auto& v : r->summary) keys.insert({v.group, v.name});
    for (const auto& [scope, name] : keys) {
      std::vector<double> values;
      for (const CaseReport* r : members) {
        const double v = summary_value(*r, scope, name);
        if (std::isfinite(v)) values.push_back(v);
      }
      if (values.empty()) continue;
      const MeanStd m = mean_std(values);
      const Interval ci = bootstrap_mean_interval(values, derive_seed(suite.seed, group + "|" + scope + "|" + name));
      out.push_back({group, scope, name, "mean", m.mean});
      out.push_back({group, scope, name, "std", m.std});
      out.push_back({group, scope, name, "ci_low", ci.low});
      out.push_back({group, scope, name, "ci_high", ci.high});
      out.push_back({group, scope, name, "n", static_cast<double>(m.n)});
    }
  }

  for (const SweepAxis& axis : suite.sweep) {
    if (!axis.numeric) continue;
    const bool log2 = axis_is_log2(axis);
    std::map<std::string, std::vector<const CaseReport*>> across;  // grouping → cases along the axis
    for (const CaseReport* r : ordered)
      if (!std::isnan(axis_value(*r->c, axis.key))) across[group_without_axis(r->c->group, axis.key)].push_back(r);
    std::map<std::string, int> not_finished;  // cases along the axis that diverged or failed
    for (const auto& r : reports)
      if (!std::isnan(axis_value(*r.c, axis.key)) && r.status != CaseStatus::finished)
        ++not_finished[group_without_axis(r.c->group, axis.key)];
    for (const auto& [grouping, members] : across) {
      for (const HeadlineMetric& metric : headline) {
        std::vector<double> xs, ys;
        std::map<double, std::vector<double>> by_value;
        for (const CaseReport* r : members) {
          const double y = summary_value(*r, "", metric.name);
          if (!std::isfinite(y)) continue;
          const double v = axis_value(*r->c, axis.key);
          xs.push_back(log2 ? std::log2(v) : v);
          ys.push_back(y);
          by_value[v].push_back(y);
        }
        if (by_value.size() < 2) continue;
        const Slope s = least_squares_slope(xs, ys);
        out.push_back({grouping, "", metric.name, axis_statistic("slope", axis.key, log2), s.slope});
        out.push_back({grouping, "", metric.name, axis_statistic("slope_ci_low", axis.key, log2), s.ci.low});
        out.push_back({grouping, "", metric.name, axis_statistic("slope_ci_high", axis.key, log2), s.ci.high});
        out.push_back({grouping, "", metric.name, axis_statistic("n", axis.key, log2), static_cast<double>(xs.size())});
        out.push_back({grouping, "", metric.name, axis_statistic("not_finished", axis.key, log2),
                       static_cast<double>(not_finished[grouping])});
        const double largest = mean_std(by_value.rbegin()->second).mean, smallest = mean_std(by_value.begin()->second).mean;
        // From the largest axis value to the smallest, relative to the largest: a batch-size
        // drop of 0.1 is 10 % of the accuracy at the largest batch lost at the smallest.
        out.push_back({grouping, "", metric.name, axis_statistic("relative_drop", axis.key, log2),
                       largest != 0 ? (largest - smallest) / std::abs(largest) : NAN});
      }
    }
  }

  // Across datasets (a ranking as in bmi, Czyż et al. 2023): per grouping without the dataset and
  // per headline metric, the mean over datasets of each dataset's mean over seeds — only when every
  // seed of every dataset of the run has a finite value, so that no objective is ranked on its
  // easy tasks or on the seeds that survived.
  std::set<std::string> datasets;
  std::map<std::string, int> cases_in_group;  // every case, whatever its status
  for (const auto& r : reports) {
    datasets.insert(r.c->dataset->label);
    ++cases_in_group[r.c->group];
  }
  if (datasets.size() >= 2)
    for (const HeadlineMetric& metric : headline) {
      std::map<std::string, std::map<std::string, double>> per_dataset;  // grouping → dataset → mean over seeds
      for (const auto& [group, count] : cases_in_group) {
        std::vector<double> values;
        if (auto it = groups.find(group); it != groups.end())
          for (const CaseReport* r : it->second) {
            const double v = summary_value(*r, "", metric.name);
            if (std::isfinite(v)) values.push_back(v);
          }
        per_dataset[with_component(group, "dataset", "")][key_component(group, "dataset")] =
            values.empty() || static_cast<int>(values.size()) != count ? NAN : mean_std(values).mean;
      }
      for (const auto& [grouping, means] : per_dataset) {
        double sum = 0.0;
        std::size_t finite = 0;
        for (const auto& [dataset, mean] : means)
          if (std::isfinite(mean)) sum += mean, ++finite;
        out.push_back({grouping, "", metric.name, "datasets", static_cast<double>(finite)});
        out.push_back({grouping, "", metric.name, "mean_over_datasets",
                       finite == datasets.size() ? sum / static_cast<double>(finite) : NAN});
      }
    }
  return out;
}

void recompute_aggregates(Database& db, std::int64_t run_id) {
  auto r = db.prepare("SELECT task, resolved_suite FROM runs WHERE run_id = ?1");
  r.bind(1, run_id);
  RPCBENCH_CHECK(r.step(), "recompute_aggregates: no such run");
  const std::string task_name = r.column_text(0);
  const nlohmann::json resolved = nlohmann::json::parse(r.column_text(1), nullptr, false);
  check_resolved_suite(resolved, "run " + std::to_string(run_id) + ": its resolved suite");
  // The parts of the suite the statistics need: seed, repeats, and the grid's axes.
  Suite suite;
  suite.seed = resolved["suite"].value("seed", std::uint64_t{0});
  suite.repeats = resolved["suite"].value("repeats", std::int64_t{1});
  if (resolved.contains("sweep"))
    for (const auto& a : resolved["sweep"]) {
      SweepAxis axis;
      axis.key = a["key"].get<std::string>();
      axis.numeric = true;
      for (const auto& v : a["values"]) {
        axis.numeric = axis.numeric && v.is_number();
        axis.texts.push_back(sweep_value_text(v));
        axis.values.push_back(v.is_number() ? ParamValue(v.get<double>()) : ParamValue(axis.texts.back()));
      }
      suite.sweep.push_back(axis);
    }
  std::vector<Case> cases;
  std::vector<CaseReport> reports;
  auto c = db.prepare("SELECT case_id, case_key, dataset, objective, status, stopped_step FROM cases WHERE run_id = ?1 ORDER BY case_key");
  c.bind(1, run_id);
  std::vector<std::int64_t> ids;
  while (c.step()) {
    Case each;
    each.index = cases.size();
    each.key = c.column_text(1);
    each.group = case_group(each.key);
    each.repeat = std::stoll(key_component(each.key, "repeat"));
    auto dataset = std::make_shared<PluginUse>();
    dataset->label = c.column_text(2);
    each.dataset = dataset;
    if (c.column_text(3) != kControlLabel) {
      auto objective = std::make_shared<PluginUse>();
      objective->label = c.column_text(3);
      each.objective = objective;
    }
    for (const SweepAxis& axis : suite.sweep) {
      const std::string value = key_component(each.group, axis.key);
      if (!value.empty()) each.coordinates.push_back({axis.key, value, axis.numeric ? std::stod(value) : NAN});
    }
    CaseReport report;
    const std::string status = c.column_text(4);
    report.status = case_status_from(status);
    ids.push_back(c.column_int(0));
    cases.push_back(std::move(each));
    reports.push_back(std::move(report));
  }
  for (std::size_t i = 0; i < reports.size(); ++i) {
    reports[i].c = &cases[i];
    auto s = db.prepare("SELECT scope, name, value FROM summaries WHERE case_id = ?1");
    s.bind(1, ids[i]);
    while (s.step()) reports[i].summary.push_back({s.column_text(0), s.column_text(1), s.is_null(2) ? NAN : s.column_double(2)});
  }
  TaskCatalog tasks;
  const Task* task = tasks.find(task_name);
  const auto values = compute_aggregates(suite, reports, task ? task->headline_metrics() : std::vector<HeadlineMetric>{});
  Transaction t(db);
  db.prepare("DELETE FROM aggregates WHERE run_id = ?1").bind(1, run_id).run();
  auto insert = db.prepare("INSERT INTO aggregates (run_id, grouping, scope, name, statistic, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  for (const auto& v : values) {
    insert.bind(1, run_id).bind(2, v.grouping).bind(3, v.scope).bind(4, v.name).bind(5, v.statistic).bind(6, v.value);
    insert.run();
  }
  t.commit();
}

std::vector<ResultTable> aggregate_tables(const Suite& suite, const std::vector<CaseReport>& reports,
                                          const std::vector<AggregateValue>& aggregates,
                                          const std::vector<HeadlineMetric>& headline) {
  std::vector<ResultTable> tables;
  const AggregateIndex a(aggregates);
  // One representative case per group, in run order.
  std::vector<const CaseReport*> firsts;
  std::set<std::string> seen;
  for (const auto& r : reports)
    if (seen.insert(r.c->group).second) firsts.push_back(&r);

  for (const auto& dataset : suite.datasets) {
    if (suite.repeats > 1) {
      ResultTable t;
      t.title = "'" + dataset.label + "' across " + std::to_string(suite.repeats) +
                " seeds per grid point: mean [bootstrap 95% CI]";
      t.columns = {"case", "n", "diverged [Wilson 95%]"};
      for (const auto& [name, title] : stability_columns()) t.columns.push_back(title);
      for (const auto& m : headline) t.columns.push_back(m.title);
      for (const CaseReport* r : firsts) {
        if (r->c->dataset->label != dataset.label) continue;
        const std::string& g = r->c->group;
        const double n = a.get(g, "", "diverged", "n");
        std::vector<std::string> row{group_label(*r->c), format_fixed(n, 0, "0"),
                                     format_fixed(a.get(g, "", "diverged", "fraction"), 2, "—") + " [" +
                                         format_fixed(a.get(g, "", "diverged", "ci_low"), 2, "—") + ", " +
                                         format_fixed(a.get(g, "", "diverged", "ci_high"), 2, "—") + "]"};
        for (const auto& [name, title] : stability_columns()) row.push_back(format_general(a.get(g, "", name, "mean"), 3, "—"));
        for (const auto& m : headline) row.push_back(mean_ci_text(a, g, m.name, 4));
        t.rows.push_back(std::move(row));
      }
      t.notes.push_back("variances are per case over the trailing window of steps, then averaged over seeds; — : no "
                        "finite value (every seed diverged or the case does not train)");
      tables.push_back(std::move(t));
    }

    for (const SweepAxis& axis : suite.sweep) {
      if (!axis.numeric || axis.values.size() < 2) continue;
      const bool log2 = axis_is_log2(axis);
      for (const HeadlineMetric& m : headline) {
        ResultTable t;
        t.title = "'" + dataset.label + "': " + m.title + " against " + axis.key + " (mean over seeds)";
        t.columns = {"case"};
        for (const auto& text : axis.texts) t.columns.push_back(axis.key + "=" + text);
        t.columns.push_back(std::string("slope per ") + (log2 ? "doubling" : "unit") + " [95% CI]");
        t.columns.push_back("relative drop, largest → smallest");
        std::set<std::string> rows_done;
        for (const CaseReport* r : firsts) {
          if (r->c->dataset->label != dataset.label) continue;
          if (std::isnan(axis_value(*r->c, axis.key))) {
            if (!r->c->objective) {  // the control, which the axis does not move
              const double v = a.get(r->c->group, "", m.name, "mean");
              if (!std::isnan(v)) t.notes.push_back(group_label(*r->c) + ": " + format_fixed(v, 4));
            }
            continue;
          }
          const std::string grouping = group_without_axis(r->c->group, axis.key);
          if (!rows_done.insert(grouping).second) continue;
          std::vector<std::string> row{group_label(*r->c, axis.key)};
          for (const auto& text : axis.texts) {
            // The group of this row at this axis value: the representative's, with the value swapped.
            const std::string group = with_component(r->c->group, axis.key, text);
            row.push_back(format_fixed(a.get(group, "", m.name, "mean"), 4, "—"));
          }
          const double slope = a.get(grouping, "", m.name, axis_statistic("slope", axis.key, log2));
          row.push_back(format_general(slope, 3) + " [" +
                        format_general(a.get(grouping, "", m.name, axis_statistic("slope_ci_low", axis.key, log2)), 3) +
                        ", " +
                        format_general(a.get(grouping, "", m.name, axis_statistic("slope_ci_high", axis.key, log2)), 3) +
                        "]");
          const double drop = a.get(grouping, "", m.name, axis_statistic("relative_drop", axis.key, log2));
          row.push_back(std::isnan(drop) ? "—" : format_fixed(100 * drop, 1) + " %");
          t.rows.push_back(std::move(row));
        }
        if (!t.rows.empty()) tables.push_back(std::move(t));
      }
    }
  }

  // The ranking across datasets, best first; cases missing a dataset are listed below it.
  std::set<std::string> datasets;
  for (const auto& r : reports) datasets.insert(r.c->dataset->label);
  if (datasets.size() >= 2)
    for (const HeadlineMetric& m : headline) {
      std::vector<std::pair<double, std::string>> ranked;
      std::vector<std::string> incomplete;
      std::set<std::string> done;
      for (const CaseReport* r : firsts) {
        const std::string grouping = with_component(r->c->group, "dataset", "");
        if (!done.insert(grouping).second) continue;
        const double v = a.get(grouping, "", m.name, "mean_over_datasets");
        if (std::isfinite(v)) ranked.push_back({m.higher_is_better ? -v : v, group_label(*r->c)});
        else if (!std::isnan(a.get(grouping, "", m.name, "datasets"))) incomplete.push_back(group_label(*r->c));
      }
      if (ranked.empty()) continue;
      std::stable_sort(ranked.begin(), ranked.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
      ResultTable t;
      t.title = m.title + " averaged over the " + std::to_string(datasets.size()) +
                " datasets (each: mean over seeds), best first";
      t.columns = {"rank", "case", m.title};
      for (std::size_t i = 0; i < ranked.size(); ++i)
        t.rows.push_back({std::to_string(i + 1), ranked[i].second,
                          format_fixed(m.higher_is_better ? -ranked[i].first : ranked[i].first, 4)});
      for (const auto& label : incomplete)
        t.notes.push_back(label + ": not ranked (a seed diverged, failed or has no value on some dataset)");
      tables.push_back(std::move(t));
    }
  return tables;
}

}  // namespace rpcbench
