#include "claims/claims.hpp"

#include "run/aggregates.hpp"
#include "stats/intervals.hpp"
#include "tasks/task.hpp"
#include "util/format.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace rpcbench {
namespace {

using json = nlohmann::json;

struct RunRef {
  std::int64_t id;
  std::string suite, profile, task, started, finished;
  json resolved;
};

struct CaseRef {
  std::int64_t id;
  std::string key, dataset, objective, status;
};

// The latest finished run of each suite that declares `evidence`, newest first.
std::vector<RunRef> evidence_runs(Database& db, const std::string& evidence, std::vector<std::string>& unfinished) {
  auto s = db.prepare(
      "SELECT run_id, suite_name, profile, task, status, started_at, finished_at, resolved_suite FROM runs r "
      "WHERE EXISTS (SELECT 1 FROM json_each(r.resolved_suite, '$.suite.evidence') WHERE value = ?1) "
      "ORDER BY run_id DESC");
  s.bind(1, evidence);
  std::vector<RunRef> runs;
  std::set<std::string> seen;
  while (s.step()) {
    const std::string suite = s.column_text(1);
    if (seen.count(suite) != 0) continue;
    if (s.column_text(4) != "finished") {
      unfinished.push_back("run " + std::to_string(s.column_int(0)) + " of '" + suite + "' is " + s.column_text(4));
      continue;
    }
    seen.insert(suite);
    runs.push_back({s.column_int(0), suite, s.column_text(2), s.column_text(3), s.column_text(5), s.column_text(6),
                    json::parse(s.column_text(7), nullptr, false)});
  }
  return runs;
}

std::vector<CaseRef> cases_of(Database& db, std::int64_t run) {
  auto s = db.prepare("SELECT case_id, case_key, dataset, objective, status FROM cases WHERE run_id = ?1 ORDER BY case_id");
  s.bind(1, run);
  std::vector<CaseRef> out;
  while (s.step()) out.push_back({s.column_int(0), s.column_text(1), s.column_text(2), s.column_text(3), s.column_text(4)});
  return out;
}

double summary(Database& db, std::int64_t case_id, const std::string& scope, const std::string& name) {
  auto s = db.prepare("SELECT value FROM summaries WHERE case_id = ?1 AND scope = ?2 AND name = ?3");
  s.bind(1, case_id).bind(2, scope).bind(3, name);
  return s.step() && !s.is_null(0) ? s.column_double(0) : NAN;
}

double aggregate(Database& db, std::int64_t run, const std::string& grouping, const std::string& scope,
                 const std::string& name, const std::string& statistic) {
  auto s = db.prepare(
      "SELECT value FROM aggregates WHERE run_id = ?1 AND grouping = ?2 AND scope = ?3 AND name = ?4 AND statistic = ?5");
  s.bind(1, run).bind(2, grouping).bind(3, scope).bind(4, name).bind(5, statistic);
  return s.step() && !s.is_null(0) ? s.column_double(0) : NAN;
}

std::string budget_line(Database& db, const RunRef& run, const std::vector<CaseRef>& cases) {
  std::set<std::string> objectives;
  double steps = 0;
  for (const auto& c : cases) {
    objectives.insert(c.objective);
    steps = std::max(steps, summary(db, c.id, "", "steps"));
  }
  std::string grid;
  if (run.resolved.contains("sweep"))
    for (const auto& axis : run.resolved["sweep"]) grid += ", " + axis["key"].get<std::string>() + " " + axis["values"].dump();
  return "run " + std::to_string(run.id) + " '" + run.suite + "'" + (run.profile.empty() ? "" : " (profile " + run.profile + ")") +
         ": task " + run.task + ", " + std::to_string(cases.size()) + " cases, " + std::to_string(objectives.size()) +
         " objectives, " + std::to_string(run.resolved["suite"].value("repeats", 1)) + " seeds per grid point" + grid +
         ", up to " + format_fixed(steps, 0) + " steps per case; " + run.started + " → " + run.finished;
}

// Lower is better for `subject` against `baseline` when both intervals are disjoint.
ClaimVerdict lower_is_better(const Estimate& subject, const Estimate& baseline, std::string& reason) {
  if (subject.high < baseline.low) return ClaimVerdict::supported;
  if (subject.low > baseline.high) return ClaimVerdict::contradicted;
  reason = "intervals overlap at this budget";
  return ClaimVerdict::inconclusive;
}

Estimate proportion(std::int64_t k, std::int64_t n) {
  const Interval w = wilson_interval(k, n);
  return {n > 0 ? static_cast<double>(k) / static_cast<double>(n) : NAN, w.low, w.high, static_cast<std::size_t>(n)};
}

// Variances are compared as geometric means with a t interval on log10: they are positive and
// heavy-tailed (one seed of NWJ at 147, the next at 0.03), and with a handful of cases a bootstrap
// interval is too narrow to bear a verdict.
Estimate geometric_mean_interval(const std::vector<double>& values) {
  std::vector<double> logs;
  for (double v : values)
    if (v > 0 && std::isfinite(v)) logs.push_back(std::log10(v));
  if (logs.empty()) return {NAN, NAN, NAN, 0};
  const MeanStd m = mean_std(logs);
  const Interval ci = t_interval(m.mean, m.std, m.n);
  return {std::pow(10.0, m.mean), std::pow(10.0, ci.low), std::pow(10.0, ci.high), logs.size()};
}

std::vector<std::string> baselines_in(const std::vector<CaseRef>& cases, const std::string& subject) {
  std::vector<std::string> out;
  for (const auto& c : cases)
    if (c.objective != subject && c.objective != kControlLabel &&
        std::find(out.begin(), out.end(), c.objective) == out.end())
      out.push_back(c.objective);
  return out;
}

std::vector<std::string> datasets_in(const std::vector<CaseRef>& cases) {
  std::vector<std::string> out;
  for (const auto& c : cases)
    if (std::find(out.begin(), out.end(), c.dataset) == out.end()) out.push_back(c.dataset);
  return out;
}

bool has_objective(const std::vector<CaseRef>& cases, const std::string& label) {
  return std::any_of(cases.begin(), cases.end(), [&](const CaseRef& c) { return c.objective == label; });
}

// Claim 1: divergence and estimate variance, every case of an objective in a dataset pooled (all
// grid points and seeds).
void stability_rows(Database& db, const RunRef& run, const std::vector<CaseRef>& cases, const std::string& subject,
                    ClaimSection& section) {
  for (const auto& dataset : datasets_in(cases)) {
    auto pooled = [&](const std::string& objective) {
      std::int64_t k = 0, n = 0;
      std::vector<double> variances;
      for (const auto& c : cases) {
        if (c.dataset != dataset || c.objective != objective) continue;
        if (c.status != "finished" && c.status != "diverged") continue;
        ++n;
        if (c.status == "diverged") {
          ++k;
          continue;  // its variance covers only the steps before it diverged
        }
        variances.push_back(summary(db, c.id, "", "mi_variance"));
      }
      return std::make_pair(proportion(k, n), geometric_mean_interval(variances));
    };
    const auto [subject_div, subject_var] = pooled(subject);
    for (const auto& baseline : baselines_in(cases, subject)) {
      const auto [base_div, base_var] = pooled(baseline);
      const std::string context = "run " + std::to_string(run.id) + " " + run.suite + ", " + dataset;
      ClaimRow d{context, "diverged fraction (Wilson 95%)", baseline, subject_div, base_div, ClaimVerdict::inconclusive, ""};
      if (subject_div.value == 0 && base_div.value == 0) d.reason = "neither diverged at this budget";
      else d.verdict = lower_is_better(subject_div, base_div, d.reason);
      section.rows.push_back(d);
      ClaimRow v{context, "estimate variance over the trailing window, cases that finished (geometric mean, t 95% on log10)", baseline, subject_var,
                 base_var, ClaimVerdict::inconclusive, ""};
      if (subject_var.n < 2 || base_var.n < 2) v.reason = "fewer than two finished cases on a side";
      else v.verdict = lower_is_better(subject_var, base_var, v.reason);
      section.rows.push_back(v);
    }
  }
}

// Claim 2: the slope of each headline metric against log2(batch size), as degradation per
// halving (positive: worse at smaller batches).
void batch_rows(Database& db, const RunRef& run, const std::vector<CaseRef>& cases, const std::string& subject,
                const std::vector<HeadlineMetric>& headline, ClaimSection& section) {
  auto s = db.prepare("SELECT DISTINCT grouping, name, statistic FROM aggregates WHERE run_id = ?1 AND statistic LIKE "
                      "'slope\\_log2(%' ESCAPE '\\' ORDER BY grouping, name");
  s.bind(1, run.id);
  bool any = false;
  while (s.step()) {
    const std::string grouping = s.column_text(0), name = s.column_text(1), statistic = s.column_text(2);
    if (key_component(grouping, "objective") != subject) continue;
    const auto metric = std::find_if(headline.begin(), headline.end(), [&](const HeadlineMetric& m) { return m.name == name; });
    const bool higher_better = metric == headline.end() || metric->higher_is_better;
    const std::string axis = statistic.substr(std::string("slope_log2(").size(), statistic.size() - 12);
    any = true;
    auto degradation = [&](const std::string& g) {
      const double slope = aggregate(db, run.id, g, "", name, statistic);
      const double lo = aggregate(db, run.id, g, "", name, axis_statistic("slope_ci_low", axis, true));
      const double hi = aggregate(db, run.id, g, "", name, axis_statistic("slope_ci_high", axis, true));
      const double n = aggregate(db, run.id, g, "", name, axis_statistic("n", axis, true));
      // Per halving of the axis: a higher-is-better metric loses `slope`, a lower-is-better one gains it.
      if (higher_better) return Estimate{slope, lo, hi, static_cast<std::size_t>(std::isnan(n) ? 0 : n)};
      return Estimate{-slope, -hi, -lo, static_cast<std::size_t>(std::isnan(n) ? 0 : n)};
    };
    // Cases along the axis that diverged have no accuracy: a slope without them flatters the
    // objective that collapses at small batches.
    auto lost = [&](const std::string& g) {
      const double k = aggregate(db, run.id, g, "", name, axis_statistic("not_finished", axis, true));
      return std::isnan(k) ? 0.0 : k;
    };
    const Estimate subject_value = degradation(grouping);
    for (const auto& baseline : baselines_in(cases, subject)) {
      const std::string other = with_component(grouping, "objective", baseline);
      const Estimate base = degradation(other);
      if (std::isnan(base.value)) continue;
      ClaimRow row{"run " + std::to_string(run.id) + " " + run.suite + ", " + with_component(grouping, "objective", ""),
                   (metric != headline.end() ? metric->title : name) + ": loss per halving of " + axis + " (OLS slope, t 95%)",
                   baseline, subject_value, base, ClaimVerdict::inconclusive, ""};
      const double lost_subject = lost(grouping), lost_base = lost(other);
      if (lost_subject > 0 || lost_base > 0)
        row.reason = format_fixed(lost_subject, 0) + " of the subject's and " + format_fixed(lost_base, 0) +
                     " of the baseline's cases along the axis diverged or failed: their slopes leave them out";
      else
        row.verdict = lower_is_better(subject_value, base, row.reason);
      section.rows.push_back(row);
    }
  }
  if (!any)
    section.budget.push_back("run " + std::to_string(run.id) + " '" + run.suite + "' has no slope for objective '" + subject +
                             "' (a numeric [sweep] axis with ≥ 2 values is needed)");
}

// Claim 3: per MI level, the variance of the estimate over the window, across seeds, compared only
// at comparable bias (|bias| within 0.5 nats of the baseline's, either way).
void mi_rows(Database& db, const RunRef& run, const std::vector<CaseRef>& cases, const std::string& subject,
             ClaimSection& section) {
  std::set<std::string> groups;
  for (const auto& c : cases)
    if (c.objective == subject) groups.insert(case_group(c.key));
  for (const auto& group : groups) {
    auto s = db.prepare("SELECT DISTINCT scope FROM aggregates WHERE run_id = ?1 AND grouping = ?2 AND scope LIKE 'mi=%'");
    s.bind(1, run.id).bind(2, group);
    std::vector<std::pair<double, std::string>> levels;
    while (s.step()) levels.push_back({std::stod(s.column_text(0).substr(3)), s.column_text(0)});
    std::sort(levels.begin(), levels.end());
    for (const auto& [level, scope] : levels) {
      auto stats = [&](const std::string& g, const std::string& name) {
        const double mean = aggregate(db, run.id, g, scope, name, "mean"), std = aggregate(db, run.id, g, scope, name, "std");
        const double n = aggregate(db, run.id, g, scope, name, "n");
        const auto count = static_cast<std::size_t>(std::isfinite(n) ? std::max(0.0, n) : 0.0);
        const Interval ci = t_interval(mean, std, count);
        return Estimate{mean, ci.low, ci.high, count};
      };
      const Estimate subject_var = stats(group, "variance"), subject_bias = stats(group, "bias");
      for (const auto& baseline : baselines_in(cases, subject)) {
        const std::string other = with_component(group, "objective", baseline);
        const Estimate base_var = stats(other, "variance"), base_bias = stats(other, "bias");
        if (std::isnan(base_var.value)) continue;
        ClaimRow row{"run " + std::to_string(run.id) + " " + run.suite + ", " + with_component(group, "objective", "") +
                         ", true MI " + format_general(level),
                     "variance of the estimate over the window (mean over seeds, t 95%)", baseline, subject_var,
                     base_var, ClaimVerdict::inconclusive, ""};
        // Comparable bias: |bias| within 0.5 nats either way. A variance bought with bias — an
        // estimator pinned at its ceiling has almost none — is no evidence either way.
        const double gap = std::abs(subject_bias.value) - std::abs(base_bias.value);
        const std::string biases = format_fixed(subject_bias.value, 2) + " vs " + format_fixed(base_bias.value, 2);
        if (subject_var.n < 2 || base_var.n < 2) {
          row.reason = "one seed per side: no interval (run the suite with repeats ≥ 2)";
        } else if (!(std::abs(gap) <= 0.5)) {
          row.reason = "bias not comparable (" + biases + ", |bias| differs by " + format_fixed(std::abs(gap), 2) + " nats)";
        } else {
          row.verdict = lower_is_better(subject_var, base_var, row.reason);
          row.reason += (row.reason.empty() ? "" : "; ") + std::string("bias ") + biases;
        }
        section.rows.push_back(row);
      }
    }
  }
}

}  // namespace

