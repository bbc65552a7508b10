#include "cli/commands.hpp"
#include "cli/execution.hpp"
#include "cli/plugin_loading.hpp"
#include "db/database.hpp"
#include "report/console_reporter.hpp"
#include "report/json_reporter.hpp"
#include "report/sqlite_reporter.hpp"
#include "run/environment.hpp"
#include "run/runner.hpp"
#include "run/shard.hpp"
#include "run/workers.hpp"
#include "util/errors.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <nlohmann/json.hpp>

#include <sys/prctl.h>
#include <csignal>
#include <thread>

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
  app.add_option("--jobs,-j", args.jobs,
                 "cases at once, each in a worker process with the suite's thread count (results identical to --jobs 1)")
      ->capture_default_str();
  app.add_option("--shard", args.shard,
                 "I/N: run only the I-th (0-based) of N deterministic parts of the cases, balanced by expected cost "
                 "(for SLURM arrays; harness merge joins the parts)");
  app.add_option("--ensemble", args.ensemble,
                 "auto: train the cases that share a critic shape and batch size as one batched ensemble (each "
                 "with its own seed, data, objective and records); off: one case at a time. Default: the "
                 "suite's `ensemble`, else auto")
      ->check(CLI::IsMember({"auto", "off"}));
  app.add_option("--worker-case", args.worker_cases, "internal: the worker process of --jobs")->group("");
  app.add_option("--worker-config-hash", args.worker_config_hashes, "internal: the case's config hash")->group("");
}

PreparedRun prepare_suite(Suite suite, const RunArgs& args, const TaskCatalog& tasks) {
  PreparedRun p;
  p.suite = std::move(suite);
  p.task = tasks.find(p.suite.task);
  p.cases = expand_cases(p.suite, p.task->adds_control(p.suite));
  if (!args.shard.empty()) {
    const ShardSpec shard = parse_shard(args.shard);
    std::vector<double> costs;
    for (const Case& c : p.cases) costs.push_back(p.task->case_cost(c));
    std::vector<Case> mine;
    for (std::size_t i : shard_cases(p.cases, costs, shard)) mine.push_back(p.cases[i]);
    for (std::size_t i = 0; i < mine.size(); ++i) mine[i].index = i;
    p.cases = std::move(mine);
  }
  return p;
}

namespace {

PreparedRun prepare(const std::filesystem::path& path, const RunArgs& args, const PluginRegistry& registry,
                    const TaskCatalog& tasks) {
  SuiteOptions options;
  options.profile = args.profile;
  if (args.seed >= 0) options.seed = static_cast<std::uint64_t>(args.seed);
  return prepare_suite(load_suite(path, options, registry, tasks), args, tasks);
}

// The worker of --jobs: one unit (a case or an ensemble), its events as JSON lines on stdout; no
// database.
int run_worker(PreparedRun& p, const RunArgs& args, const torch::Device& device, PluginRegistry& registry) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);  // the parent gone: stop at the next step
  if (args.worker_config_hashes.size() != args.worker_cases.size())
    throw InputError("--worker-case: one --worker-config-hash per --worker-case");
  RunRequest request;
  request.suite = &p.suite;
  request.task = p.task;
  request.registry = &registry;
  request.device = device;
  request.stop_requested = &install_stop_handlers();
  request.checkpoint_dir = std::filesystem::absolute(args.db).parent_path() / "checkpoints";
  request.resuming = args.resume;
  request.ensemble = (args.ensemble.empty() ? p.suite.ensemble : args.ensemble) == "off" ? EnsembleMode::off
                                                                                        : EnsembleMode::automatic;
  std::FILE* events = fdopen(kEventsDescriptor, "w");
  if (events == nullptr) throw InputError("--worker-case: no events descriptor (only `harness run --jobs` starts workers)");
  PipeReporter pipe(events);
  std::vector<const Case*> unit;
  bool refused = false;
  for (std::size_t i = 0; i < args.worker_cases.size(); ++i) {
    const auto c = std::find_if(p.cases.begin(), p.cases.end(), [&](const Case& each) { return each.key == args.worker_cases[i]; });
    if (c == p.cases.end()) throw InputError("--worker-case: no case '" + args.worker_cases[i] + "' in " + args.suite);
    if (c->config_hash == args.worker_config_hashes[i]) {
      unit.push_back(&*c);
      continue;
    }
    // Reported through the pipe, so the parent records why (not just that the worker stopped).
    CaseReport report;
    report.c = &*c;
    report.status = CaseStatus::failed;
    report.message = "its configuration changed after the run started (an edited file it reads?): config hash " +
                     c->config_hash.substr(0, 12) + "… instead of " + args.worker_config_hashes[i].substr(0, 12) + "…";
    report.started_at = report.finished_at = utc_now();
    pipe.case_started(*c);
    pipe.case_finished(report);
    refused = true;
  }
  bool failed = refused;
  if (!unit.empty())
    for (const CaseReport& report : run_unit(request, unit, pipe)) failed = failed || report.status == CaseStatus::failed;
  return failed ? kExitFailure : kExitOk;
}

