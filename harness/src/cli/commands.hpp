// The harness's verbs. Each returns the process exit code:
//   0 ok, 1 a case failed / the run was interrupted, 2 usage or input error.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace rpcbench::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitInputError = 2;
inline constexpr const char* kDefaultDb = "results/rpcbench.db";

struct RunArgs {
  std::string suite, profile, device = "cpu", db = kDefaultDb, json;
  std::vector<std::string> plugin_dirs;
  long long seed = -1;
  int threads = -1;  // not given
  int blas_threads = 0;
  bool resume = false, quiet = false;
  int jobs = 1;
  std::string shard;        // "I/N": the I-th (0-based) of N parts of the cases
  std::string ensemble;      // "auto" or "off"; "" : the suite's `ensemble` (default auto)
  std::vector<std::string> worker_cases;  // internal: run these cases (one unit) and report on stdout (--jobs)
  std::vector<std::string> worker_config_hashes;  // internal: their config hashes in the parent's suite
};
struct ListArgs {
  std::string what = "plugins", suite, profile;
  std::vector<std::string> plugin_dirs;
  std::string suites_dir = "suites";
};
struct QueryArgs {
  std::string sql, db = kDefaultDb, format = "table", suite;
  std::int64_t limit = -1;  // rows printed; -1: the format's default (table 1000, csv/json all)
  double timeout_seconds = 600;
};

struct CompareArgs {
  std::string baseline, candidate, db = kDefaultDb, suite, gates, format = "table";
  std::vector<std::string> plugin_dirs;
  bool all = false;
};
struct ExportArgs {
  std::string db = kDefaultDb, suite, output;
  long long run = -1;
};

struct ReportArgs {
  std::string db = kDefaultDb, suite, out = "results/report", claims_subject = "rpc";
  long long run = -1;
};
void add_report(CLI::App& app, ReportArgs& args);
int report_command(const ReportArgs& args);

struct ImportArgs {
  std::vector<std::string> files;
  std::string db = kDefaultDb;
};
void add_import(CLI::App& app, ImportArgs& args);
int import_command(const ImportArgs& args);

struct MergeArgs {
  std::vector<std::string> inputs;
  std::string output;
};
void add_merge(CLI::App& app, MergeArgs& args);
int merge_command(const MergeArgs& args);

struct ClaimsArgs {
  std::string db = kDefaultDb, subject = "rpc", format = "table";
  std::vector<long long> runs;
};
void add_claims(CLI::App& app, ClaimsArgs& args);
int claims_command(const ClaimsArgs& args);

// The documented budget of `harness estimate`: the MI-suite protocol (Adam 5e-4, separable critic)
// at batch 128 for 2000 steps; the estimate is the mean over the last 200.
struct EstimateArgs {
  std::vector<std::string> samples, params, encoder_params, plugin_dirs;
  std::string objective, encoder = "separable", dataset = "samples_file", device = "cpu", db = kDefaultDb;
  long long steps = 2000, batch_size = 128, window = 200, seed = 0;
  double learning_rate = 5e-4;
  std::optional<double> true_mi;
  int threads = 1;
  bool print_suite = false;
};
void add_estimate(CLI::App& app, EstimateArgs& args);
int estimate_command(const EstimateArgs& args, const std::string& command_line);

void add_run(CLI::App& app, RunArgs& args);
void add_compare(CLI::App& app, CompareArgs& args);
void add_export(CLI::App& app, ExportArgs& args);
int compare_command(const CompareArgs& args);
int export_command(const ExportArgs& args);
void add_list(CLI::App& app, ListArgs& args);
void add_query(CLI::App& app, QueryArgs& args);

int run_command(const RunArgs& args, const std::string& command_line);
int list_command(const ListArgs& args);
int query_command(const QueryArgs& args);

}  // namespace rpcbench::cli