const char* to_string(ClaimVerdict v) {
  switch (v) {
    case ClaimVerdict::supported: return "supported";
    case ClaimVerdict::contradicted: return "contradicted";
    case ClaimVerdict::inconclusive: return "inconclusive";
  }
  return "?";
}

std::vector<ClaimSection> evaluate_claims(Database& db, const std::string& subject) {
  const std::vector<std::pair<std::string, std::string>> claims = {
      {"stability", "(1) objectives with unbounded log/exp terms (DV, NWJ, JS, MINE) train unstably; '" + subject +
                        "' does not: it diverges less often and its estimate varies less"},
      {"batch_size", "(2) the downstream accuracy of '" + subject + "' degrades less when the minibatch shrinks"},
      {"mi_estimation", "(3) the MI estimates of '" + subject + "' have lower variance at comparable bias"}};
  TaskCatalog tasks;
  std::vector<ClaimSection> sections;
  for (const auto& [evidence, statement] : claims) {
    ClaimSection section;
    section.evidence = evidence;
    section.statement = statement;
    std::vector<std::string> unfinished;
    const auto runs = evidence_runs(db, evidence, unfinished);
    for (const auto& line : unfinished) section.budget.push_back(line + " (not used: only finished runs count)");
    if (runs.empty()) {
      section.missing = "no finished run of a suite with evidence \"" + evidence + "\" in this database";
      sections.push_back(std::move(section));
      continue;
    }
    for (const auto& run : runs) {
      const auto cases = cases_of(db, run.id);
      section.budget.push_back(budget_line(db, run, cases));
      if (!has_objective(cases, subject)) {
        section.budget.back() += " — has no objective '" + subject + "'";
        continue;
      }
      const Task* task = tasks.find(run.task);
      if (evidence == "stability") stability_rows(db, run, cases, subject, section);
      if (evidence == "batch_size") batch_rows(db, run, cases, subject, task ? task->headline_metrics() : std::vector<HeadlineMetric>{}, section);
      if (evidence == "mi_estimation") mi_rows(db, run, cases, subject, section);
    }
    if (section.rows.empty() && section.missing.empty())
      section.missing = "the runs hold no comparison of '" + subject + "' with a baseline";
    sections.push_back(std::move(section));
  }
  return sections;
}

}  // namespace rpcbench
