#include "compare/compare.hpp"

#include "db/database.hpp"
#include "report/reporter.hpp"
#include "stats/intervals.hpp"
#include "stats/two_sample.hpp"
#include "util/errors.hpp"
#include "suite/suite.hpp"
#include "util/hash.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>

namespace rpcbench {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string group_of(const std::string& case_key) { return case_group(case_key); }

std::string value_key(const std::string& scope, const std::string& name) { return scope + "|" + name; }

bool is_sqlite(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char header[16] = {};
  in.read(header, sizeof header);
  return in && std::string(header, 15) == "SQLite format 3";
}

// The run that `spec` (a run id, a git SHA prefix, or "" for any) and `suite` select in `db`: the
// one with that id, else the latest finished one by start time (run ids follow the order in which
// databases were merged, not time); an InputError naming `what` when there is none.
std::int64_t pick_run(Database& db, const std::string& spec, const std::string& suite, const std::string& what) {
  std::string sql = "SELECT run_id FROM runs WHERE 1";
  const bool by_id = !spec.empty() && std::all_of(spec.begin(), spec.end(), ::isdigit);
  const bool by_sha = !by_id && std::regex_match(spec, std::regex("[0-9a-fA-F]{7,40}"));
  if (by_id) sql += " AND run_id = ?1";
  else sql += " AND status = 'finished'";
  if (by_sha) sql += " AND git_sha LIKE ?1 || '%'";
  if (!suite.empty()) sql += " AND suite_name = ?2";
  sql += " ORDER BY started_at DESC, run_id DESC LIMIT 1";
  auto s = db.prepare(sql);
  if (by_id || by_sha) s.bind(1, spec);
  if (!suite.empty()) s.bind(2, suite);
  if (!s.step())
    throw InputError(what + ": no " + (by_id ? "run with id " + spec : by_sha ? "finished run at git " + spec : std::string("finished run")) +
                     (suite.empty() ? "" : " of suite '" + suite + "'") + " in '" + db.path().string() + "'");
  return s.column_int(0);
}

// Every column of a row, by name and SQLite type.
json row_json(const Statement& r, const std::set<std::string>& skip) {
  json row = json::object();
  for (int i = 0; i < r.column_count(); ++i) {
    const std::string name = r.column_name(i);
    if (skip.count(name) != 0) continue;
    switch (r.column_type(i)) {
      case 5 /*SQLITE_NULL*/: row[name] = nullptr; break;
      case 1 /*SQLITE_INTEGER*/: row[name] = r.column_int(i); break;
      case 2 /*SQLITE_FLOAT*/: row[name] = r.column_double(i); break;
      default: row[name] = r.column_text(i);
    }
  }
  return row;
}

json run_json(Database& db, std::int64_t run_id) {
  auto r = db.prepare("SELECT * FROM runs WHERE run_id = ?1");
  r.bind(1, run_id);
  RPCBENCH_CHECK(r.step(), "run vanished");
  json run = row_json(r, {});
  json cases = json::array();
  auto c = db.prepare("SELECT * FROM cases WHERE run_id = ?1 ORDER BY case_key");
  c.bind(1, run_id);
  while (c.step()) {
    json row = row_json(c, {"case_id", "run_id"});
    json summaries = json::object();
    auto s = db.prepare("SELECT scope, name, value FROM summaries WHERE case_id = ?1 ORDER BY scope, name");
    s.bind(1, c.column_int(0));
    while (s.step()) summaries[s.column_text(0)][s.column_text(1)] = s.is_null(2) ? json(nullptr) : json(s.column_double(2));
    row["summaries"] = summaries;
    cases.push_back(row);
  }
  // Shown as objects so a diff reads them; stored back as their canonical text on import.
  run["resolved_suite"] = json::parse(run["resolved_suite"].get<std::string>());
  run["provenance"] = json::parse(run["provenance"].get<std::string>());
  return json{{"schema", 1}, {"run", run}, {"cases", cases}};
}

ResultSet from_json(const json& doc, const std::string& description) {
  ResultSet set;
  set.description = description;
  set.resolved_suite = doc.at("run").at("resolved_suite").dump();
  for (const auto& c : doc.at("cases")) {
    ResultSet::Group& g = set.groups[group_of(c.at("case_key").get<std::string>())];
    g.statuses.push_back(c.at("status").get<std::string>());
    for (const auto& [scope, names] : c.at("summaries").items())
      for (const auto& [name, value] : names.items())
        g.values[value_key(scope, name)].push_back(value.is_null() ? NAN : value.get<double>());
  }
  return set;
}

double mean(const std::vector<double>& v) { return mean_std(v).mean; }

bool scope_matches(const std::string& pattern, const std::string& scope) { return pattern == "*" || pattern == scope; }

// Case groups are "dataset=D/objective=O".
bool objective_matches(const Gate& gate, const std::string& group) {
  if (gate.objectives.empty()) return true;
  const std::string label = key_component(group, "objective");
  return std::find(gate.objectives.begin(), gate.objectives.end(), label) != gate.objectives.end();
}

}  // namespace

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::improvement: return "improvement";
    case Verdict::unchanged: return "unchanged";
    case Verdict::regression: return "REGRESSION";
    case Verdict::diverged: return "diverged";
    case Verdict::reported: return "reported";
  }
  return "?";
}

