#include "cli/commands.hpp"
#include "cli/plugin_loading.hpp"
#include "compare/compare.hpp"
#include "report/console_reporter.hpp"
#include "tasks/task.hpp"
#include "util/atomic_file.hpp"
#include "util/errors.hpp"
#include "util/format.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace rpcbench::cli {

void add_compare(CLI::App& app, CompareArgs& args) {
  app.add_option("baseline", args.baseline, "a database, an exported JSON file, a run id or a git SHA")->required();
  app.add_option("candidate", args.candidate, "the same forms")->required();
  app.add_option("--db", args.db, "where run ids and git SHAs are looked up")->capture_default_str();
  app.add_option("--suite", args.suite, "only runs of this suite (name)");
  app.add_option("--gates", args.gates,
                 "take the [[gates]] of this suite file (default: those stored with the baseline, so a change cannot "
                 "loosen its own gates)");
  app.add_option("--plugins", args.plugin_dirs, "extra plugin directory, to load --gates (repeatable)");
  app.add_option("--format,-f", args.format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  app.add_flag("--all", args.all, "show unchanged metrics too");
  app.footer("Exit codes: 0 no regression, 1 a regression, 2 bad input (including no matching cases).");
}

void add_export(CLI::App& app, ExportArgs& args) {
  app.add_option("--db", args.db, "results database")->capture_default_str();
  app.add_option("--run", args.run, "run id (default: the latest finished)")->check(CLI::PositiveNumber);
  app.add_option("--suite", args.suite, "the latest run of this suite");
  app.add_option("--output,-o", args.output, "write here (default: stdout)");
}

void add_import(CLI::App& app, ImportArgs& args) {
  app.add_option("files", args.files, "JSON exports (harness export)")->required()->check(CLI::ExistingFile);
  app.add_option("--db", args.db, "database to add the runs to")->capture_default_str();
}

int import_command(const ImportArgs& args) {
  // Every file checked before the database is opened (or created): bad input writes nothing.
  std::vector<nlohmann::json> docs;
  for (const auto& file : args.files) docs.push_back(read_export(file));
  Database db(args.db, Database::Mode::read_write);
  for (std::size_t i = 0; i < docs.size(); ++i)
    std::fprintf(stderr, "%s: %s\n", args.files[i].c_str(), import_run(db, docs[i]) ? "imported" : "already present");
  return kExitOk;
}

int export_command(const ExportArgs& args) {
  const std::string text = export_run(args.db, args.run >= 0 ? std::optional<std::int64_t>(args.run) : std::nullopt, args.suite);
  if (args.output.empty()) {
    std::fputs(text.c_str(), stdout);
    return kExitOk;
  }
  write_file_atomically(args.output, text);
  std::fprintf(stderr, "exported to %s\n", args.output.c_str());
  return kExitOk;
}

int compare_command(const CompareArgs& args) {
  const ResultSet baseline = load_result_set(args.baseline, args.db, args.suite);
  const ResultSet candidate = load_result_set(args.candidate, args.db, args.suite);
  std::vector<Gate> gates;
  std::string gates_from;
  if (!args.gates.empty()) {
    PluginRegistry registry;
    load_plugins(registry, args.plugin_dirs);
    TaskCatalog tasks;
    gates = load_suite(args.gates, {}, registry, tasks).gates;
    gates_from = "--gates " + args.gates;
    if (gates.empty()) throw InputError("--gates " + args.gates + ": the suite has no [[gates]]");
  } else {
    // The baseline's own gates: a candidate cannot loosen the tolerances it is judged by.
    gates = gates_from_resolved(baseline.resolved_suite);
    for (Gate& g : gates) g.origin += " of the baseline's suite";
    gates_from = "the baseline (" + baseline.description + ")";
    if (gates.empty())
      throw InputError("the baseline " + baseline.description + " stores no [[gates]]; give --gates SUITE");
  }
  const CompareReport report = compare(baseline, candidate, gates);

  if (args.format == "json") {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& c : report.rows) {
      nlohmann::json row{{"case", c.group}, {"scope", c.scope}, {"metric", c.metric}, {"baseline_n", c.baseline_n},
                         {"candidate_n", c.candidate_n}, {"verdict", to_string(c.verdict)}, {"reason", c.reason}};
      for (const auto& [k, v] : {std::pair<const char*, double>{"baseline", c.baseline}, {"candidate", c.candidate},
                                 {"change", c.change}, {"relative_change", c.relative}})
        row[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
      row["p_value"] = c.p_value ? nlohmann::json(*c.p_value) : nlohmann::json(nullptr);
      rows.push_back(row);
    }
    std::printf("%s\n", nlohmann::json{{"baseline", baseline.description}, {"candidate", candidate.description},
                                       {"gates_from", gates_from}, {"regression", report.regression()}, {"rows", rows}}
                            .dump(2)
                            .c_str());
  } else {
    ResultTable table;
    table.title = "baseline: " + baseline.description + "\ncandidate: " + candidate.description + "\ngates: from " + gates_from;
    table.columns = {"case", "scope", "metric", "baseline", "candidate", "change", "p", "verdict"};
    std::size_t hidden = 0;
    for (const auto& c : report.rows) {
      if (!args.all && c.verdict == Verdict::unchanged) {
        ++hidden;
        continue;
      }
      std::string change = (c.change >= 0 ? "+" : "") + format_general(c.change, 5);
      if (std::isfinite(c.relative)) change += " (" + std::string(c.relative >= 0 ? "+" : "") + format_fixed(100 * c.relative, 1) + "%)";
      table.rows.push_back({c.group, c.scope, c.metric, format_general(c.baseline, 5), format_general(c.candidate, 5), change,
                            c.p_value ? format_general(*c.p_value, 5) : "—",
                            std::string(to_string(c.verdict)) + (c.reason.empty() ? "" : ": " + c.reason)});
    }
    table.notes.push_back(std::to_string(report.rows.size()) + " gated values in " + std::to_string(report.matched_groups) +
                          " matched cases; " + std::to_string(hidden) + " unchanged not shown (--all shows them)");
    table.notes.push_back(report.regression() ? "result: REGRESSION" : "result: no regression");
    print_table(stdout, table);
  }
  return report.regression() ? kExitFailure : kExitOk;
}

}  // namespace rpcbench::cli
