#include "cli/commands.hpp"
#include "db/database.hpp"
#include "report/console_reporter.hpp"
#include "util/errors.hpp"
#include "util/format.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <cstdio>

#include <iomanip>
#include <sstream>

namespace rpcbench::cli {
namespace {

std::string cell_text(const Statement& s, int i) {
  switch (s.column_type(i)) {
    case SQLITE_NULL: return "";
    case SQLITE_INTEGER: return std::to_string(s.column_int(i));
    case SQLITE_FLOAT: return format_general(s.column_double(i), 10);
    default: return s.column_text(i);
  }
}

std::string csv_quote(const std::string& v) {
  if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
  std::string out = "\"";
  for (char ch : v) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

}  // namespace

void add_query(CLI::App& app, QueryArgs& args) {
  app.add_option("sql", args.sql, "a read-only SQL statement (default: list the runs)");
  app.add_option("--db", args.db, "results database")->capture_default_str();
  app.add_option("--format,-f", args.format, "table, csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  app.add_option("--suite", args.suite, "summaries of the latest run of this suite");
  app.footer(
      "Tables: runs, run_plugins, cases, samples (case_id, name, step, value), summaries "
      "(case_id, scope, name, value); view case_summaries.");
}

int query_command(const QueryArgs& args) {
  if (!args.sql.empty() && !args.suite.empty())
    throw InputError("give either SQL or --suite, not both");
  Database db(args.db, Database::Mode::read_only);
  std::string sql = args.sql;
  if (!args.suite.empty()) {
    // The latest by start time: run ids follow the order in which databases were merged.
    sql = "SELECT case_key, scope, name, value FROM case_summaries WHERE run_id = (SELECT run_id FROM runs WHERE "
          "suite_name = ?1 ORDER BY started_at DESC, run_id DESC LIMIT 1) ORDER BY case_id, scope, name";
  } else if (sql.empty()) {
    sql = "SELECT r.run_id, r.suite_name, r.profile, r.status, r.started_at, r.device, r.threads, "
          "substr(r.git_sha, 1, 10) || CASE r.git_dirty WHEN 1 THEN '+dirty' ELSE '' END AS git, "
          "(SELECT count(*) FROM cases c WHERE c.run_id = r.run_id) AS cases FROM runs r ORDER BY r.run_id";
  }
  Statement s = db.prepare(sql);
  if (!s.read_only()) throw InputError("only read-only SQL is allowed in `harness query`: " + sql);
  if (!args.suite.empty()) s.bind(1, args.suite);

  std::vector<std::string> columns;
  for (int i = 0; i < s.column_count(); ++i) columns.push_back(s.column_name(i));
  if (args.format == "json") {
    nlohmann::json rows = nlohmann::json::array();
    while (s.step()) {
      nlohmann::json row = nlohmann::json::object();
      for (int i = 0; i < s.column_count(); ++i) {
        switch (s.column_type(i)) {
          case SQLITE_NULL: row[columns[i]] = nullptr; break;
          case SQLITE_INTEGER: row[columns[i]] = s.column_int(i); break;
          case SQLITE_FLOAT: row[columns[i]] = s.column_double(i); break;
          default: row[columns[i]] = s.column_text(i);
        }
      }
      rows.push_back(std::move(row));
    }
    std::printf("%s\n", rows.dump(2).c_str());
    return kExitOk;
  }
  if (args.format == "csv") {
    for (std::size_t i = 0; i < columns.size(); ++i)
      std::printf("%s%s", i ? "," : "", csv_quote(columns[i]).c_str());
    std::printf("\n");
    while (s.step()) {
      for (int i = 0; i < s.column_count(); ++i)
        std::printf("%s%s", i ? "," : "", csv_quote(cell_text(s, i)).c_str());
      std::printf("\n");
    }
    return kExitOk;
  }
  ResultTable table;
  table.columns = columns;
  while (s.step()) {
    std::vector<std::string> row;
    for (int i = 0; i < s.column_count(); ++i) row.push_back(cell_text(s, i));
    table.rows.push_back(std::move(row));
  }
  table.notes.push_back(std::to_string(table.rows.size()) + " row(s)");
  print_table(stdout, table);
  return kExitOk;
}

}  // namespace rpcbench::cli
