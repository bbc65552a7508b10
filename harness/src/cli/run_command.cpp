#include "cli/commands.hpp"
#include "cli/plugin_loading.hpp"
#include "db/database.hpp"
#include "report/console_reporter.hpp"
#include "report/json_reporter.hpp"
#include "report/sqlite_reporter.hpp"
#include "run/environment.hpp"
#include "run/runner.hpp"
#include "util/errors.hpp"

#include <cstdio>
#include <filesystem>
#include <memory>

namespace rpcbench::cli {

void add_run(CLI::App& app, RunArgs& args) {
  app.add_option("suite", args.suite, "suite file (TOML), e.g. suites/mi.toml")->required();
  app.add_option("--profile,-p", args.profile, "profile of the suite (e.g. quick); default: none");
  app.add_option("--device", args.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--db", args.db, "results database (SQLite); its directory must exist")
      ->capture_default_str();
  app.add_option("--seed", args.seed, "override the suite's seed (>= 0)");
  app.add_option("--threads", args.threads,
                 "intra-op threads, pinned (0: all cores; default: the suite's `threads`, else all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--blas-threads", args.blas_threads, "BLAS threads (0: as --threads)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--plugins", args.plugin_dirs, "extra plugin directory (repeatable)");
  app.add_option("--json", args.json, "also write a JSON summary to this file");
  app.add_flag("--resume", args.resume,
               "continue the latest unfinished run of this suite in --db, skipping completed cases");
  app.add_flag("--quiet,-q", args.quiet, "no progress output");
}

int run_command(const RunArgs& args, const std::string& command_line) {
  // Everything that can be wrong with the input is checked here, before the database is touched.
  const torch::Device device = resolve_device(args.device);
  PluginRegistry registry;
  load_plugins(registry, args.plugin_dirs);
  TaskCatalog tasks;
  SuiteOptions options;
  options.profile = args.profile;
  if (args.seed >= 0) options.seed = static_cast<std::uint64_t>(args.seed);
  else if (args.seed != -1) throw InputError("--seed must be >= 0");
  const Suite suite = load_suite(args.suite, options, registry, tasks);
  const Task* task = tasks.find(suite.task);
  const std::vector<Case> cases = expand_cases(suite, task->adds_control(suite));
  const int thread_count = args.threads >= 0 ? args.threads : static_cast<int>(suite.threads);
  const ThreadSettings threads = configure_threads(thread_count, args.blas_threads);
  if (!args.json.empty()) {
    std::error_code ec;
    const auto dir = std::filesystem::absolute(args.json).parent_path();
    if (!std::filesystem::is_directory(dir, ec))
      throw InputError("--json " + args.json + ": directory '" + dir.string() + "' does not exist");
  }

  Database db(args.db, Database::Mode::read_write);
  mark_abandoned_runs(db);
  RunRequest request;
  request.suite = &suite;
  request.task = task;
  request.registry = &registry;
  request.device = device;
  request.info.started_at = utc_now();
  request.info.provenance = collect_provenance(device, threads, command_line);
  if (request.info.provenance["build_matches_checkout"] == "no")
    std::fprintf(stderr, "warning: this harness was built from commit %.12s but the checkout is at %.12s: rebuild, or "
                 "know that the results come from the older build (both are recorded)\n",
                 request.info.provenance["git_sha"].c_str(), request.info.provenance["checkout_git_sha"].c_str());
  for (const auto* use : {&suite.encoder}) request.info.plugins.push_back(use->plugin);
  for (const auto& d : suite.datasets) request.info.plugins.push_back(d.plugin);
  for (const auto& o : suite.objectives) request.info.plugins.push_back(o.plugin);

  std::optional<std::int64_t> resume_id;
  if (args.resume) {
    if (auto point = prepare_resume(db, suite)) {
      resume_id = point->run_id;
      request.skip_case_keys = std::move(point->completed_case_keys);
      std::fprintf(stderr, "resuming run %lld: %zu of %zu cases already complete\n",
                   static_cast<long long>(point->run_id), request.skip_case_keys.size(), cases.size());
    } else {
      std::fprintf(stderr, "nothing to resume for this suite in %s: starting a new run\n",
                   args.db.c_str());
    }
  }
  request.stop_requested = &install_stop_handlers();
  // Checkpoints of long cases live beside the database, named by case config hash.
  request.checkpoint_dir = std::filesystem::absolute(args.db).parent_path() / "checkpoints";
  request.resuming = resume_id.has_value();

  SqliteReporter sqlite(db, resume_id);
  ConsoleReporter console(stdout, stderr, args.quiet);
  std::unique_ptr<JsonReporter> json;
  ReporterList reporters;
  reporters.add(&sqlite);
  reporters.add(&console);
  if (!args.json.empty()) {
    json = std::make_unique<JsonReporter>(args.json);
    reporters.add(json.get());
  }
  const RunEnd end = run_suite(request, cases, reporters);
  std::fprintf(stderr, "run %lld %s; results in %s\n", static_cast<long long>(sqlite.run_id()),
               to_string(end.status), args.db.c_str());
  return end.status == CaseStatus::finished ? kExitOk : kExitFailure;
}

}  // namespace rpcbench::cli