// The command line of a worker for this suite: the same binary, suite, profile, seed, device,
// threads and plugins.
std::vector<std::string> worker_command(const PreparedRun& p, const RunArgs& args, int threads, bool resuming) {
  std::vector<std::string> command = {boost::dll::program_location().string(), "run",
                                      std::filesystem::absolute(p.suite.path).string(), "--quiet",
                                      "--ensemble", args.ensemble.empty() ? p.suite.ensemble : args.ensemble,
                                      "--device", args.device,
                                      "--threads", std::to_string(threads), "--blas-threads", std::to_string(args.blas_threads),
                                      "--db", std::filesystem::absolute(args.db).string()};
  if (!args.profile.empty()) command.insert(command.end(), {"--profile", args.profile});
  if (args.seed >= 0) command.insert(command.end(), {"--seed", std::to_string(args.seed)});
  if (!args.shard.empty()) command.insert(command.end(), {"--shard", args.shard});
  if (resuming) command.push_back("--resume");  // only when this run resumes: then checkpoints count
  for (const auto& dir : args.plugin_dirs) command.insert(command.end(), {"--plugins", std::filesystem::absolute(dir).string()});
  return command;
}

}  // namespace

int execute(PreparedRun& p, const RunArgs& args, const std::string& command_line, const torch::Device& device,
            const ThreadSettings& threads, PluginRegistry& registry, bool skip_if_finished, const ExecuteOutput& output) {
  const Suite& suite = p.suite;
  // What objectives say identifies them (a loaded script's source) and where each file parameter
  // was read from: collected before the database is opened, so a failure here writes nothing.
  std::map<std::string, std::string> plugin_provenance;
  for (const auto& o : suite.objectives)
    for (const auto& [key, value] : registry.make_objective(*o.plugin, o.params)->provenance())
      plugin_provenance["objective." + o.label + "." + key] = value;
  std::vector<const PluginUse*> uses = {&suite.encoder};
  for (const auto& d : suite.datasets) uses.push_back(&d);
  for (const auto& o : suite.objectives) uses.push_back(&o);
  for (const PluginUse* use : uses)
    for (const auto& [key, file] : use->files)
      plugin_provenance[std::string("file.") + to_string(use->plugin->kind) + "." + use->label + "." + key] =
          use->params.get_string(key);
  Database db(args.db, Database::Mode::read_write);
  mark_abandoned_runs(db);
  RunRequest request;
  request.suite = &suite;
  request.task = p.task;
  request.registry = &registry;
  request.device = device;
  request.info.started_at = utc_now();
  request.info.provenance = collect_provenance(device, threads, command_line);
  request.info.provenance["jobs"] = std::to_string(args.jobs);
  request.info.provenance["ensemble"] = args.ensemble.empty() ? suite.ensemble : args.ensemble;
  if (!args.shard.empty()) {
    const ShardSpec shard = parse_shard(args.shard);  // "0/02" and "0/2" are the same part
    request.info.provenance["shard"] = std::to_string(shard.index) + "/" + std::to_string(shard.count);
  }
  request.info.provenance.insert(plugin_provenance.begin(), plugin_provenance.end());
  {
    auto all = request.info.provenance;
    all.erase("json");
    request.info.provenance["json"] = nlohmann::json(all).dump();
  }
  if (request.info.provenance["build_matches_checkout"] == "no")
    std::fprintf(stderr, "warning: this harness was built from commit %.12s but the checkout is at %.12s: rebuild, or "
                 "know that the results come from the older build (both are recorded)\n",
                 request.info.provenance["git_sha"].c_str(), request.info.provenance["checkout_git_sha"].c_str());
  for (const auto* use : {&suite.encoder}) request.info.plugins.push_back(use->plugin);
  for (const auto& d : suite.datasets) request.info.plugins.push_back(d.plugin);
  for (const auto& o : suite.objectives) request.info.plugins.push_back(o.plugin);

  std::optional<std::int64_t> resume_id;
  if (args.resume) {
    // The mode matters only where the task would group some of these cases (the mi task); a vision
    // or speech run resumes in either.
    RunRequest grouping = request;
    grouping.ensemble = EnsembleMode::automatic;
    std::vector<const Case*> all;
    for (const Case& c : p.cases) all.push_back(&c);
    const auto units = plan_units(grouping, all);
    const bool groups = std::any_of(units.begin(), units.end(), [](const auto& unit) { return unit.size() > 1; });
    if (auto point = prepare_resume(db, suite, groups ? std::optional<std::string>(args.ensemble.empty() ? suite.ensemble : args.ensemble)
                                                      : std::nullopt)) {
      resume_id = point->run_id;
      request.skip_case_keys = std::move(point->completed_case_keys);
      request.completed = std::move(point->completed);
      std::fprintf(stderr, "resuming run %lld of '%s': %zu of %zu cases already complete\n",
                   static_cast<long long>(point->run_id), suite.name.c_str(), request.skip_case_keys.size(),
                   p.cases.size());
    } else if (skip_if_finished && latest_run_finished(db, suite)) {
      std::fprintf(stderr, "'%s': its latest run of this resolved suite finished; nothing to resume\n", suite.name.c_str());
      return kExitOk;
    } else {
      std::fprintf(stderr, "nothing to resume for '%s' in %s: starting a new run\n", suite.name.c_str(), args.db.c_str());
    }
  }
  request.stop_requested = &install_stop_handlers();
  // Checkpoints of long cases live beside the database, named by case config hash.
  request.checkpoint_dir = std::filesystem::absolute(args.db).parent_path() / "checkpoints";
  request.resuming = resume_id.has_value();
  request.ensemble = (args.ensemble.empty() ? suite.ensemble : args.ensemble) == "off" ? EnsembleMode::off
                                                                                      : EnsembleMode::automatic;

  SqliteReporter sqlite(db, resume_id);
  ConsoleReporter console(output.console, stderr, args.quiet);
  std::unique_ptr<JsonReporter> json;
  ReporterList reporters;
  reporters.add(&sqlite);
  reporters.add(&console);
  if (!p.json_path.empty()) {
    json = std::make_unique<JsonReporter>(p.json_path);
    reporters.add(json.get());
  }
  if (output.extra != nullptr) reporters.add(output.extra);
  const RunEnd end = args.jobs > 1
                         ? run_suite_in_workers(request, p.cases, reporters, args.jobs,
                                                worker_command(p, args, static_cast<int>(threads.intra_op), request.resuming))
                         : run_suite(request, p.cases, reporters);
  std::fprintf(stderr, "run %lld (%s) %s; results in %s\n", static_cast<long long>(sqlite.run_id()), suite.name.c_str(),
               to_string(end.status), args.db.c_str());
  return end.status == CaseStatus::finished ? kExitOk : kExitFailure;
}