json run_export(Database& db, std::int64_t run_id) {
  try {
    return run_json(db, run_id);
  } catch (const json::exception& e) {
    throw InputError("run " + std::to_string(run_id) + " in '" + db.path().string() +
                     "': its stored resolved suite or provenance is not JSON: " + e.what());
  }
}

std::string export_run(const std::string& db_path, std::optional<std::int64_t> run_id, const std::string& suite) {
  Database db(db_path, Database::Mode::read_only);
  const std::int64_t id = run_id ? pick_run(db, std::to_string(*run_id), suite, "export") : pick_run(db, "", suite, "export");
  return run_export(db, id).dump(2) + "\n";
}

namespace {

void bind_json(Statement& s, int index, const json& v) {
  if (v.is_null()) s.bind_null(index);
  else if (v.is_number_integer()) s.bind(index, v.get<std::int64_t>());
  else if (v.is_number()) s.bind(index, v.get<double>());
  else if (v.is_string()) s.bind(index, v.get<std::string>());
  else s.bind(index, v.dump());  // the objects shown expanded: their canonical text
}

// INSERT of the keys of `row` that are columns of `table` (besides `skip`), in one statement.
void insert_row(Database& db, const std::string& table, const json& row, const std::set<std::string>& skip,
                const std::vector<std::pair<std::string, std::int64_t>>& extra) {
  std::vector<std::string> names;
  auto info = db.prepare("PRAGMA main.table_info(" + table + ")");
  while (info.step())
    if (skip.count(info.column_text(1)) == 0 && row.contains(info.column_text(1))) names.push_back(info.column_text(1));
  std::string cols, marks;
  int n = 0;
  auto add = [&](const std::string& name) {
    ++n;
    cols += (n > 1 ? ", " : "") + name;
    marks += (n > 1 ? ", ?" : "?") + std::to_string(n);
  };
  for (const auto& name : names) add(name);
  for (const auto& [name, value] : extra) add(name);
  auto s = db.prepare("INSERT INTO " + table + " (" + cols + ") VALUES (" + marks + ")");
  int i = 0;
  for (const auto& name : names) bind_json(s, ++i, row.at(name));
  for (const auto& [name, value] : extra) s.bind(++i, value);
  s.run();
}

}  // namespace

