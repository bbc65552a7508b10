#include "claims/claims.hpp"

#include "run/aggregates.hpp"
#include "stats/intervals.hpp"
#include "tasks/task.hpp"
#include "util/format.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <regex>
#include <set>

namespace rpcbench {
namespace {

using json = nlohmann::json;

struct RunRef {
  std::int64_t id = 0;
  std::string suite, profile, task, status, started, finished, hash, shard;
  json resolved;
};

// One case of a run with every summary it recorded.
struct CaseData {
  std::int64_t id = 0;
  std::string key, point, dataset, objective, status;
  std::int64_t repeat = 0;
  std::map<std::string, std::map<std::string, double>> summary;  // scope → name → value

  double value(const std::string& scope, const std::string& name) const {
    const auto s = summary.find(scope);
    if (s == summary.end()) return NAN;
    const auto v = s->second.find(name);
    return v == s->second.end() ? NAN : v->second;
  }
  bool completed() const { return status == "finished" || status == "diverged"; }
};
using Cases = std::vector<const CaseData*>;

constexpr const char* kBatchAxis = "batch_size";

bool is_partial_shard(const std::string& shard) {
  std::smatch m;
  return std::regex_match(shard, m, std::regex("([0-9]+)/([0-9]+)")) && std::stoll(m[2]) > 1;
}

std::string run_name(const RunRef& r) {
  return "run " + std::to_string(r.id) + " of '" + r.suite + "'" + (r.profile.empty() ? "" : " (profile " + r.profile + ")");
}

// The runs whose suite declares `evidence`. Without `only`: for each suite and profile, the latest
// by start time that finished, is no part of a sharded run, and has no case left running or
// killed; the newer ones passed over, and older runs of another resolved suite (an edited suite,
// other overrides), are named in `notes`. With `only`: those runs, each checked the same way.
std::vector<RunRef> evidence_runs(Database& db, const std::string& evidence, const std::vector<std::int64_t>& only,
                                  std::vector<std::string>& notes) {
  auto s = db.prepare(
      "SELECT run_id, suite_name, profile, task, status, started_at, finished_at, resolved_suite, resolved_hash, "
      "CASE WHEN json_valid(provenance) THEN json_extract(provenance, '$.shard') END, (SELECT count(*) FROM cases c "
      "WHERE c.run_id = r.run_id AND c.status IN ('running', 'killed')) FROM runs r WHERE json_valid(r.resolved_suite) "
      "AND EXISTS (SELECT 1 FROM json_each(r.resolved_suite, '$.suite.evidence') WHERE value = ?1) "
      "ORDER BY started_at DESC, run_id DESC");
  s.bind(1, evidence);
  std::vector<RunRef> runs;
  std::map<std::string, std::string> used;  // suite + profile → the resolved hash used
  while (s.step()) {
    RunRef r;
    r.id = s.column_int(0);
    if (!only.empty() && std::find(only.begin(), only.end(), r.id) == only.end()) continue;
    r.suite = s.column_text(1);
    r.profile = s.column_text(2);
    r.task = s.column_text(3);
    r.status = s.column_text(4);
    r.started = s.column_text(5);
    r.finished = s.is_null(6) ? "" : s.column_text(6);
    r.hash = s.column_text(8);
    r.shard = s.is_null(9) ? "" : s.column_text(9);
    const std::string key = r.suite + "\n" + r.profile;
    if (only.empty() && used.count(key) != 0) {
      if (used[key] != r.hash)
        notes.push_back(run_name(r) + ", resolved suite " + r.hash.substr(0, 12) + ", is older than the run used and of " +
                        "another resolved suite: not used (--run " + std::to_string(r.id) + " to see its verdicts)");
      continue;
    }
    if (r.status != "finished") {
      notes.push_back(run_name(r) + " is " + r.status + ": not used (only finished runs count)");
      continue;
    }
    if (is_partial_shard(r.shard)) {
      notes.push_back(run_name(r) + " is shard " + r.shard +
                      ", a part of the suite: not used (merge the shards into one run with `harness merge`)");
      continue;
    }
    if (s.column_int(10) > 0) {
      notes.push_back(run_name(r) + " has " + std::to_string(s.column_int(10)) +
                      " case(s) running or killed: not used (finish it with --resume)");
      continue;
    }
    r.resolved = json::parse(s.column_text(7), nullptr, false);
    used[key] = r.hash;
    runs.push_back(std::move(r));
  }
  return runs;
}

std::vector<CaseData> load_cases(Database& db, std::int64_t run) {
  auto s = db.prepare("SELECT case_id, case_key, dataset, objective, status, repeat FROM cases WHERE run_id = ?1 ORDER BY case_key");
  s.bind(1, run);
  std::vector<CaseData> out;
  std::map<std::int64_t, std::size_t> index;
  while (s.step()) {
    CaseData c;
    c.id = s.column_int(0);
    c.key = s.column_text(1);
    c.point = with_component(case_group(c.key), "objective", "");
    c.dataset = s.column_text(2);
    c.objective = s.column_text(3);
    c.status = s.column_text(4);
    c.repeat = s.column_int(5);
    index[c.id] = out.size();
    out.push_back(std::move(c));
  }
  auto v = db.prepare("SELECT s.case_id, s.scope, s.name, s.value FROM summaries s JOIN cases c USING (case_id) WHERE c.run_id = ?1");
  v.bind(1, run);
  while (v.step()) {
    const auto it = index.find(v.column_int(0));
    if (it != index.end()) out[it->second].summary[v.column_text(1)][v.column_text(2)] = v.is_null(3) ? NAN : v.column_double(3);
  }
  return out;
}

std::string budget_line(const RunRef& run, const std::vector<CaseData>& cases) {
  std::set<std::string> objectives;
  std::map<std::string, int> seeds;  // grid point × objective → cases
  double steps = 0;
  for (const auto& c : cases) {
    objectives.insert(c.objective);
    ++seeds[case_group(c.key)];
    const double s = c.value("", "steps");
    if (std::isfinite(s)) steps = std::max(steps, s);
  }
  int fewest = 0, most = 0;
  for (const auto& [group, n] : seeds) {
    fewest = fewest == 0 ? n : std::min(fewest, n);
    most = std::max(most, n);
  }
  std::string grid;
  if (run.resolved.is_object() && run.resolved.contains("sweep"))
    for (const auto& axis : run.resolved["sweep"])
      if (axis.is_object() && axis.contains("key") && axis["key"].is_string())
        grid += ", " + axis["key"].get<std::string>() + " " + axis.value("values", json::array()).dump();
  return "run " + std::to_string(run.id) + " '" + run.suite + "'" + (run.profile.empty() ? "" : " (profile " + run.profile + ")") +
         ", resolved suite " + run.hash.substr(0, 12) + ": task " + run.task + ", " + std::to_string(cases.size()) + " cases, " +
         std::to_string(objectives.size()) + " objectives, " +
         (fewest == most ? std::to_string(most) : std::to_string(fewest) + "–" + std::to_string(most)) +
         " seeds per grid point" + grid + ", up to " + format_fixed(steps, 0) + " steps per case; " + run.started + " → " +
         run.finished;
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

Estimate mean_t_interval(const std::vector<double>& values) {
  if (values.empty()) return {NAN, NAN, NAN, 0};
  const MeanStd m = mean_std(values);
  const Interval ci = t_interval(m.mean, m.std, m.n);
  return {m.mean, ci.low, ci.high, m.n};
}

double mean_of(const std::vector<double>& values) {
  return values.empty() ? NAN : mean_std(values).mean;
}

std::vector<std::string> baselines_in(const std::vector<CaseData>& cases, const std::string& subject) {
  std::vector<std::string> out;
  for (const auto& c : cases)
    if (c.objective != subject && c.objective != kControlLabel &&
        std::find(out.begin(), out.end(), c.objective) == out.end())
      out.push_back(c.objective);
  return out;
}

template <class Key>
std::vector<std::string> distinct(const std::vector<CaseData>& cases, Key key) {
  std::vector<std::string> out;
  for (const auto& c : cases)
    if (std::find(out.begin(), out.end(), key(c)) == out.end()) out.push_back(key(c));
  return out;
}

Cases select(const std::vector<CaseData>& cases, const std::function<bool(const CaseData&)>& keep) {
  Cases out;
  for (const auto& c : cases)
    if (keep(c)) out.push_back(&c);
  return out;
}

// "dataset=gaussian/learning_rate=0.0005" → "gaussian, learning_rate=0.0005".
std::string point_label(const std::string& point) {
  std::string out;
  std::size_t begin = 0;
  while (begin <= point.size()) {
    const std::size_t end = std::min(point.find('/', begin), point.size());
    std::string part = point.substr(begin, end - begin);
    if (part.rfind("dataset=", 0) == 0) part = part.substr(8);
    if (!part.empty()) out += (out.empty() ? "" : ", ") + part;
    begin = end + 1;
  }
  return out;
}

// The MI levels (scopes "mi=…") the cases recorded, in numeric order.
std::vector<std::pair<double, std::string>> levels_of(const Cases& cases) {
  std::set<std::pair<double, std::string>> levels;
  for (const CaseData* c : cases)
    for (const auto& [scope, values] : c->summary)
      if (scope.rfind("mi=", 0) == 0) levels.insert({std::strtod(scope.c_str() + 3, nullptr), scope});
  return {levels.begin(), levels.end()};
}

// A comparison of the subject with one baseline on a set of cases: fills the values, verdict and
// reason of `row`. Every metric compared is lower-is-better for the subject's claim. Returns
// false where the metric bears no verdict at all (then no pooled verdict either).
using Compare = std::function<bool(const Cases& subject, const Cases& baseline, ClaimRow& row)>;

// The side a row's values lean to, whatever its verdict: +1 the subject (lower), −1 the baseline,
// 0 a tie or a NaN.
int lean(const ClaimRow& row) {
  const double s = row.subject_value.value, b = row.baseline_value.value;
  return s < b ? 1 : s > b ? -1 : 0;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& p : v) out += (out.empty() ? "" : "; ") + p;
  return out;
}

// Rows for one comparison at every grid point of a dataset, and, where the dataset has several,
// one pooled row over the cases of the points compared. The pooled verdict stands only where every
// point agrees with it: if one point's values lean to the subject and another's to the baseline,
// or the pooled verdict goes against a point's lean, the pool is `mixed` — a contradiction at one
// learning rate is not outvoted by the others. (Leans, not verdicts: a point whose verdict was
// refused for bias still says which way its values go.)
void per_point_rows(const std::string& run_context, const std::vector<CaseData>& cases, const std::string& dataset,
                    const std::string& subject, const std::string& baseline, const std::string& metric,
                    const std::string& context_suffix, const Compare& compare, std::vector<ClaimRow>& rows) {
  const auto points = distinct(cases, [](const CaseData& c) { return c.point; });
  std::map<int, std::vector<std::string>> leans;  // side → grid points leaning to it
  std::set<std::string> compared;
  bool bears_verdict = true;
  for (const auto& point : points) {
    if (key_component(point, "dataset") != dataset) continue;
    const Cases s = select(cases, [&](const CaseData& c) { return c.point == point && c.objective == subject; });
    const Cases b = select(cases, [&](const CaseData& c) { return c.point == point && c.objective == baseline; });
    if (s.empty() || b.empty()) continue;
    ClaimRow row{run_context + ", " + point_label(point) + context_suffix, metric, baseline, {}, {}, ClaimVerdict::inconclusive, "", false};
    bears_verdict = compare(s, b, row) && bears_verdict;
    leans[lean(row)].push_back(point_label(point));
    compared.insert(point);
    rows.push_back(std::move(row));
  }
  if (compared.size() < 2) return;
  auto in_pool = [&](const std::string& objective) {
    return select(cases, [&](const CaseData& c) { return compared.count(c.point) != 0 && c.objective == objective; });
  };
  ClaimRow pooled{run_context + ", " + dataset + ", " + std::to_string(compared.size()) + " grid points pooled" + context_suffix,
                  metric, baseline, {}, {}, ClaimVerdict::inconclusive, "", true};
  compare(in_pool(subject), in_pool(baseline), pooled);
  const bool both_ways = !leans[1].empty() && !leans[-1].empty();
  const bool against = (pooled.verdict == ClaimVerdict::supported && !leans[-1].empty()) ||
                       (pooled.verdict == ClaimVerdict::contradicted && !leans[1].empty());
  if (bears_verdict && (both_ways || against)) {
    pooled.verdict = ClaimVerdict::mixed;
    pooled.reason = "grid points disagree: the subject's values are lower at " + (leans[1].empty() ? "none" : joined(leans[1])) +
                    ", the baseline's at " + (leans[-1].empty() ? "none" : joined(leans[-1]));
  }
  rows.push_back(std::move(pooled));
}

// Per seed, one summary at `scope` of the cases that completed it (finished, or diverged after
// that scope's steps): its finite values, and |bias| at that scope; `lost` counts the cases with
// no value there (diverged before that level, or a non-finite value), `unrecorded` the completed
// cases that have the scope but not the summary (a run made before the harness recorded it).
struct PerSeed {
  std::vector<double> values, abs_bias;
  std::size_t lost = 0, unrecorded = 0;
};
PerSeed per_seed(const Cases& cases, const std::string& scope, const std::string& name) {
  PerSeed out;
  for (const CaseData* c : cases) {
    if (c->status == "failed") continue;  // no training to speak of: not a seed of the comparison
    const double v = c->value(scope, name), bias = c->value(scope, "bias");
    if (c->completed() && std::isfinite(v) && std::isfinite(bias)) {
      out.values.push_back(v);
      out.abs_bias.push_back(std::abs(bias));
      continue;
    }
    const auto at = c->summary.find(scope);
    if (c->completed() && at != c->summary.end() && at->second.count(name) == 0) ++out.unrecorded;
    else ++out.lost;
  }
  return out;
}

std::string bias_text(double subject, double baseline) {
  return "mean |bias| " + format_fixed(subject, 2) + " vs " + format_fixed(baseline, 2) + " nats";
}

// A variance per seed compared at comparable bias (claims 1 and 3).
bool variance_at_comparable_bias(const PerSeed& s, const PerSeed& b, const std::string& name,
                                 const std::function<Estimate(const std::vector<double>&)>& estimate, ClaimRow& row) {
  row.subject_value = estimate(s.values);
  row.baseline_value = estimate(b.values);
  const double sb = mean_of(s.abs_bias), bb = mean_of(b.abs_bias);
  if (s.values.empty() && b.values.empty() && s.unrecorded + b.unrecorded > 0) {
    row.reason = "the run has no '" + name + "' summaries (made by an older harness): run the suite again";
    return true;
  }
  if (s.values.size() < 2 || b.values.size() < 2) {
    row.reason = "fewer than two seeds with a value on a side (" + std::to_string(s.values.size()) + " and " +
                 std::to_string(b.values.size()) + (s.lost + b.lost > 0 ? "; the others diverged before this level" : "") +
                 "): no interval";
    return true;
  }
  row.verdict = at_comparable_bias(lower_is_better(row.subject_value, row.baseline_value, row.reason), sb, bb, row.reason);
  // The side the verdict favours must not be the survivors of a side that lost seeds here.
  const std::size_t winner_lost = row.verdict == ClaimVerdict::supported ? s.lost : row.verdict == ClaimVerdict::contradicted ? b.lost : 0;
  if (winner_lost > 0) {
    row.reason = "the " + std::string(row.verdict == ClaimVerdict::supported ? "subject" : "baseline") + " lost " +
                 std::to_string(winner_lost) + " seed(s) before or at this level: its survivors' variance would flatter it";
    row.verdict = ClaimVerdict::inconclusive;
  } else if (s.lost + b.lost > 0) {
    row.reason += (row.reason.empty() ? "" : "; ") + std::to_string(s.lost) + " and " + std::to_string(b.lost) +
                  " seed(s) lost before this level";
  }
  row.reason += (row.reason.empty() ? "" : "; ") + bias_text(sb, bb);
  return true;
}

// Claim 1: how often a case diverged, and how much its estimate jitters around its running trend
// (per MI level, at comparable bias), at each grid point.
void stability_rows(const RunRef& run, const std::vector<CaseData>& cases, const std::string& subject, ClaimSection& section) {
  const std::string context = "run " + std::to_string(run.id) + " " + run.suite;
  for (const auto& dataset : distinct(cases, [](const CaseData& c) { return c.dataset; })) {
    const Cases in_dataset = select(cases, [&](const CaseData& c) { return c.dataset == dataset; });
    const auto levels = levels_of(in_dataset);
    for (const auto& baseline : baselines_in(cases, subject)) {
      per_point_rows(context, cases, dataset, subject, baseline, "diverged fraction (Wilson 95%)", "",
                     [](const Cases& s, const Cases& b, ClaimRow& row) {
                       auto fraction = [](const Cases& cs) {
                         std::int64_t k = 0, n = 0;
                         for (const CaseData* c : cs)
                           if (c->completed()) ++n, k += c->status == "diverged" ? 1 : 0;
                         return proportion(k, n);
                       };
                       row.subject_value = fraction(s);
                       row.baseline_value = fraction(b);
                       if (row.subject_value.n == 0 || row.baseline_value.n == 0)
                         row.reason = "no case finished or diverged on a side (all failed)";
                       else if (row.subject_value.value == 0 && row.baseline_value.value == 0)
                         row.reason = "neither diverged at this budget";
                       else
                         row.verdict = lower_is_better(row.subject_value, row.baseline_value, row.reason);
                       return true;
                     },
                     section.rows);
      const std::string metric =
          "jitter of the estimate around its running trend over the level (mean square residual from a centred mean of up "
          "to 101 steps; geometric mean over seeds, t 95% on log10)";
      if (levels.empty()) {
        // No true MI (vision, speech): nothing to tell a stable estimator from one pinned at a bound.
        per_point_rows(context, cases, dataset, subject, baseline, metric + ", over the run", "",
                       [](const Cases& s, const Cases& b, ClaimRow& row) {
                         auto values = [](const Cases& cs) {
                           std::vector<double> out;
                           for (const CaseData* c : cs)
                             if (c->status == "finished" && std::isfinite(c->value("", "mi_trend_variance")))
                               out.push_back(c->value("", "mi_trend_variance"));
                           return out;
                         };
                         row.subject_value = geometric_mean_interval(values(s));
                         row.baseline_value = geometric_mean_interval(values(b));
                         row.reason = "no verdict: without a true MI a low jitter cannot be told from an estimate pinned at its bound";
                         return false;
                       },
                       section.rows);
        continue;
      }
      for (const auto& [level, scope] : levels)
        per_point_rows(context, cases, dataset, subject, baseline, metric, ", true MI " + format_general(level),
                       [scope = scope](const Cases& s, const Cases& b, ClaimRow& row) {
                         return variance_at_comparable_bias(per_seed(s, scope, "trend_variance"),
                                                            per_seed(b, scope, "trend_variance"), "trend_variance",
                                                            geometric_mean_interval, row);
                       },
                       section.rows);
    }
  }
}

std::string lost_text(const std::map<double, std::pair<int, int>>& lost) {
  std::string out;
  for (const auto& [x, kn] : lost)
    out += (out.empty() ? "" : ", ") + format_general(x) + ": " + std::to_string(kn.first) + "/" + std::to_string(kn.second);
  return out;
}

// Claim 2: per numeric sweep axis (the batch size) and downstream metric, the OLS slope of the
// metric against log2(axis), as the loss per halving (positive: worse at smaller values).
void batch_rows(const RunRef& run, const std::vector<CaseData>& cases, const std::string& subject,
                const std::vector<HeadlineMetric>& headline, ClaimSection& section) {
  if (!run.resolved.is_object() || !run.resolved.contains("sweep")) {
    section.budget.push_back("run " + std::to_string(run.id) + " '" + run.suite + "' has no [sweep] axis " + kBatchAxis + ": no slope");
    return;
  }
  bool any_axis = false;
  for (const auto& axis_json : run.resolved["sweep"]) {
    if (!axis_json.is_object() || !axis_json.contains("key") || !axis_json["key"].is_string()) continue;
    const std::string axis = axis_json["key"].get<std::string>();
    if (axis != kBatchAxis) continue;  // the claim is about the batch size, not a learning rate swept beside it
    const json values = axis_json.value("values", json::array());
    if (values.size() < 2 || !std::all_of(values.begin(), values.end(), [](const json& v) { return v.is_number(); })) continue;
    const bool log2 = std::all_of(values.begin(), values.end(), [](const json& v) { return v.get<double>() > 0; });
    any_axis = true;
    // Grid points along the axis: the point without it.
    std::vector<CaseData> along = cases;
    for (auto& c : along) c.point = with_component(c.point, axis, "");
    for (const auto& dataset : distinct(along, [](const CaseData& c) { return c.dataset; }))
      for (const HeadlineMetric& m : headline) {
        if (!m.batch_size_evidence) continue;
        for (const auto& baseline : baselines_in(cases, subject))
          per_point_rows(
              "run " + std::to_string(run.id) + " " + run.suite, along, dataset, subject, baseline,
              m.title + ": loss per halving of " + axis + " (OLS slope against " + (log2 ? "log2, " : "") + "t 95%)", "",
              [&](const Cases& s, const Cases& b, ClaimRow& row) {
                // Per side: the slope over the finished cases, and per axis value how many cases
                // diverged or failed out of how many.
                auto side = [&](const Cases& cs, std::map<double, std::pair<int, int>>& lost) {
                  std::vector<double> xs, ys;
                  std::set<double> at;
                  int not_finished = 0;
                  for (const CaseData* c : cs) {
                    const std::string text = key_component(c->key, axis);
                    if (text.empty()) continue;
                    const double x = std::stod(text);
                    auto& kn = lost[x];
                    ++kn.second;
                    const double y = c->value("", m.name);
                    if (c->status != "finished" || !std::isfinite(y)) {  // diverged, failed, or no value
                      ++kn.first, ++not_finished;
                      continue;
                    }
                    xs.push_back(log2 ? std::log2(x) : x);
                    ys.push_back(y);
                    at.insert(x);
                  }
                  if (at.size() < 2) return std::make_pair(Estimate{NAN, NAN, NAN, xs.size()}, not_finished);
                  const Slope fit = least_squares_slope(xs, ys);
                  // A higher-is-better metric loses `slope` per halving, a lower-is-better one gains it.
                  const Estimate e = m.higher_is_better ? Estimate{fit.slope, fit.ci.low, fit.ci.high, fit.n}
                                                        : Estimate{-fit.slope, -fit.ci.high, -fit.ci.low, fit.n};
                  return std::make_pair(e, not_finished);
                };
                std::map<double, std::pair<int, int>> subject_lost, baseline_lost;
                const auto [se, s_lost] = side(s, subject_lost);
                const auto [be, b_lost] = side(b, baseline_lost);
                row.subject_value = se;
                row.baseline_value = be;
                if (s_lost > 0 || b_lost > 0 || std::isnan(se.value) || std::isnan(be.value)) {
                  // A collapse at small batches is the failure the claim is about: say where, do
                  // not fit a slope through the survivors.
                  row.reason = "diverged, failed or without a value per " + axis + ": " + subject + " " + lost_text(subject_lost) + "; " +
                               row.baseline + " " + lost_text(baseline_lost) +
                               (std::isnan(se.value) || std::isnan(be.value) ? " (no slope on a side: under two " + axis +
                                                                                    " values with a result)"
                                                                              : ": a slope through the survivors would flatter them");
                  return true;
                }
                row.verdict = lower_is_better(se, be, row.reason);
                return true;
              },
              section.rows);
      }
  }
  if (!any_axis)
    section.budget.push_back("run " + std::to_string(run.id) + " '" + run.suite + "' has no numeric [sweep] axis " +
                             kBatchAxis + " with ≥ 2 values: no slope");
}

// Claim 3: per MI level and grid point, the variance of the estimate over the level's window,
// mean over seeds, compared at comparable bias.
void mi_rows(const RunRef& run, const std::vector<CaseData>& cases, const std::string& subject, ClaimSection& section) {
  const std::string context = "run " + std::to_string(run.id) + " " + run.suite;
  for (const auto& dataset : distinct(cases, [](const CaseData& c) { return c.dataset; })) {
    const auto levels = levels_of(select(cases, [&](const CaseData& c) { return c.dataset == dataset; }));
    for (const auto& baseline : baselines_in(cases, subject))
      for (const auto& [level, scope] : levels)
        per_point_rows(context, cases, dataset, subject, baseline, "variance of the estimate over the window (mean over seeds, t 95%)",
                       ", true MI " + format_general(level),
                       [scope = scope](const Cases& s, const Cases& b, ClaimRow& row) {
                         return variance_at_comparable_bias(per_seed(s, scope, "variance"), per_seed(b, scope, "variance"),
                                                            "variance", mean_t_interval, row);
                       },
                       section.rows);
  }
}

}  // namespace

const char* to_string(ClaimVerdict v) {
  switch (v) {
    case ClaimVerdict::supported: return "supported";
    case ClaimVerdict::contradicted: return "contradicted";
    case ClaimVerdict::inconclusive: return "inconclusive";
    case ClaimVerdict::mixed: return "mixed";
  }
  return "?";
}

ClaimVerdict at_comparable_bias(ClaimVerdict verdict, double subject_abs_bias, double baseline_abs_bias, std::string& reason) {
  // The side the verdict favours must not have bought its lower variance with bias.
  const double winner = verdict == ClaimVerdict::supported ? subject_abs_bias : baseline_abs_bias;
  const double loser = verdict == ClaimVerdict::supported ? baseline_abs_bias : subject_abs_bias;
  if (verdict != ClaimVerdict::supported && verdict != ClaimVerdict::contradicted) return verdict;
  if (winner <= loser + kComparableBiasNats) return verdict;
  reason = "bias not comparable: the " + std::string(verdict == ClaimVerdict::supported ? "subject's" : "baseline's") +
           " lower variance comes with " + format_fixed(winner - loser, 2) + " nats more |bias|";
  return ClaimVerdict::inconclusive;
}

Estimate geometric_mean_interval(const std::vector<double>& values) {
  // Variances are positive and heavy-tailed (one seed of NWJ at 147, the next at 0.03): compared
  // as geometric means with a t interval on log10, as a bootstrap interval over a handful of seeds
  // is too narrow to bear a verdict. A zero (a constant estimate) is a result: it counts as the
  // floor, far below the ~1e-12 that float32 rounding of an estimate of a few nats leaves.
  std::vector<double> logs;
  for (double v : values)
    if (std::isfinite(v)) logs.push_back(std::log10(std::max(v, kVarianceFloor)));
  if (logs.empty()) return {NAN, NAN, NAN, 0};
  const MeanStd m = mean_std(logs);
  const Interval ci = t_interval(m.mean, m.std, m.n);
  return {std::pow(10.0, m.mean), std::pow(10.0, ci.low), std::pow(10.0, ci.high), logs.size()};
}

std::vector<ClaimSection> evaluate_claims(Database& db, const ClaimsQuery& query) {
  const std::string& subject = query.subject;
  const std::vector<std::pair<std::string, std::string>> claims = {
      {"stability", "(1) objectives with unbounded log/exp terms (DV, NWJ, JS, MINE) train unstably; '" + subject +
                        "' does not: it diverges less often and its estimate jitters less"},
      {"batch_size", "(2) the downstream accuracy of '" + subject + "' degrades less when the minibatch shrinks"},
      {"mi_estimation", "(3) the MI estimates of '" + subject + "' have lower variance at comparable bias"}};
  TaskCatalog tasks;
  std::vector<ClaimSection> sections;
  for (const auto& [evidence, statement] : claims) {
    ClaimSection section;
    section.evidence = evidence;
    section.statement = statement;
    std::vector<std::string> notes;
    const auto runs = evidence_runs(db, evidence, query.runs, notes);
    if (runs.empty()) {
      section.missing = "no complete finished run of a suite with evidence \"" + evidence + "\"" +
                        (query.runs.empty() ? "" : " among the runs asked for") + " in this database";
      section.budget = notes;
      sections.push_back(std::move(section));
      continue;
    }
    for (const auto& run : runs) {
      const auto cases = load_cases(db, run.id);
      section.budget.push_back(budget_line(run, cases));
      if (std::none_of(cases.begin(), cases.end(), [&](const CaseData& c) { return c.objective == subject; })) {
        section.budget.back() += " — has no objective '" + subject + "'";
        continue;
      }
      section.runs.push_back(run.id);
      const Task* task = tasks.find(run.task);
      if (evidence == "stability") stability_rows(run, cases, subject, section);
      if (evidence == "batch_size")
        batch_rows(run, cases, subject, task ? task->headline_metrics() : std::vector<HeadlineMetric>{}, section);
      if (evidence == "mi_estimation") mi_rows(run, cases, subject, section);
    }
    for (auto& line : notes) section.budget.push_back(line);
    if (section.rows.empty() && section.missing.empty())
      section.missing = "the runs hold no comparison of '" + subject + "' with a baseline";
    sections.push_back(std::move(section));
  }
  return sections;
}

}  // namespace rpcbench
