#include "report/html_report.hpp"

#include "db/database.hpp"
#include "report/svg_plot.hpp"
#include "util/errors.hpp"

#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
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

bool has_metric(Database& db, std::int64_t run, const std::string& name) {
  auto s = db.prepare("SELECT 1 FROM samples s JOIN cases c USING (case_id) WHERE c.run_id = ?1 AND s.name = ?2 LIMIT 1");
  s.bind(1, run).bind(2, name);
  return s.step();
}

}  // namespace

std::filesystem::path write_html_report(const std::string& db_path, std::optional<std::int64_t> run_id,
                                        const std::string& suite, const std::filesystem::path& out_dir) {
  Database db(db_path, Database::Mode::read_only);
  std::string sql = "SELECT run_id FROM runs WHERE 1";
  if (run_id) sql += " AND run_id = ?1";
  if (!suite.empty()) sql += " AND suite_name = ?2";
  auto pick = db.prepare(sql + " ORDER BY run_id DESC LIMIT 1");
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
  const std::string title = "rpcbench: " + r.column_text(0) + (r.column_text(1).empty() ? "" : " (" + r.column_text(1) + ")") +
                            ", run " + std::to_string(run);
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << escape(title) << "</title>\n"
       << "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
       << "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}svg.chart{margin:8px 0;display:block}"
       << ".diverged,.failed,.killed{color:#b00}</style></head><body>\n<h1>" << escape(title) << "</h1>\n";
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

  html << "<h2>Cases</h2>\n<table class=\"cases\"><tr><th>case</th><th>status</th><th>message</th></tr>\n";
  for (const auto& c : cases)
    html << "<tr><td>" << escape(c.key) << "</td><td class=\"" << escape(c.status) << "\">" << escape(c.status)
         << (c.stopped_step ? " @" + std::to_string(*c.stopped_step) : "") << "</td><td>" << escape(c.message) << "</td></tr>\n";
  html << "</table>\n";

  const bool mi_task = has_metric(db, run, "true_mi");
  const bool accuracy = std::any_of(cases.begin(), cases.end(), [](const CaseRow& c) {
    return c.summaries.count("") && c.summaries.at("").count("linear_top1");
  });
  const bool speech = std::any_of(cases.begin(), cases.end(), [](const CaseRow& c) {
    return c.summaries.count("") && c.summaries.at("").count("phoneme_top1");
  });
  for (const auto& dataset : datasets) {
    html << "<h2>" << escape(dataset) << "</h2>\n";
    std::vector<const CaseRow*> in;
    for (const auto& c : cases)
      if (c.dataset == dataset) in.push_back(&c);
    if (mi_task) {
      std::vector<svg::Series> lines;
      for (const CaseRow* c : in) {
        auto [x, y] = series(db, c->id, "mi");
        svg::Series s{c->objective, x, y, false, {}};
        if (c->status == "diverged" && c->stopped_step) s.marker_x.push_back(static_cast<double>(*c->stopped_step));
        lines.push_back(std::move(s));
      }
      auto [tx, ty] = series(db, in.front()->id, "true_mi");
      lines.push_back({"true MI", tx, ty, true, {}});
      for (const CaseRow* c : in)
        if (c->summaries.count("") && c->summaries.at("").count("mi_ceiling") && !tx.empty()) {
          const double ceiling = c->summaries.at("").at("mi_ceiling");
          lines.push_back({c->objective + " ceiling log N", {tx.front(), tx.back()}, {ceiling, ceiling}, true, {}});
          break;
        }
      html << svg::line_chart({"MI staircase on " + dataset + ": estimate per step", "step", "nats", true}, lines);
      std::vector<std::string> levels;
      for (const CaseRow* c : in)
        for (const auto& [scope, values] : c->summaries)
          if (scope.rfind("mi=", 0) == 0 && std::find(levels.begin(), levels.end(), scope) == levels.end()) levels.push_back(scope);
      for (const char* metric : {"bias", "variance"}) {
        std::vector<svg::Bars> bars;
        for (const CaseRow* c : in) {
          svg::Bars b{c->objective, {}};
          for (const auto& level : levels) {
            auto it = c->summaries.find(level);
            b.values.push_back(it != c->summaries.end() && it->second.count(metric) ? it->second.at(metric) : NAN);
          }
          bars.push_back(b);
        }
        html << svg::bar_chart({std::string(metric) + " per MI level on " + dataset + " (last-window statistics)", "level",
                                metric, false},
                               levels, bars);
      }
    }
    if (accuracy) {
      std::vector<std::string> names;
      svg::Bars linear{"linear top-1", {}}, knn{"kNN top-1", {}};
      for (const CaseRow* c : in) {
        names.push_back(c->objective);
        const auto& s = c->summaries.count("") ? c->summaries.at("") : std::map<std::string, double>{};
        linear.values.push_back(s.count("linear_top1") ? s.at("linear_top1") : NAN);
        knn.values.push_back(s.count("knn_top1") ? s.at("knn_top1") : NAN);
      }
      html << svg::bar_chart({"Top-1 accuracy on " + dataset + " (random_init = untrained control)", "objective", "top-1", false},
                             names, {linear, knn});
    }
    if (speech) {
      // The speech table: probes per objective beside the control, and what chance gives.
      std::vector<std::string> names;
      svg::Bars phoneme{"phoneme top-1", {}}, speaker{"speaker top-1", {}}, majority{"commonest phoneme", {}};
      html << "<table class=\"speech\"><tr><th>objective</th><th>phoneme top-1</th><th>speaker top-1</th>"
           << "<th>final loss</th><th>prediction accuracy</th><th>train s</th><th>status</th></tr>\n";
      for (const CaseRow* c : in) {
        const auto& s = c->summaries.count("") ? c->summaries.at("") : std::map<std::string, double>{};
        auto get = [&](const char* k) { return s.count(k) ? s.at(k) : NAN; };
        names.push_back(c->objective);
        phoneme.values.push_back(get("phoneme_top1"));
        speaker.values.push_back(get("speaker_top1"));
        majority.values.push_back(get("phoneme_majority"));
        auto cell = [](double v, int digits) {
          std::ostringstream os;
          if (std::isfinite(v)) os << std::fixed << std::setprecision(digits) << v;
          else os << "—";
          return os.str();
        };
        html << "<tr><td>" << escape(c->objective) << "</td><td>" << cell(get("phoneme_top1"), 4) << "</td><td>"
             << cell(get("speaker_top1"), 4) << "</td><td>" << cell(get("final_loss"), 4) << "</td><td>"
             << cell(get("prediction_accuracy"), 3) << "</td><td>" << cell(get("train_seconds"), 1) << "</td><td class=\""
             << escape(c->status) << "\">" << escape(c->status) << "</td></tr>\n";
      }
      html << "</table>\n";
      html << svg::bar_chart({"Frozen-feature probes on " + dataset + " (random_init = untrained control)", "objective",
                              "top-1", false},
                             names, {phoneme, speaker, majority});
      for (const auto& [metric, title] : {std::pair<const char*, const char*>{"phoneme_top1", "Phoneme probe top-1 during training"},
                                          {"prediction_accuracy", "Share of anchors whose positive beats every negative"},
                                          {"mi", "MI estimate (mean over prediction steps)"}}) {
        std::vector<svg::Series> lines;
        for (const CaseRow* c : in) {
          auto [x, y] = series(db, c->id, metric);
          if (x.size() < 2) continue;
          svg::Series line{c->objective, x, y, false, {}};
          if (c->status == "diverged" && c->stopped_step) line.marker_x.push_back(static_cast<double>(*c->stopped_step));
          lines.push_back(std::move(line));
        }
        if (!lines.empty()) html << svg::line_chart({std::string(title) + " on " + dataset, "step", metric, true}, lines);
      }
    }
    for (const char* metric : {"loss", "grad_norm"}) {
      std::vector<svg::Series> lines;
      for (const CaseRow* c : in) {
        auto [x, y] = series(db, c->id, metric);
        if (x.empty()) continue;
        svg::Series s{c->objective, x, y, false, {}};
        if (c->status == "diverged" && c->stopped_step) s.marker_x.push_back(static_cast<double>(*c->stopped_step));
        lines.push_back(std::move(s));
      }
      if (!lines.empty())
        html << svg::line_chart({std::string(metric == std::string("loss") ? "Training loss" : "Gradient norm") + " on " + dataset,
                                 "step", metric, true},
                                lines);
    }
  }
  html << "<p>Generated by rpcbench from " << escape(db_path) << ". Plots average the per-step samples into at most "
       << "400 points; y ranges are the 1st–99th percentile, so diverging estimators are clipped to the frame.</p>\n"
       << "</body></html>\n";
  const auto path = out_dir / "index.html";
  const auto tmp = out_dir / "index.html.tmp";
  {
    std::ofstream out(tmp);
    out << html.str();
    if (!out) throw InputError("report: cannot write '" + path.string() + "'");
  }
  std::filesystem::rename(tmp, path);
  return path;
}

}  // namespace rpcbench
