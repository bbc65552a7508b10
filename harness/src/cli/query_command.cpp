#include "cli/commands.hpp"
#include "db/database.hpp"
#include "report/console_reporter.hpp"
#include "util/errors.hpp"
#include "util/format.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <chrono>
#include <limits>
#include <optional>
#include <cstdint>
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

constexpr std::int64_t kTableRowLimit = 1000;

// ATTACH and DETACH count as read-only for sqlite3_stmt_readonly (they change the connection,
// not a file); `query` reads its one database only.
int deny_attach(void* denied, int action, const char*, const char*, const char*, const char*) {
  if (action == SQLITE_ATTACH || action == SQLITE_DETACH) {
    *static_cast<bool*>(denied) = true;
    return SQLITE_DENY;
  }
  return SQLITE_OK;
}

// The progress handler: a nonzero return interrupts the statement (SQLITE_INTERRUPT).
struct Deadline {
  std::chrono::steady_clock::time_point at;
  bool passed = false;
};
int past_deadline(void* deadline) {
  auto* d = static_cast<Deadline*>(deadline);
  d->passed = d->passed || std::chrono::steady_clock::now() > d->at;
  return d->passed ? 1 : 0;
}

// True when `sql` holds more than whitespace, comments and semicolons.
bool holds_a_statement(sqlite3* db, const std::string& sql) {
  if (sql.find_first_not_of(" \t\r\n;") == std::string::npos) return false;
  sqlite3_stmt* next = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &next, nullptr);
  sqlite3_finalize(next);
  return rc != SQLITE_OK || next != nullptr;
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
  app.add_option("--limit", args.limit,
                 "rows printed at most (0: all; default 1000 for the table format, all for csv and json)")
      ->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()));
  app.add_option("--timeout", args.timeout_seconds, "stop the query after this many seconds (0: never)")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  app.footer(
      "Tables: runs, run_plugins, cases, samples (case_id, name, step, value), summaries "
      "(case_id, scope, name, value); view case_summaries. One read-only statement; rows are "
      "streamed (the table format holds its rows to align them, hence its default limit); a cut "
      "or stopped output is said on stderr (exit 0 when cut by --limit, 1 when stopped by --timeout).");
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
  bool attach_denied = false;
  sqlite3_set_authorizer(db.handle(), deny_attach, &attach_denied);
  std::optional<Statement> prepared;
  try {
    prepared.emplace(db.prepare(sql));
  } catch (const InputError&) {
    if (attach_denied) throw InputError("`harness query` reads its one database: ATTACH and DETACH are refused: " + sql);
    throw;
  }
  Statement& s = *prepared;
  if (!s.read_only()) throw InputError("only read-only SQL is allowed in `harness query`: " + sql);
  if (holds_a_statement(db.handle(), s.trailing_sql()))
    throw InputError("`harness query` runs one statement; found more after the first: " +
                     s.trailing_sql().substr(s.trailing_sql().find_first_not_of(" \t\r\n;")));
  if (!args.suite.empty()) s.bind(1, args.suite);

  const std::int64_t limit = args.limit >= 0 ? args.limit : args.format == "table" ? kTableRowLimit : 0;
  Deadline deadline{std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(args.timeout_seconds))};
  if (args.timeout_seconds > 0) sqlite3_progress_handler(db.handle(), 10000, past_deadline, &deadline);
  std::int64_t rows = 0;
  bool cut = false;
  // The next row within the limit; false at the end, when cut, or (throws) when stopped.
  auto next_row = [&]() {
    bool more = false;
    try {
      more = s.step();
    } catch (const std::runtime_error&) {
      if (!deadline.passed) throw;
      return false;
    }
    if (more && limit > 0 && rows == limit) {
      cut = true;
      return false;
    }
    if (more) ++rows;
    return more;
  };

  std::vector<std::string> columns;
  for (int i = 0; i < s.column_count(); ++i) columns.push_back(s.column_name(i));
  if (args.format == "json") {
    std::printf("[");
    while (next_row()) {
      nlohmann::json row = nlohmann::json::object();
      for (int i = 0; i < s.column_count(); ++i) {
        switch (s.column_type(i)) {
          case SQLITE_NULL: row[columns[i]] = nullptr; break;
          case SQLITE_INTEGER: row[columns[i]] = s.column_int(i); break;
          case SQLITE_FLOAT: row[columns[i]] = s.column_double(i); break;
          default: row[columns[i]] = s.column_text(i);
        }
      }
      std::printf("%s\n  %s", rows > 1 ? "," : "", row.dump().c_str());
    }
    std::printf("%s]\n", rows > 0 ? "\n" : "");
  } else if (args.format == "csv") {
    for (std::size_t i = 0; i < columns.size(); ++i)
      std::printf("%s%s", i ? "," : "", csv_quote(columns[i]).c_str());
    std::printf("\n");
    while (next_row()) {
      for (int i = 0; i < s.column_count(); ++i)
        std::printf("%s%s", i ? "," : "", csv_quote(cell_text(s, i)).c_str());
      std::printf("\n");
    }
  } else {
    ResultTable table;
    table.columns = columns;
    while (next_row()) {
      std::vector<std::string> row;
      for (int i = 0; i < s.column_count(); ++i) row.push_back(cell_text(s, i));
      table.rows.push_back(std::move(row));
    }
    table.notes.push_back(std::to_string(table.rows.size()) + " row(s)" +
                          (cut ? " (cut at --limit " + std::to_string(limit) + ")" : ""));
    print_table(stdout, table);
  }
  std::fflush(stdout);
  if (deadline.passed) {
    std::fprintf(stderr, "query: stopped after --timeout %g s: the output above (%lld row(s)) is incomplete\n",
                 args.timeout_seconds, static_cast<long long>(rows));
    return kExitFailure;
  }
  if (cut)
    std::fprintf(stderr, "query: output cut at --limit %lld row(s); more rows follow (--limit 0 for all)\n",
                 static_cast<long long>(limit));
  return kExitOk;
}

}  // namespace rpcbench::cli
