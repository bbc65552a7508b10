// `harness estimate`: one MI estimate from paired samples in a file, for other tools (bmi's
// external-estimator protocol: the number on stdout). It writes a one-case mi suite and runs it
// through the same runner and reporters as `harness run`, so the estimate is recorded like any run.
#include "cli/commands.hpp"
#include "cli/execution.hpp"
#include "cli/plugin_loading.hpp"
#include "util/errors.hpp"
#include "util/format.hpp"

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace rpcbench::cli {

void add_estimate(CLI::App& app, EstimateArgs& args) {
  app.add_option("samples", args.samples,
                 "a CSV with header X1..Xn,Y1..Ym, or X.npy Y.npy (rows pair by row)")
      ->required()
      ->expected(1, 2);
  app.add_option("--objective,-o", args.objective, "the estimator: an objective plugin (harness list)")->required();
  app.add_option("--param", args.params, "objective parameter KEY=VALUE (TOML value; repeatable)");
  app.add_option("--encoder", args.encoder, "the critic: an encoder plugin that scores pairs")->capture_default_str();
  app.add_option("--encoder-param", args.encoder_params, "critic parameter KEY=VALUE (repeatable)");
  app.add_option("--dataset", args.dataset, "the dataset plugin that reads the file")->capture_default_str();
  app.add_option("--steps", args.steps, "training steps (a batch of distinct rows each)")->capture_default_str();
  app.add_option("--batch-size", args.batch_size, "pairs per step N (N×N scores)")->capture_default_str();
  app.add_option("--learning-rate", args.learning_rate, "Adam learning rate")->capture_default_str();
  app.add_option("--window", args.window, "the estimate is the mean over the last K steps")->capture_default_str();
  app.add_option("--true-mi", args.true_mi, "the true MI when known: the run records the bias too");
  app.add_option("--seed", args.seed, "seed (>= 0)")->capture_default_str();
  app.add_option("--threads", args.threads, "intra-op threads, pinned")->capture_default_str();
  app.add_option("--device", args.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--db", args.db, "results database (SQLite; its folder is made when missing)")->capture_default_str();
  app.add_option("--plugins", args.plugin_dirs, "extra plugin directory (repeatable)");
  app.add_flag("--print-suite", args.print_suite, "print the suite it runs (stderr) and go on");
}

namespace {

// "key=value" → a TOML line; a value that is not TOML is taken as a string (readout=mean_score).
std::string toml_assignment(const std::string& option, const std::string& setting) {
  const std::size_t eq = setting.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError(option + " '" + setting + "': expected KEY=VALUE");
  const std::string key = setting.substr(0, eq), value = setting.substr(eq + 1);
  if (value.find_first_of("\r\n") != std::string::npos)
    throw InputError(option + " '" + setting + "': the value must be on one line");
  if (key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
    throw InputError(option + " '" + setting + "': '" + key + "' is not a parameter name");
  try {
    [[maybe_unused]] const auto parsed = toml::parse("v = " + value);
    return key + " = " + value + "\n";
  } catch (const toml::parse_error&) {
    return key + " = " + nlohmann::json(value).dump() + "\n";
  }
}

std::string toml_string(const std::string& text) { return nlohmann::json(text).dump(); }  // a TOML basic string

// Keeps the one case's outcome.
class EstimateCapture : public Reporter {
 public:
  void run_started(const RunInfo&) override {}
  void case_finished(const CaseReport& report) override {
    status = report.status;
    message = report.message;
    for (const auto& v : report.summary)
      if (v.name == "mean" && v.group.rfind("mi=", 0) == 0) estimate = v.value;
  }
  void run_finished(const RunEnd&) override {}
  CaseStatus status = CaseStatus::failed;
  std::string message;
  double estimate = NAN;
};

}  // namespace

int estimate_command(const EstimateArgs& args, const std::string& command_line) {
  if (args.seed < 0) throw InputError("--seed must be >= 0");
  if (args.threads < 0) throw InputError("--threads must be >= 0");
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& f : args.samples) {
    if (!std::filesystem::is_regular_file(f, ec)) throw InputError(f + ": no such file");
    files.push_back(std::filesystem::absolute(f).lexically_normal().string());
  }

  std::string text = "[suite]\nname = \"estimate\"\ntask = \"mi\"\nseed = " + std::to_string(args.seed) +
                     "\nthreads = " + std::to_string(args.threads) + "\ndescription = " +
                     toml_string("harness estimate on " + files.front()) + "\n\n[task]\nbatch_size = " +
                     std::to_string(args.batch_size) + "\nlearning_rate = " + format_general(args.learning_rate, 17) +
                     "\nwindow = " + std::to_string(args.window) + "\n\n[encoder]\nplugin = " + toml_string(args.encoder) + "\n";
  for (const auto& p : args.encoder_params) text += toml_assignment("--encoder-param", p);
  text += "\n[[datasets]]\nplugin = " + toml_string(args.dataset) +
          // One label whatever the file is called: the case's seed comes from its key, so the same
          // samples under another name (a temporary file) give the same estimate.
          "\nlabel = \"samples\"\npath = " + toml_string(files.front()) + "\n";
  if (files.size() == 2) text += "y_path = " + toml_string(files[1]) + "\n";
  text += "steps = " + std::to_string(args.steps) + "\n";
  if (args.true_mi) text += "true_mi = " + format_general(*args.true_mi, 17) + "\n";
  text += "\n[[objectives]]\nplugin = " + toml_string(args.objective) + "\n";
  for (const auto& p : args.params) text += toml_assignment("--param", p);
  if (args.print_suite) std::fprintf(stderr, "%s\n", text.c_str());

  const torch::Device device = resolve_device(args.device);
  PluginRegistry registry;
  load_plugins(registry, args.plugin_dirs);
  TaskCatalog tasks;
  RunArgs run;
  run.device = args.device;
  run.db = args.db;
  run.threads = args.threads;
  run.seed = args.seed;
  run.quiet = true;
  const std::filesystem::path origin = "harness-estimate.toml";  // names the generated suite in messages
  PreparedRun prepared;
  try {
    prepared = prepare_suite(load_suite_text(text, origin, SuiteOptions{}, registry, tasks), run, tasks);
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()) + "\n(" + origin.string() + " is the suite harness estimate wrote from its options:\n" +
                     text + ")");
  }
  // A tool calling this reads one number from stdout; the results database is the rest of the
  // record, so its folder is made when missing (results/ under any working directory).
  const auto db_folder = std::filesystem::absolute(args.db).parent_path();
  std::filesystem::create_directories(db_folder, ec);
  if (ec) throw InputError("--db " + args.db + ": cannot create its folder " + db_folder.string() + ": " + ec.message());
  const ThreadSettings threads = configure_threads(args.threads);
  EstimateCapture capture;
  // While the case runs, anything written to stdout (a plugin's print) goes to stderr instead.
  std::fflush(stdout);
  // Close-on-exec: children started meanwhile (git for the provenance) must not hold the caller's pipe.
  const int saved_stdout = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (saved_stdout < 0) throw InputError("harness estimate: stdout is not open (it is where the estimate goes)");
  dup2(STDERR_FILENO, STDOUT_FILENO);
  int code = kExitFailure;
  try {
    code = execute(prepared, run, command_line, device, threads, registry, false, ExecuteOutput{stderr, &capture});
  } catch (...) {
    std::fflush(stdout);
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
    throw;
  }
  std::fflush(stdout);
  dup2(saved_stdout, STDOUT_FILENO);
  close(saved_stdout);
  if (code != kExitOk || capture.status != CaseStatus::finished || !std::isfinite(capture.estimate)) {
    std::fprintf(stderr, "error: the estimate did not finish: %s %s\n", to_string(capture.status), capture.message.c_str());
    return code == kExitOk ? kExitFailure : code;
  }
  std::printf("%s\n", format_general(capture.estimate, 9).c_str());
  return kExitOk;
}

}  // namespace rpcbench::cli