namespace {

struct Column {
  std::string name, type;
  bool not_null = false;
};

// The columns of `table` in this harness's schema (an in-memory database made by the migrations,
// so the check can never drift from the schema).
const std::vector<Column>& schema_columns(const std::string& table) {
  static const std::map<std::string, std::vector<Column>> tables = [] {
    Database memory(":memory:", Database::Mode::read_write);
    std::map<std::string, std::vector<Column>> out;
    for (const char* t : {"runs", "cases", "summaries"}) {
      auto info = memory.prepare(std::string("PRAGMA main.table_info(") + t + ")");
      while (info.step()) out[t].push_back({info.column_text(1), info.column_text(2), info.column_int(3) != 0});
    }
    return out;
  }();
  return tables.at(table);
}

std::string kind_of(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

class ExportCheck {
 public:
  explicit ExportCheck(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& at, const std::string& what) const {
    throw InputError(file_ + ": at " + at + ": " + what);
  }

  // `row`'s keys are `table`'s columns (besides `structured`, checked by the caller, and
  // `extra`); each value has its column's type; NOT NULL columns are there and not null.
  void row(const json& row, const std::string& table, const std::string& at, const std::set<std::string>& optional,
           const std::set<std::string>& structured, const std::set<std::string>& extra) const {
    if (!row.is_object()) fail(at, "expected an object, got " + kind_of(row));
    std::set<std::string> known(extra.begin(), extra.end());
    for (const Column& c : schema_columns(table)) {
      known.insert(c.name);
      if (structured.count(c.name) != 0) continue;
      const std::string where = at + "/" + c.name;
      if (!row.contains(c.name)) {
        if (c.not_null && optional.count(c.name) == 0) fail(at, "missing key '" + c.name + "'");
        continue;
      }
      const json& v = row.at(c.name);
      if (v.is_null()) {
        if (c.not_null) fail(where, "must not be null");
        continue;
      }
      const bool fits = c.type == "INTEGER" ? v.is_number_integer()
                        : c.type == "REAL"  ? v.is_number() && !v.is_boolean()
                                            : v.is_string();
      if (!fits)
        fail(where, std::string("expected ") +
                        (c.type == "INTEGER" ? "an integer" : c.type == "REAL" ? "a number" : "a string") + ", got " +
                        kind_of(v) + (v.is_string() ? " \"" + v.get<std::string>().substr(0, 40) + "\"" : ""));
    }
    for (const auto& [key, value] : row.items())
      if (known.count(key) == 0) fail(at + "/" + key, "unknown key (not a column of " + table + ")");
  }

  void status(const json& v, const std::string& at) const {
    const std::string text = v.get<std::string>();
    for (CaseStatus s : {CaseStatus::running, CaseStatus::finished, CaseStatus::failed, CaseStatus::diverged,
                         CaseStatus::killed, CaseStatus::skipped})
      if (text == to_string(s)) return;
    fail(at, "unknown status \"" + text.substr(0, 40) + "\" (running, finished, failed, diverged, killed, skipped)");
  }

 private:
  std::string file_;
};

}  // namespace

json read_export(const std::filesystem::path& file, bool check_resolved_hash) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw InputError("import: '" + file.string() + "' is not a file");
  std::ifstream in(file);
  if (!in) throw InputError("import: cannot read '" + file.string() + "'");
  const json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("schema") || doc["schema"] != 1 || !doc.contains("run") ||
      !doc.contains("cases"))
    throw InputError("import: '" + file.string() + "' is not an rpcbench export (JSON with schema 1; harness export)");
  check_export(doc, file.string(), check_resolved_hash);
  return doc;
}

