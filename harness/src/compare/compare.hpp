// Comparing two sets of results case by case, under a suite's gates.
#pragma once

#include "db/database.hpp"
#include "suite/suite.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rpcbench {

// One side of a comparison: a run's summaries, its cases grouped across repeats.
struct ResultSet {
  std::string description;    // "run 3 in results/rpcbench.db (git 1a2b3c4d5e)"
  std::string resolved_suite;  // canonical JSON: the gates come from here
  struct Group {
    std::vector<std::string> statuses;                          // one per repeat
    std::map<std::string, std::vector<double>> values;          // "scope|name" → one per repeat
  };
  std::map<std::string, Group> groups;  // case key without "/repeat=N"
};

// BASELINE/CANDIDATE spelled as: a database file (its latest run, or the latest of `suite`), an
// exported JSON file (`harness export`), a run id in `db`, or a git SHA prefix recorded in `db`.
// Throws InputError when it names nothing.
ResultSet load_result_set(const std::string& spec, const std::string& db, const std::string& suite);

// The text form of one run (summaries, not per-step samples): sorted, pretty JSON a diff can read;
// `harness compare` accepts it as a side, so a committed baseline needs no database.
std::string export_run(const std::string& db, std::optional<std::int64_t> run_id, const std::string& suite);

// Re-creates an exported run (runs, cases, summaries; not per-step samples) in `db`. Returns
// false when that run is already there (same host, pid, start and resolved suite).
bool import_run(Database& db, const std::filesystem::path& file);
// The export in `file`, every field checked against the schema before anything is written
// (columns and their types, statuses, the resolved suite and its hash, unique case keys, summary
// values numbers or null; with `check_resolved_hash`, that the hash is the resolved suite's, as
// a stored run's must be); InputError naming the file and the JSON path otherwise.
nlohmann::json read_export(const std::filesystem::path& file, bool check_resolved_hash = true);
bool import_run(Database& db, const nlohmann::json& export_doc);
// The same checks on an export made in memory (harness merge checks each run of its inputs as
// `run_json` exports it); InputError messages start with `where`.
void check_export(const nlohmann::json& doc, const std::string& where, bool check_resolved_hash);
// A run as `harness export` writes it; InputError when its stored JSON does not parse.
nlohmann::json run_export(Database& db, std::int64_t run_id);

// diverged: a non-finite value on a side (reported; a finite baseline turning non-finite is a
// regression instead). reported: a timing change, shown but not gated.
enum class Verdict { improvement, unchanged, regression, diverged, reported };
const char* to_string(Verdict v);

struct Comparison {
  std::string group, scope, metric;
  std::size_t baseline_n = 0, candidate_n = 0;
  double baseline = 0, candidate = 0, change = 0, relative = 0;
  std::optional<double> p_value;
  Verdict verdict = Verdict::unchanged;
  std::string reason;
};

struct CompareReport {
  std::vector<Comparison> rows;
  std::size_t matched_groups = 0;
  bool regression() const;
};

// Throws InputError when no case matches, a gate matches no value, or a gate's test cannot reach
// its α with the samples per side.
CompareReport compare(const ResultSet& baseline, const ResultSet& candidate, const std::vector<Gate>& gates);

}  // namespace rpcbench