int run_command(const RunArgs& args, const std::string& command_line) {
  // Everything that can be wrong with the input is checked here, before the database is touched:
  // every member of a suite group is loaded and validated before the first one runs.
  const torch::Device device = resolve_device(args.device);
  if (args.seed < -1) throw InputError("--seed must be >= 0");
  if (args.jobs < 1) throw InputError("--jobs must be >= 1, got " + std::to_string(args.jobs));
  if (!args.shard.empty()) parse_shard(args.shard);  // refuse a bad value before any work
  PluginRegistry registry;
  load_plugins(registry, args.plugin_dirs);
  TaskCatalog tasks;
  std::vector<std::filesystem::path> paths = suite_group_members(args.suite);
  const bool group = !paths.empty();
  if (!group) paths.push_back(args.suite);
  std::vector<PreparedRun> runs;
  for (const auto& path : paths) runs.push_back(prepare(path, args, registry, tasks));
  if (!args.worker_cases.empty()) {
    configure_threads(args.threads >= 0 ? args.threads : static_cast<int>(runs.front().suite.threads), args.blas_threads);
    return run_worker(runs.front(), args, device, registry);
  }
  if (!args.json.empty()) {
    std::error_code ec;
    const auto json = std::filesystem::absolute(args.json);
    if (!std::filesystem::is_directory(json.parent_path(), ec))
      throw InputError("--json " + args.json + ": directory '" + json.parent_path().string() + "' does not exist");
    for (auto& run : runs)  // one file per member: out.json → out-<suite>.json
      run.json_path = group ? (json.parent_path() / (json.stem().string() + "-" + run.suite.name + json.extension().string())).string()
                            : json.string();
  }
  int exit_code = kExitOk;
  for (auto& run : runs) {
    // Each suite's own thread count (the MI suites run one thread, vision two), unless --threads.
    const int thread_count = args.threads >= 0 ? args.threads : static_cast<int>(run.suite.threads);
    const ThreadSettings threads = configure_threads(thread_count, args.blas_threads);
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    if (args.jobs > 1 && static_cast<unsigned>(args.jobs * std::max(threads.intra_op, 1)) > cores)
      std::fprintf(stderr, "warning: --jobs %d × %d threads = %d threads on %u cores: they will share them\n", args.jobs,
                   threads.intra_op, args.jobs * threads.intra_op, cores);
    const int code = execute(run, args, command_line, device, threads, registry, group, ExecuteOutput{});
    exit_code = std::max(exit_code, code);
    if (code != kExitOk && install_stop_handlers().load()) break;  // interrupted: stop the group too
  }
  return exit_code;
}

}  // namespace rpcbench::cli