void check_export(const json& doc, const std::string& where, bool check_resolved_hash) {
  const ExportCheck check(where);
  for (const auto& [key, value] : doc.items())
    if (key != "schema" && key != "run" && key != "cases") check.fail("/" + key, "unknown key (schema, run, cases)");
  const json& run = doc["run"];
  check.row(run, "runs", "/run", {}, {"resolved_suite", "provenance"}, {});
  check.status(run["status"], "/run/status");
  if (!run.contains("provenance") || !run["provenance"].is_object())
    check.fail("/run/provenance", "expected an object");
  if (!run.contains("resolved_suite") || !run["resolved_suite"].is_object())
    check.fail("/run/resolved_suite", "expected an object (the resolved suite)");
  const json& resolved = run["resolved_suite"];
  // What report, claims, compare and the aggregates read of it.
  check_resolved_suite(resolved, where + ": at /run/resolved_suite");
  if (resolved["suite"]["name"] != run["suite_name"])
    check.fail("/run/resolved_suite/suite/name", "differs from /run/suite_name");
  // Times sort as text: a made-up one would always be the latest run.
  static const std::regex kTime("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z");
  for (const char* key : {"started_at", "finished_at"})
    if (run.contains(key) && run[key].is_string() && !std::regex_match(run[key].get<std::string>(), kTime))
      check.fail(std::string("/run/") + key, "expected a UTC time YYYY-MM-DDTHH:MM:SS[.fff]Z");
  if (check_resolved_hash && sha256_hex(resolved.dump()) != run["resolved_hash"].get<std::string>())
    check.fail("/run/resolved_hash", "is not the SHA-256 of /run/resolved_suite (edited by hand?)");


  if (!doc["cases"].is_array()) check.fail("/cases", "expected an array");
  std::set<std::string> keys;
  for (std::size_t i = 0; i < doc["cases"].size(); ++i) {
    const json& c = doc["cases"][i];
    const std::string at = "/cases/" + std::to_string(i);
    check.row(c, "cases", at, {"case_id", "run_id"}, {}, {"summaries"});
    check.status(c["status"], at + "/status");
    static const std::regex kKey("dataset=[^/]+/objective=[^/]+(/[^/=]+=[^/]+)*/repeat=[0-9]+");
    if (!std::regex_match(c["case_key"].get<std::string>(), kKey))
      check.fail(at + "/case_key", "expected dataset=D/objective=O[/AXIS=VALUE…]/repeat=N");
    for (const char* key : {"started_at", "finished_at"})
      if (c.contains(key) && c[key].is_string() && !std::regex_match(c[key].get<std::string>(), kTime))
        check.fail(at + "/" + key, "expected a UTC time YYYY-MM-DDTHH:MM:SS[.fff]Z");
    const json config = json::parse(c["config_text"].get<std::string>(), nullptr, false);
    if (!config.is_object()) check.fail(at + "/config_text", "expected the case's resolved configuration (a JSON object)");
    if (!keys.insert(c["case_key"].get<std::string>()).second)
      check.fail(at + "/case_key", "case '" + c["case_key"].get<std::string>().substr(0, 200) + "' appears twice");
    if (!c.contains("summaries") || !c["summaries"].is_object()) check.fail(at + "/summaries", "expected an object");
    for (const auto& [scope, names] : c["summaries"].items()) {
      if (!names.is_object()) check.fail(at + "/summaries/" + scope, "expected an object of name: value");
      for (const auto& [name, value] : names.items())
        if (!value.is_null() && (!value.is_number() || value.is_boolean()))
          check.fail(at + "/summaries/" + scope + "/" + name, "expected a number or null, got " + kind_of(value));
    }
  }
}

bool import_run(Database& db, const json& doc) {
  const json& run = doc["run"];
  auto exists = db.prepare("SELECT count(*) FROM runs WHERE host IS ?1 AND pid IS ?2 AND started_at = ?3 AND resolved_hash = ?4");
  bind_json(exists, 1, run.value("host", json(nullptr)));
  bind_json(exists, 2, run.value("pid", json(nullptr)));
  bind_json(exists, 3, run["started_at"]);
  bind_json(exists, 4, run["resolved_hash"]);
  exists.step();
  if (exists.column_int(0) > 0) return false;
  Transaction t(db);
  insert_row(db, "runs", run, {"run_id"}, {});
  const std::int64_t run_id = db.last_insert_id();
  for (const json& c : doc["cases"]) {
    insert_row(db, "cases", c, {"case_id", "run_id"}, {{"run_id", run_id}});
    const std::int64_t case_id = db.last_insert_id();
    auto s = db.prepare("INSERT INTO summaries (case_id, scope, name, value) VALUES (?1, ?2, ?3, ?4)");
    for (const auto& [scope, names] : c.at("summaries").items())
      for (const auto& [name, value] : names.items()) {
        s.bind(1, case_id).bind(2, scope).bind(3, name);
        bind_json(s, 4, value);
        s.run();
      }
  }
  t.commit();
  return true;
}

bool import_run(Database& db, const std::filesystem::path& file) { return import_run(db, read_export(file, true)); }

ResultSet load_result_set(const std::string& spec, const std::string& db_path, const std::string& suite) {
  std::error_code ec;
  if (fs::is_regular_file(spec, ec)) {
    if (is_sqlite(spec)) {
      Database db(spec, Database::Mode::read_only);
      const std::int64_t id = pick_run(db, "", suite, spec);
      const std::string what = "run " + std::to_string(id) + " in " + spec;
      const json doc = run_export(db, id);
      check_export(doc, what, /*check_resolved_hash=*/false);
      return from_json(doc, what);
    }
    std::ifstream in(spec);
    const json probe = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (probe.is_discarded() || !probe.is_object() || !probe.contains("run") || !probe.contains("cases"))
      throw InputError(spec + ": neither an rpcbench database nor a JSON export (harness export)");
    // Every field checked (a duplicated case is not an extra seed); the hash is not: a side is
    // compared, not stored, and its gates never apply to itself.
    const json doc = read_export(spec, /*check_resolved_hash=*/false);
    return from_json(doc, spec + " (exported run " + std::to_string(doc["run"].value("run_id", 0)) + ")");
  }
  if (!fs::exists(db_path, ec))
    throw InputError("'" + spec + "' is not a file, and the database '" + db_path + "' to look it up in does not exist");
  Database db(db_path, Database::Mode::read_only);
  const bool looks_like_ref = std::regex_match(spec, std::regex("[0-9]+|[0-9a-fA-F]{7,40}"));
  if (!looks_like_ref)
    throw InputError("'" + spec + "' is not a file, a run id or a git SHA (7 to 40 hex digits)");
  const std::int64_t id = pick_run(db, spec, suite, spec);
  const std::string what = "run " + std::to_string(id) + " in " + db_path;
  const json doc = run_export(db, id);
  check_export(doc, what, /*check_resolved_hash=*/false);
  return from_json(doc, what);
}

