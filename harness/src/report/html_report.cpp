#include "report/html_report.hpp"
#include "util/atomic_file.hpp"

#include "claims/claims.hpp"
#include "db/database.hpp"
#include "report/svg_plot.hpp"
#include "run/aggregates.hpp"
#include "suite/suite.hpp"
#include "tasks/task.hpp"
#include "util/atomic_file.hpp"
#include "util/errors.hpp"
#include "util/format.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <cstdlib>
#include <sstream>

namespace rpcbench {
namespace {

using svg::escape;

struct CaseRow {
  std::int64_t id;
  std::string key, dataset, objective, status, message;
  std::optional<std::int64_t> stopped_step;
  std::map<std::string, std::map<std::string, double>> summaries;  // scope → name → value
};

// (step, value) of one metric, averaged into at most `bins` points so a plot stays small.
std::pair<std::vector<double>, std::vector<double>> series(Database& db, std::int64_t case_id, const std::string& name,
                                                           std::size_t bins = 400) {
  auto s = db.prepare("SELECT step, value FROM samples WHERE case_id = ?1 AND name = ?2 ORDER BY step");
  s.bind(1, case_id).bind(2, name);
  std::vector<double> steps, values;
  while (s.step()) {
    steps.push_back(static_cast<double>(s.column_int(0)));
    values.push_back(s.is_null(1) ? NAN : s.column_double(1));
  }
  if (steps.size() <= bins) return {steps, values};
  std::vector<double> xs, ys;
  const std::size_t per = (steps.size() + bins - 1) / bins;
  for (std::size_t i = 0; i < steps.size(); i += per) {
    double sum = 0.0;
    std::size_t n = 0;
    for (std::size_t k = i; k < std::min(i + per, steps.size()); ++k)
      if (std::isfinite(values[k])) sum += values[k], ++n;
    xs.push_back(steps[i]);
    ys.push_back(n > 0 ? sum / static_cast<double>(n) : NAN);
  }
  return {xs, ys};
}

std::string resolved_suite(Database& db, std::int64_t run) {
  auto s = db.prepare("SELECT resolved_suite FROM runs WHERE run_id = ?1");
  s.bind(1, run);
  return s.step() ? s.column_text(0) : "{}";
}

std::string replace_dataset(std::string text, const std::string& dataset) {
  const auto at = text.find("{dataset}");
  return at == std::string::npos ? text : text.replace(at, 9, dataset);
}

// The group of a case (its key without the repeat) and its grid coordinates, from the key.
std::string group_of(const std::string& key) { return case_group(key); }
// The objective and the grid coordinates: the group without its dataset.
std::string label_of(const CaseRow& c) {
  std::string label = with_component(with_component(group_of(c.key), "dataset", ""), "objective", "");
  std::replace(label.begin(), label.end(), '/', ' ');
  return c.objective + (label.empty() ? "" : " " + label);
}
std::string repeat_of(const std::string& key) { return key_component(key, "repeat"); }

// Scopes with `prefix`, sorted by the number after '=' ("mi=2" before "mi=10").
std::vector<std::string> numeric_scopes(const std::vector<const CaseRow*>& in, const std::string& prefix) {
  std::vector<std::pair<double, std::string>> found;
  for (const CaseRow* c : in)
    for (const auto& [scope, values] : c->summaries)
      if (scope.rfind(prefix, 0) == 0 &&
          std::none_of(found.begin(), found.end(), [&](const auto& f) { return f.second == scope; })) {
        char* end = nullptr;
        const double v = std::strtod(scope.c_str() + prefix.size(), &end);
        found.push_back({end != scope.c_str() + prefix.size() ? v : INFINITY, scope});
      }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (const auto& f : found) out.push_back(f.second);
  return out;
}

double summary_of(const CaseRow& c, const std::string& scope, const std::string& name) {
  auto s = c.summaries.find(scope);
  if (s == c.summaries.end()) return NAN;
  auto v = s->second.find(name);
  return v == s->second.end() ? NAN : v->second;
}

std::string draw(Database& db, const PlotSpec& plot, const std::string& dataset, const std::vector<const CaseRow*>& in) {
  const std::string title = replace_dataset(plot.title, dataset);
  switch (plot.kind) {
    case PlotSpec::Kind::step_curves: {
      std::vector<svg::Series> lines;
      for (const CaseRow* c : in) {
        auto [x, y] = series(db, c->id, plot.metrics.at(0));
        if (x.empty()) continue;
        svg::Series s{label_of(*c), x, y, false, {}};
        if (c->status == "diverged" && c->stopped_step) s.marker_x.push_back(static_cast<double>(*c->stopped_step));
        lines.push_back(std::move(s));
      }
      if (lines.empty()) return "";
      if (!plot.reference_sample.empty()) {
        auto [tx, ty] = series(db, in.front()->id, plot.reference_sample);
        if (!tx.empty()) {
          lines.push_back({plot.reference_sample == "true_mi" ? "true MI" : plot.reference_sample, tx, ty, true, {}});
          for (const CaseRow* c : in) {
            const double ceiling = summary_of(*c, "", plot.ceiling_summary);
            if (plot.ceiling_summary.empty() || std::isnan(ceiling)) continue;
            lines.push_back({c->objective + " ceiling log N", {tx.front(), tx.back()}, {ceiling, ceiling}, true, {}});
            break;
          }
        }
      }
      if (plot.reference_sample.empty() && !plot.ceiling_summary.empty()) {
        // A constant from the cases (e.g. a loss at chance), across the steps drawn.
        double first = INFINITY, last = -INFINITY;
        for (const auto& l : lines)
          if (!l.x.empty()) first = std::min(first, l.x.front()), last = std::max(last, l.x.back());
        for (const CaseRow* c : in) {
          const double level = summary_of(*c, "", plot.ceiling_summary);
          if (std::isnan(level)) continue;
          lines.push_back({plot.ceiling_summary, {first, last}, {level, level}, true, {}});
          break;
        }
      }
      return svg::line_chart({title, "step", plot.y_label, true, {}}, lines);
    }
    case PlotSpec::Kind::scope_bars: {
      const auto scopes = numeric_scopes(in, plot.scope_prefix);
      if (scopes.empty()) return "";
      std::vector<svg::Bars> bars;
      for (const CaseRow* c : in) {
        svg::Bars b{label_of(*c), {}};
        for (const auto& scope : scopes) b.values.push_back(summary_of(*c, scope, plot.metrics.at(0)));
        bars.push_back(b);
      }
      return svg::bar_chart({title, plot.scope_prefix.empty() ? "scope" : plot.scope_prefix.substr(0, plot.scope_prefix.size() - 1),
                             plot.y_label, false, {}},
                            scopes, bars);
    }
    case PlotSpec::Kind::summary_bars: {
      std::vector<std::string> names;
      std::vector<svg::Bars> bars;
      for (const auto& metric : plot.metrics) bars.push_back({metric, {}});
      for (const CaseRow* c : in) {
        names.push_back(label_of(*c) + (in.size() > 12 ? "" : " #" + repeat_of(c->key)));
        for (std::size_t m = 0; m < plot.metrics.size(); ++m) bars[m].values.push_back(summary_of(*c, "", plot.metrics[m]));
      }
      return svg::bar_chart({title, "case", plot.y_label, false, {}}, names, bars);
    }
  }
  return "";
}

double aggregate_value(Database& db, std::int64_t run, const std::string& grouping, const std::string& name,
                       const std::string& statistic, const std::string& scope = "") {
  auto s = db.prepare("SELECT value FROM aggregates WHERE run_id = ?1 AND grouping = ?2 AND scope = ?3 AND name = ?4 AND statistic = ?5");
  s.bind(1, run).bind(2, grouping).bind(3, scope).bind(4, name).bind(5, statistic);
  return s.step() && !s.is_null(0) ? s.column_double(0) : NAN;
}

// Each headline metric against a numeric grid axis: one line per objective (mean over seeds),
// the untrained control as a band when there is one.
std::string axis_plots(Database& db, std::int64_t run, const nlohmann::json& axis, const std::vector<HeadlineMetric>& headline,
                       const std::string& dataset, const std::vector<const CaseRow*>& in) {
  const std::string key = axis.value("key", "");
  std::vector<double> values;
  for (const auto& v : axis["values"]) {
    if (!v.is_number()) return "";
    values.push_back(v.get<double>());
  }
  if (values.size() < 2) return "";
  const bool log2 = std::all_of(values.begin(), values.end(), [](double v) { return v > 0; });
  std::vector<std::pair<double, std::string>> ticks;
  for (const auto& v : axis["values"]) ticks.push_back({log2 ? std::log2(v.get<double>()) : v.get<double>(), sweep_value_text(v)});
  std::ostringstream out;
  for (const HeadlineMetric& metric : headline) {
    std::vector<svg::Series> lines;
    std::vector<svg::Band> bands;
    std::set<std::string> done;
    for (const CaseRow* c : in) {
      const std::string group = group_of(c->key);
      if (key_component(group, key).empty()) {
        if (c->objective == kControlLabel && done.insert(group).second) {
          const double lo = aggregate_value(db, run, group, metric.name, "ci_low"), hi = aggregate_value(db, run, group, metric.name, "ci_high");
          if (std::isfinite(lo) && std::isfinite(hi)) bands.push_back({"random_init (control)", lo, hi});
        }
        continue;
      }
      const std::string across = group_without_axis(group, key);
      if (!done.insert(across).second) continue;
      svg::Series s{label_of(*c), {}, {}, false, {}};
      for (std::size_t i = 0; i < values.size(); ++i) {
        s.x.push_back(ticks[i].first);
        s.y.push_back(aggregate_value(db, run, with_component(group, key, ticks[i].second), metric.name, "mean"));
      }
      // The line's label without this axis's coordinate.
      const std::string token = " " + key + "=";
      const auto at = s.name.find(token);
      if (at != std::string::npos) {
        const auto end = s.name.find(' ', at + 1);
        s.name = s.name.substr(0, at) + (end == std::string::npos ? "" : s.name.substr(end));
      }
      lines.push_back(std::move(s));
    }
    if (lines.empty()) continue;
    out << svg::line_chart({metric.title + " against " + key + " on " + dataset + " (mean over seeds)",
                            key + (log2 ? " (log scale)" : ""), metric.title, false, ticks},
                           lines, bands);
  }
  return out.str();
}

// Across seeds: the fraction of each grid point's seeds that diverged, and every seed's loss curve
// per objective.
std::string seed_plots(Database& db, std::int64_t run, const std::string& dataset, const std::vector<const CaseRow*>& in) {
  std::ostringstream out;
  std::vector<std::string> names;
  svg::Bars fraction{"diverged fraction", {}};
  std::set<std::string> done;
  for (const CaseRow* c : in) {
    const std::string group = group_of(c->key);
    if (c->objective == kControlLabel || !done.insert(group).second) continue;
    names.push_back(label_of(*c));
    fraction.values.push_back(aggregate_value(db, run, group, "diverged", "fraction"));
  }
  if (!names.empty())
    out << svg::bar_chart({"Fraction of seeds that diverged on " + dataset + " (per grid point)", "case", "fraction", false, {}},
                          names, {fraction});
  std::vector<std::string> objectives;
  for (const CaseRow* c : in)
    if (c->objective != kControlLabel && std::find(objectives.begin(), objectives.end(), c->objective) == objectives.end())
      objectives.push_back(c->objective);
  for (const auto& objective : objectives) {
    std::vector<svg::Series> lines;
    for (const CaseRow* c : in) {
      if (c->objective != objective) continue;
      auto [x, y] = series(db, c->id, "loss", 200);
      if (x.empty()) continue;
      svg::Series s{label_of(*c) + " seed " + repeat_of(c->key), x, y, false, {}};
      if (c->status == "diverged" && c->stopped_step) s.marker_x.push_back(static_cast<double>(*c->stopped_step));
      lines.push_back(std::move(s));
    }
    if (!lines.empty())
      out << svg::line_chart({"Training loss of " + objective + " on " + dataset + ", every seed", "step", "loss", true, {}}, lines);
  }
  return out.str();
}

// The verdicts this run is evidence for (not those of the other runs in the database).
void claims_section(std::ostringstream& html, Database& db, std::int64_t run, const std::string& subject) {
  html << "<h2>Claims (this run's evidence; subject: " << escape(subject) << ")</h2>\n";
  for (const ClaimSection& s : evaluate_claims(db, ClaimsQuery{subject, {run}})) {
    if (s.budget.empty()) continue;  // a claim this run is no evidence for
    html << "<h3>" << escape(s.statement) << "</h3>\n<ul class=\"budget\">";
    for (const auto& line : s.budget) html << "<li>" << escape(line) << "</li>";
    html << "</ul>\n";
    if (!s.missing.empty()) {
      html << "<p class=\"missing\">No verdict: " << escape(s.missing) << "</p>\n";
      continue;
    }
    html << "<table class=\"claims\"><tr><th>where</th><th>metric</th><th>baseline</th><th>rpc</th><th>baseline value</th>"
            "<th>verdict</th></tr>\n";
    auto text = [](const Estimate& e) {
      return std::isnan(e.value) ? std::string("—")
                                 : format_general(e.value, 3) + " [" + format_general(e.low, 3) + ", " + format_general(e.high, 3) + "]";
    };
    for (const auto& r : s.rows)
      html << "<tr><td>" << escape(r.context) << "</td><td>" << escape(r.metric) << "</td><td>" << escape(r.baseline)
           << "</td><td>" << escape(text(r.subject_value)) << "</td><td>" << escape(text(r.baseline_value))
           << "</td><td class=\"" << to_string(r.verdict) << "\">" << (r.pooled ? "pooled: " : "") << to_string(r.verdict)
           << (r.reason.empty() ? "" : ": " + escape(r.reason)) << "</td></tr>\n";
    html << "</table>\n";
  }
}

}  // namespace

std::filesystem::path write_html_report(const std::string& db_path, std::optional<std::int64_t> run_id,
                                        const std::string& suite, const std::filesystem::path& out_dir,
                                        const std::string& claims_subject) {
  Database db(db_path, Database::Mode::read_only);
  db.require_current_schema();
  std::string sql = "SELECT run_id FROM runs WHERE 1";
  if (run_id) sql += " AND run_id = ?1";
  if (!suite.empty()) sql += " AND suite_name = ?2";
  auto pick = db.prepare(sql + " ORDER BY started_at DESC, run_id DESC LIMIT 1");
  if (run_id) pick.bind(1, *run_id);
  if (!suite.empty()) pick.bind(2, suite);
  if (!pick.step()) throw InputError("report: no such run in '" + db_path + "'");
  const std::int64_t run = pick.column_int(0);

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (!std::filesystem::is_directory(out_dir, ec))
    throw InputError("report: cannot create the output directory '" + out_dir.string() + "'");

  std::ostringstream html;
  auto r = db.prepare(
      "SELECT suite_name, profile, task, status, started_at, finished_at, git_sha, git_dirty, harness_version, "
      "libtorch_version, compiler, build_type, cpu_model, host, device, threads, blas, command_line FROM runs WHERE run_id = ?1");
  r.bind(1, run);
  r.step();
  const std::string resolved_text = resolved_suite(db, run);
  const std::string title = "rpcbench: " + r.column_text(0) + (r.column_text(1).empty() ? "" : " (" + r.column_text(1) + ")") +
                            ", run " + std::to_string(run);
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << escape(title) << "</title>\n"
       << "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
       << "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}svg.chart{margin:8px 0;display:block}"
       << ".diverged,.failed,.killed,.contradicted{color:#b00}.supported{color:#070}</style></head><body>\n<h1>" << escape(title) << "</h1>\n";
  html << "<h2>Provenance</h2>\n<table class=\"provenance\">\n";
  for (int i = 0; i < r.column_count(); ++i) {
    std::string v = r.is_null(i) ? "" : r.column_text(i);
    if (r.column_name(i) == "git_dirty") v = v == "1" ? "yes" : "no";
    html << "<tr><th>" << escape(r.column_name(i)) << "</th><td>" << escape(v) << "</td></tr>\n";
  }
  html << "</table>\n";

  std::vector<CaseRow> cases;
  {
    auto c = db.prepare("SELECT case_id, case_key, dataset, objective, status, message, stopped_step FROM cases "
                        "WHERE run_id = ?1 ORDER BY case_id");
    c.bind(1, run);
    while (c.step()) {
      CaseRow row{c.column_int(0), c.column_text(1), c.column_text(2), c.column_text(3), c.column_text(4), c.column_text(5), {}, {}};
      if (!c.is_null(6)) row.stopped_step = c.column_int(6);
      auto s = db.prepare("SELECT scope, name, value FROM summaries WHERE case_id = ?1");
      s.bind(1, row.id);
      while (s.step()) row.summaries[s.column_text(0)][s.column_text(1)] = s.is_null(2) ? NAN : s.column_double(2);
      cases.push_back(std::move(row));
    }
  }
  std::vector<std::string> datasets;
  for (const auto& c : cases)
    if (std::find(datasets.begin(), datasets.end(), c.dataset) == datasets.end()) datasets.push_back(c.dataset);

  // What to draw comes from the task (its plots and headline metrics) and the run's grid.
  TaskCatalog tasks;
  const Task* task = tasks.find(r.column_text(2));
  const std::vector<PlotSpec> plots = task ? task->plots() : std::vector<PlotSpec>{};
  const std::vector<HeadlineMetric> headline = task ? task->headline_metrics() : std::vector<HeadlineMetric>{};

  // One row per case: its status and the task's headline metrics (the control included).
  html << "<h2>Cases</h2>\n<table class=\"cases\"><tr><th>case</th><th>status</th>";
  for (const HeadlineMetric& m : headline) html << "<th>" << escape(m.title) << "</th>";
  html << "<th>message</th></tr>\n";
  for (const auto& c : cases) {
    html << "<tr><td>" << escape(c.key) << "</td><td class=\"" << escape(c.status) << "\">" << escape(c.status)
         << (c.stopped_step ? " @" + std::to_string(*c.stopped_step) : "") << "</td>";
    const auto whole = c.summaries.find("");
    for (const HeadlineMetric& m : headline) {
      const bool has = whole != c.summaries.end() && whole->second.count(m.name) != 0;
      html << "<td>" << (has ? format_fixed(whole->second.at(m.name), 4, "—") : std::string("—")) << "</td>";
    }
    html << "<td>" << escape(c.message) << "</td></tr>\n";
  }
  html << "</table>\n";
  const nlohmann::json resolved = nlohmann::json::parse(resolved_text, nullptr, false);
  check_resolved_suite(resolved, "report: run " + std::to_string(run) + " in '" + db_path + "': its resolved suite");
  const int repeats = static_cast<int>(resolved["suite"]["repeats"].get<std::int64_t>());

  if (resolved["suite"].contains("evidence")) claims_section(html, db, run, claims_subject);

  for (const auto& dataset : datasets) {
    html << "<h2>" << escape(dataset) << "</h2>\n";
    std::vector<const CaseRow*> in;
    for (const auto& c : cases)
      if (c.dataset == dataset) in.push_back(&c);
    for (const PlotSpec& plot : plots) html << draw(db, plot, dataset, in);
    if (resolved.contains("sweep"))
      for (const auto& axis : resolved["sweep"]) html << axis_plots(db, run, axis, headline, dataset, in);
    if (repeats > 1) html << seed_plots(db, run, dataset, in);
  }
  html << "<p>Generated by rpcbench from " << escape(db_path) << ". Plots average the per-step samples into at most "
       << "400 points; y ranges follow the typical curves (or the references), so a diverging estimator is clipped to "
       << "the frame.</p>\n"
       << "</body></html>\n";
  const auto path = out_dir / "index.html";
  write_file_atomically(path, html.str());
  return path;
}

}  // namespace rpcbench
