// The `mi` task: train a critic per objective on a sampler with known MI (the Gaussian / cubic
// staircase) and record the estimate at every step; per level, the mean, bias, variance and MSE
// over the last `window` steps.
#include "stats/intervals.hpp"
#include "stats/window_stats.hpp"
#include "tasks/critic_penalty.hpp"
#include "tasks/task.hpp"
#include "tasks/training.hpp"
#include "tasks/view_pairs.hpp"
#include "util/errors.hpp"
#include "util/hash.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

namespace rpcbench {
namespace {

// Samples are written in one transaction per this many steps: bounded loss on a kill, few commits.
constexpr std::int64_t kFlushEvery = 500;

std::string level_scope(double true_mi) { return "mi=" + format_general(true_mi, 6); }
// Steps of one level share a true MI; an unknown MI (NaN: samples from a file) is one level too.
bool same_level(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

class MiTask : public Task {
 public:
  std::string name() const override { return "mi"; }
  std::string summary() const override {
    return "train a critic per objective on a sampler with known MI; per-step estimates and "
           "per-level mean, bias, variance, MSE";
  }
  std::vector<ParamDecl> params() const override {
    std::vector<ParamDecl> params = {
        {"batch_size", ParamType::integer, "64", false, "pairs per step N (N×N scores)"},
        {"learning_rate", ParamType::real, "5e-4", false, "Adam learning rate"},
        {"optimizer", ParamType::text, "\"adam\"", false, "\"adam\" (the Poole/SMILE/RPC protocol)"},
        {"window", ParamType::integer, "2000", false,
         "statistics use the last K steps of each level (all of a shorter level)"},
    };
    for (auto& p : training_params()) params.push_back(std::move(p));
    return params;
  }

  // The N² score matrix dominates a step: cost ∝ N².
  double case_cost(const Case& c) const override {
    const double n = static_cast<double>(c.task_params->get_int("batch_size"));
    return n * n;
  }

  std::vector<PlotSpec> plots() const override {
    using K = PlotSpec::Kind;
    return {{K::step_curves, "MI staircase on {dataset}: estimate per step", "nats", {"mi"}, "true_mi", "mi_ceiling", ""},
            {K::scope_bars, "bias per MI level on {dataset} (last-window statistics)", "bias", {"bias"}, "", "", "mi="},
            {K::scope_bars, "variance per MI level on {dataset} (last-window statistics)", "variance", {"variance"}, "", "", "mi="},
            {K::step_curves, "Training loss on {dataset}", "loss", {"loss"}, "", "", ""},
            {K::step_curves, "Gradient norm on {dataset}", "grad_norm", {"grad_norm"}, "", "", ""}};
  }

  std::vector<HeadlineMetric> headline_metrics() const override {
    return {{"mean_abs_bias", "mean |bias| over levels", false}, {"mean_variance", "mean variance over levels", false}};
  }

  void check_params(const Params& p) const override {
    p.get_int_in("batch_size", 2, 1 << 16);
    if (!(p.get_double("learning_rate") > 0.0 && std::isfinite(p.get_double("learning_rate"))))
      p.fail("learning_rate", "must be a finite number > 0, got " + format_general(p.get_double("learning_rate")));
    if (p.get_string("optimizer") != "adam") p.fail("optimizer", "must be \"adam\"");
    p.get_int_in("window", 1);
    check_training_params(p);
  }

  void validate(const Suite& suite, const PluginRegistry& registry) const override {
    if ((suite.encoder.plugin->capabilities & kScoresPairs) == 0)
      throw InputError(suite.path.string() + ": task 'mi' needs a critic encoder (one that scores " +
                       "(x, y) pairs); encoder '" + suite.encoder.plugin->name + "' does not");
    for (const auto& d : suite.datasets) {
      auto dataset = registry.make_dataset(*d.plugin, d.params);
      const DatasetSpec spec = dataset->spec();
      if (spec.stream_steps <= 0 || spec.input.y_shape.empty())
        throw InputError(suite.path.string() + ": task 'mi' needs a sampler of (x, y) pairs; "
                         "dataset '" + d.label + "' is not one");
      // Levels are contiguous runs of steps with one true MI, and their statistics are keyed by
      // that MI: a level that comes back later would overwrite an earlier one's.
      std::set<std::string> seen;
      std::string current;
      // (Bounded, so that listing a suite stays instant: 10^7 steps is beyond a CPU's day anyway.)
      for (std::int64_t step = 0; step < std::min<std::int64_t>(spec.stream_steps, 10'000'000); ++step) {
        const std::string scope = level_scope(dataset->true_mi(step));
        if (scope == current) continue;
        if (!seen.insert(scope).second)
          throw InputError(suite.path.string() + ": dataset '" + d.label + "' returns to true MI " + scope.substr(3) +
                           " at step " + std::to_string(step) + " after other levels: each level's MI must be distinct");
        current = scope;
      }
      // A sampler over a finite set of rows (samples from a file) draws distinct rows per batch.
      if (const auto rows = spec.split_sizes.find("train"); rows != spec.split_sizes.end())
        for (const Params& each : task_param_variants(suite))
          if (each.get_int("batch_size") > rows->second)
            throw InputError(suite.path.string() + ": dataset '" + d.label + "' has " + std::to_string(rows->second) +
                             " samples, fewer than a batch of " + std::to_string(each.get_int("batch_size")));
      registry.make_encoder(*suite.encoder.plugin, suite.encoder.params, spec.input);
    }
    for (const auto& o : suite.objectives) registry.make_objective(*o.plugin, o.params);
  }

  bool computes_critic_penalty() const override { return true; }
  CaseOutcome run(CaseRun& r) const override;
  std::vector<ResultTable> tables(const Suite& suite,
                                  const std::vector<CaseReport>& cases) const override;
};

CaseOutcome MiTask::run(CaseRun& r) const {
  const Params& tp = *r.c.task_params;
  const std::int64_t n = tp.get_int("batch_size");
  const std::int64_t window = tp.get_int("window");

  torch::manual_seed(r.c.seed);  // critic initialisation
  auto dataset = r.registry.make_dataset(*r.c.dataset->plugin, r.c.dataset->params);
  const DatasetSpec spec = dataset->spec();
  auto critic = r.registry.make_encoder(*r.c.encoder->plugin, r.c.encoder->params, spec.input);
  auto objective = r.registry.make_objective(*r.c.objective->plugin, r.c.objective->params);
  torch::nn::Module& module = critic->module();
  module.to(r.device);
  module.train();
  torch::optim::Adam optimizer(module.parameters(),
                               torch::optim::AdamOptions(tp.get_double("learning_rate")));
  // Data come from their own CPU generator, so they are the same on every device.
  at::Generator generator = at::detail::createCPUGenerator(derive_seed(r.c.seed, "data"));
  const torch::Tensor off_diagonal = off_diagonal_mask(n, r.device);
  const double penalty_weight = objective->critic_gradient_penalty();

  const std::int64_t total = spec.stream_steps;
  std::vector<double> estimates, losses, grad_norms;
  const DivergenceLimits limits(tp);
  estimates.reserve(total);
  std::vector<MetricSample> pending;
  std::map<std::string, double> last_diagnostics;
  auto flush = [&] {
    if (!pending.empty()) r.events.metrics(r.c, pending);
    pending.clear();
  };

  CaseOutcome outcome;
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto last_progress = start - std::chrono::seconds(1);
  for (std::int64_t step = 0; step < total; ++step) {
    if (r.stop_requested.load()) {
      outcome.status = CaseStatus::killed;
      outcome.message = "interrupted at step " + std::to_string(step);
      outcome.stopped_step = step;
      break;
    }
    const Batch batch = dataset->sample(step, n, generator);
    const torch::Tensor x = batch.x.to(r.device).requires_grad_(penalty_weight > 0);
    const torch::Tensor y = batch.y.to(r.device).requires_grad_(penalty_weight > 0);
    const torch::Tensor scores = critic->score_matrix(x, y);
    if (scores.dim() != 2 || scores.size(0) != n || scores.size(1) != n)
      throw std::runtime_error("encoder '" + r.c.encoder->label + "' returned scores of shape " +
                               c10::str(scores.sizes()) + ", expected [" + std::to_string(n) +
                               ", " + std::to_string(n) + "]");
    const ViewPairScores pairs = split_paired_scores(scores, off_diagonal);
    const ObjectiveResult result = objective->evaluate(pairs.pos, pairs.neg);

    const double loss = result.loss.item<double>();
    const double mi = result.mi.item<double>();
    const double truth = dataset->true_mi(step);
    pending.push_back({step, "mi", mi});
    pending.push_back({step, "true_mi", truth});
    pending.push_back({step, "loss", loss});
    std::map<std::string, double> diagnostics;
    for (const auto& [name, value] : result.diagnostics) {
      const double v = value.item<double>();
      pending.push_back({step, diagnostic_metric_name(name), v});
      diagnostics[name] = v;
    }
    // The diverging step's values are recorded (they are the evidence); the case's summaries
    // keep the last finite ones, from the steps that completed.
    torch::Tensor training_loss = result.loss;
    if (penalty_weight > 0) {  // the objective's loss is recorded; the penalty is added for training
      const torch::Tensor penalty = critic_gradient_penalty(scores, x, y);
      pending.push_back({step, "gradient_penalty", penalty.item<double>()});
      training_loss = training_loss + penalty_weight * penalty;
    }
    std::string diverged = limits.check_loss(loss, mi);
    double grad_norm = NAN;
    if (diverged.empty()) {
      optimizer.zero_grad();
      training_loss.backward();
      grad_norm = gradient_norm(module.parameters());
      pending.push_back({step, "grad_norm", grad_norm});
      diverged = limits.check_gradient(grad_norm);
    }
    if (!diverged.empty()) {
      outcome.status = CaseStatus::diverged;
      outcome.message = diverged + " at step " + std::to_string(step);
      outcome.stopped_step = step;
      break;
    }
    optimizer.step();
    estimates.push_back(mi);
    losses.push_back(loss);
    grad_norms.push_back(grad_norm);
    for (const auto& [name, v] : diagnostics) last_diagnostics[name] = v;

    if ((step + 1) % kFlushEvery == 0) flush();
    const auto now = clock::now();
    if (now - last_progress > std::chrono::milliseconds(500) || step + 1 == total) {
      const double seconds = std::chrono::duration<double>(now - start).count();
      r.events.progress({&r.c, step + 1, total, seconds > 0 ? (step + 1) / seconds : 0.0});
      last_progress = now;
    }
  }
  flush();
  const double seconds = std::chrono::duration<double>(clock::now() - start).count();

  // Per level: the contiguous run of steps with one true MI; the window is its last K steps.
  // A level the case did not complete gets no statistics.
  std::int64_t begin = 0;
  for (std::int64_t step = 1; step <= total; ++step) {
    if (step < total && same_level(dataset->true_mi(step), dataset->true_mi(begin))) continue;
    const std::int64_t end = step;
    if (end <= static_cast<std::int64_t>(estimates.size())) {
      const std::int64_t k = std::min(window, end - begin);
      const std::vector<double> tail(estimates.begin() + (end - k), estimates.begin() + end);
      const double truth = dataset->true_mi(begin);
      const WindowStats s = window_stats(tail, truth);
      const std::string scope = level_scope(truth);
      outcome.summary.insert(outcome.summary.end(),
                             {{scope, "true_mi", truth},
                              {scope, "mean", s.mean},
                              {scope, "std", s.std},
                              {scope, "variance", s.variance},
                              {scope, "bias", s.bias},
                              {scope, "mse", s.mse},
                              {scope, "window", static_cast<double>(k)}});
    }
    begin = step;
  }
  // Headline numbers over the levels, only when every level completed: a case that diverged after
  // the easy levels must not look better than one that finished the hard ones.
  double abs_bias = 0.0, variance = 0.0;
  std::size_t levels = 0;
  for (const auto& v : outcome.summary) {
    if (v.name == "bias") abs_bias += std::abs(v.value), ++levels;
    if (v.name == "variance") variance += v.value;
  }
  const bool complete = static_cast<std::int64_t>(estimates.size()) == total && levels > 0;
  outcome.summary.push_back({"", "mean_abs_bias", complete ? abs_bias / static_cast<double>(levels) : NAN});
  outcome.summary.push_back({"", "mean_variance", complete ? variance / static_cast<double>(levels) : NAN});
  add_stability_summary(outcome.summary, losses, estimates, grad_norms,
                        static_cast<std::size_t>(tp.get_int("stability_window")),
                        outcome.status == CaseStatus::diverged ? outcome.stopped_step : std::nullopt);
  // Diagnostics at the last step (e.g. "mi_ceiling", an estimator's upper bound). A diagnostic
  // named like one of the task's own summaries or per-step metrics is kept under "objective_<name>",
  // as its samples are.
  for (const auto& [name, value] : last_diagnostics) {
    const bool taken = std::any_of(outcome.summary.begin(), outcome.summary.end(),
                                   [&](const SummaryValue& v) { return v.group.empty() && v.name == name; }) ||
                       name == "steps" || name == "final_loss" || name == "steps_per_second" ||
                       diagnostic_metric_name(name) != name;
    outcome.summary.push_back({"", taken ? "objective_" + name : name, value});
  }
  outcome.summary.push_back({"", "steps", static_cast<double>(estimates.size())});
  outcome.summary.push_back({"", "final_loss", losses.empty() ? NAN : losses.back()});
  outcome.summary.push_back({"", "steps_per_second", seconds > 0 ? estimates.size() / seconds : 0.0});
  return outcome;
}

std::vector<ResultTable> MiTask::tables(const Suite& suite,
                                        const std::vector<CaseReport>& cases) const {
  std::vector<ResultTable> tables;
  for (const auto& dataset : suite.datasets) {
    ResultTable table;
    table.title = "MI estimates on '" + dataset.label + "': mean ± std over the last " +
                  std::to_string(suite.task_params.get_int("window")) +
                  " steps of each level (nats)";
    std::vector<std::string> scopes;  // levels in order of appearance
    for (const auto& report : cases) {
      if (report.c->dataset->label != dataset.label) continue;
      for (const auto& v : report.summary)
        if (v.name == "true_mi" && std::find(scopes.begin(), scopes.end(), v.group) == scopes.end())
          scopes.push_back(v.group);
    }
    table.columns.push_back("estimator");
    for (const auto& scope : scopes) table.columns.push_back(scope == "mi=nan" ? "true MI unknown" : "true " + scope.substr(3));
    table.columns.push_back("status");
    bool ceiling_marked = false;
    for (const auto& report : cases) {
      if (report.c->dataset->label != dataset.label) continue;
      std::map<std::string, std::map<std::string, double>> by_scope;
      for (const auto& v : report.summary) by_scope[v.group][v.name] = v.value;
      std::vector<std::string> row;
      row.push_back(row_label(suite, *report.c));
      const auto ceiling = by_scope[""].find("mi_ceiling");
      for (const auto& scope : scopes) {
        auto it = by_scope.find(scope);
        if (it == by_scope.end()) {
          row.push_back("—");
          continue;
        }
        std::string cell = format_fixed(it->second["mean"], 2) + " ± " + format_fixed(it->second["std"], 2);
        // At its ceiling log(K+1) the estimate says more about the batch size than the MI.
        if (ceiling != by_scope[""].end() && it->second["mean"] >= ceiling->second - 0.1) {
          cell += " ^";
          ceiling_marked = true;
        }
        row.push_back(cell);
      }
      std::string status = to_string(report.status);
      if (report.stopped_step) status += " @" + std::to_string(*report.stopped_step);
      row.push_back(status);
      if (ceiling != by_scope[""].end())
        row[0] += " (≤" + format_fixed(ceiling->second, 2) + ")";
      table.rows.push_back(std::move(row));
    }
    if (ceiling_marked)
      table.notes.push_back("^ within 0.1 nats of the estimator's ceiling log N (shown as ≤ c)");
    tables.push_back(std::move(table));
  }

  // A table of stationary tasks (bmi-style: one MI level per dataset): per task and estimator the
  // mean of the window estimate over seeds, its seed-to-seed std and the bias.
  std::vector<std::string> order;                // datasets in suite order
  std::map<std::string, double> truth;           // dataset → its one true MI
  bool stationary = suite.datasets.size() >= 2;
  for (const auto& dataset : suite.datasets) order.push_back(dataset.label);
  std::vector<std::string> rows;                 // group without dataset, in run order
  std::map<std::string, std::string> row_names;
  std::map<std::string, std::map<std::string, std::vector<double>>> estimates;  // row → dataset → per seed
  for (const auto& report : cases) {
    std::vector<const SummaryValue*> levels;
    for (const auto& v : report.summary)
      if (v.name == "true_mi") levels.push_back(&v);
    if (levels.size() > 1) stationary = false;
    if (levels.size() != 1) continue;
    const std::string& dataset = report.c->dataset->label;
    // One truth per task label: a grid over a dataset parameter would put several under one header.
    if (truth.count(dataset) && !same_level(truth[dataset], levels[0]->value)) stationary = false;
    truth[dataset] = levels[0]->value;
    const std::string row = with_component(report.c->group, "dataset", "");
    if (row_names.emplace(row, group_label(*report.c)).second) rows.push_back(row);
    for (const auto& v : report.summary)
      if (v.group == levels[0]->group && v.name == "mean" && std::isfinite(v.value)) estimates[row][dataset].push_back(v.value);
  }
  if (stationary && !rows.empty()) {
    ResultTable table;
    table.title = "estimates per task: mean over seeds ± seed-to-seed std (bias) over the last " +
                  std::to_string(suite.task_params.get_int("window")) + " steps (nats)";
    table.columns.push_back("estimator");
    for (const auto& dataset : order)
      table.columns.push_back(dataset + (truth.count(dataset) ? " (" + format_fixed(truth[dataset], 2, "?") + ")" : ""));
    for (const auto& row : rows) {
      std::vector<std::string> cells{row_names[row]};
      for (const auto& dataset : order) {
        const auto& values = estimates[row][dataset];
        if (values.empty() || !truth.count(dataset)) {
          cells.push_back("—");
          continue;
        }
        const MeanStd m = mean_std(values);
        const double bias = m.mean - truth[dataset];  // nan when the truth is unknown: no bias shown
        cells.push_back(format_fixed(m.mean, 2) + (values.size() > 1 ? " ± " + format_fixed(m.std, 2) : "") +
                        (std::isnan(bias) ? "" : std::string(" (") + (bias >= 0 ? "+" : "") + format_fixed(bias, 2) + ")"));
      }
      table.rows.push_back(std::move(cells));
    }
    table.notes.push_back("the true MI of each task in its header; — : no finished case");
    tables.push_back(std::move(table));
  }
  return tables;
}

}  // namespace

std::unique_ptr<Task> make_mi_task() { return std::make_unique<MiTask>(); }

}  // namespace rpcbench