bool CompareReport::regression() const {
  return std::any_of(rows.begin(), rows.end(), [](const Comparison& c) { return c.verdict == Verdict::regression; });
}

namespace {

std::string gate_text(const Gate& g) {
  std::string text = g.origin + ": metric '" + g.metric + "', scope '" + g.scope + "'";
  if (!g.objectives.empty()) {
    text += ", objectives [";
    for (std::size_t i = 0; i < g.objectives.size(); ++i) text += (i ? ", " : "") + g.objectives[i];
    text += "]";
  }
  return text;
}

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out.empty() ? "none" : out;
}

// A test over seeds that cannot reject at the gate's α with these sample sizes gates nothing: an
// input error, not a silent pass.
void require_testable(const Gate& g, std::size_t n_base, std::size_t n_cand) {
  const std::string sizes = std::to_string(n_base) + " baseline and " + std::to_string(n_cand) + " candidate values per case";
  if (g.test == "mann_whitney") {
    const double min_p = mann_whitney_min_p(n_base, n_cand);
    if (!(min_p < g.alpha)) {
      std::ostringstream os;
      os << "gate " << gate_text(g) << ": test mann_whitney with α " << g.alpha << " cannot fire with " << sizes
         << ": the smallest p-value the exact test can give is " << min_p
         << " (4 seeds per side reach 0.029); run more repeats or set test = \"none\"";
      throw InputError(os.str());
    }
  } else if (g.test == "welch" && (n_base < 2 || n_cand < 2)) {
    throw InputError("gate " + gate_text(g) + ": test welch needs at least 2 values per side, got " + sizes +
                     "; run more repeats or set test = \"none\"");
  }
}

bool all_finite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

}  // namespace

CompareReport compare(const ResultSet& baseline, const ResultSet& candidate, const std::vector<Gate>& gates) {
  if (gates.empty()) throw InputError("no gates to apply: the suite has no [[gates]] (give --gates SUITE)");
  CompareReport report;
  std::vector<std::size_t> gated(gates.size(), 0);
  for (const auto& [group, base] : baseline.groups) {
    auto it = candidate.groups.find(group);
    if (it == candidate.groups.end()) {
      Comparison c;
      c.group = group;
      c.verdict = Verdict::regression;
      c.reason = "case missing in the candidate";
      report.rows.push_back(c);
      continue;
    }
    ++report.matched_groups;
    const ResultSet::Group& cand = it->second;
    // A case that finished in the baseline and no longer does is a regression whatever its
    // numbers say (a diverged case's partial summaries can look better than a finished one's).
    const bool any_gate = std::any_of(gates.begin(), gates.end(), [&](const Gate& g) { return objective_matches(g, group); });
    const bool base_finished = !base.statuses.empty() &&
                               std::all_of(base.statuses.begin(), base.statuses.end(), [](const std::string& s) { return s == "finished"; });
    const auto unfinished = std::find_if(cand.statuses.begin(), cand.statuses.end(), [](const std::string& s) { return s != "finished"; });
    if (any_gate && base_finished && unfinished != cand.statuses.end()) {
      Comparison c;
      c.group = group;
      c.metric = "status";
      c.verdict = Verdict::regression;
      c.reason = "finished in the baseline, " + *unfinished + " in the candidate";
      report.rows.push_back(c);
    }
    for (std::size_t gi = 0; gi < gates.size(); ++gi) {
      const Gate& gate = gates[gi];
      if (!objective_matches(gate, group)) continue;
      for (const auto& [key, base_values] : base.values) {
        const auto bar = key.find('|');
        const std::string scope = key.substr(0, bar), name = key.substr(bar + 1);
        if (name != gate.metric || !scope_matches(gate.scope, scope)) continue;
        ++gated[gi];
        Comparison c;
        c.group = group;
        c.scope = scope;
        c.metric = name;
        c.baseline_n = base_values.size();
        c.baseline = mean(base_values);
        auto cv = cand.values.find(key);
        if (cv == cand.values.end()) {
          c.verdict = Verdict::regression;
          c.reason = "metric missing in the candidate (status " + (cand.statuses.empty() ? "?" : cand.statuses[0]) + ")";
          report.rows.push_back(c);
          continue;
        }
        const std::vector<double>& cand_values = cv->second;
        c.candidate_n = cand_values.size();
        c.candidate = mean(cand_values);
        c.change = c.candidate - c.baseline;
        c.relative = c.baseline != 0 ? c.change / std::abs(c.baseline) : (c.change == 0 ? 0.0 : INFINITY);
        require_testable(gate, base_values.size(), cand_values.size());
        const bool base_finite = all_finite(base_values), cand_finite = all_finite(cand_values);
        if (!base_finite || !cand_finite) {
          // A NaN/inf is an outcome (the case diverged), never a value to test or average.
          if (base_finite) {
            c.verdict = Verdict::regression;
            c.reason = "finite in the baseline, diverged (not finite) in the candidate";
          } else {
            c.verdict = Verdict::diverged;
            c.reason = cand_finite ? "diverged in the baseline, finite in the candidate" : "diverged on both sides";
          }
          report.rows.push_back(c);
          continue;
        }
        if (gate.test == "mann_whitney") c.p_value = mann_whitney_p(base_values, cand_values);
        if (gate.test == "welch") c.p_value = welch_p(base_values, cand_values);
        const bool worse = gate.higher_is_better ? c.change < 0 : c.change > 0;
        const bool beyond = (!gate.abs_tolerance || std::abs(c.change) > *gate.abs_tolerance) &&
                            (!gate.rel_tolerance || std::abs(c.relative) > *gate.rel_tolerance);
        const bool significant = !c.p_value || *c.p_value < gate.alpha;
        if (!beyond) {
          c.verdict = Verdict::unchanged;
          c.reason = "within tolerance";
        } else if (!significant) {
          c.verdict = Verdict::unchanged;
          c.reason = "not significant";
        } else {
          c.verdict = worse ? Verdict::regression : Verdict::improvement;
        }
        // Timing on a shared machine is noise unless the suite says otherwise: report only.
        if (!gate.timing && name.find("second") != std::string::npos && c.verdict != Verdict::unchanged) {
          c.reason = "timing: reported, not gated (" + std::string(to_string(c.verdict)) + ")";
          c.verdict = Verdict::reported;
        }
        report.rows.push_back(c);
      }
    }
  }
  if (report.matched_groups == 0)
    throw InputError("no case of " + baseline.description + " matches a case of " + candidate.description +
                     ": nothing to compare");
  for (const Gate& gate : gates)
    for (const std::string& label : gate.objectives)
      if (std::none_of(baseline.groups.begin(), baseline.groups.end(),
                       [&](const auto& g) { return key_component(g.first, "objective") == label; }))
        throw InputError("gate " + gate_text(gate) + ": objective '" + label + "' is in no case of " + baseline.description +
                         " (a label that matches nothing gates nothing)");
  for (std::size_t gi = 0; gi < gates.size(); ++gi) {
    if (gated[gi] > 0) continue;
    std::set<std::string> metrics, scopes, objectives;
    for (const auto& [group, g] : baseline.groups) {
      objectives.insert(key_component(group, "objective"));
      for (const auto& [key, values] : g.values) {
        scopes.insert("'" + key.substr(0, key.find('|')) + "'");
        metrics.insert(key.substr(key.find('|') + 1));
      }
    }
    throw InputError("gate " + gate_text(gates[gi]) + " matches no value of " + baseline.description +
                     ": a gate that gates nothing is an error (metrics: " + join(metrics) + "; scopes: " +
                     join(scopes) + "; objectives: " + join(objectives) + ")");
  }
  return report;
}

}  // namespace rpcbench
