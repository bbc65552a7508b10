// Tasks are the training/evaluation protocols (mi, contrastive, cpc). They live in the harness;
// objectives only ever see score matrices.
#pragma once

#include "plugin/registry.hpp"
#include "run/aggregates.hpp"
#include "report/reporter.hpp"
#include "suite/suite.hpp"
#include "util/format.hpp"

#include <atomic>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace rpcbench {

struct CaseRun {
  const Suite& suite;
  const Case& c;
  const PluginRegistry& registry;
  torch::Device device;
  Reporter& events;                       // metrics() and progress()
  const std::atomic<bool>& stop_requested;  // set by SIGINT/SIGTERM
  std::filesystem::path checkpoint_dir;     // where long cases save checkpoints ("" : none)
  bool resuming = false;                    // load a checkpoint of this case if one exists
};

struct CaseOutcome {
  CaseStatus status = CaseStatus::finished;
  std::string message;
  std::optional<std::int64_t> stopped_step;
  std::vector<SummaryValue> summary;
  std::optional<double> seconds;  // an ensemble member's share of the ensemble's time (its wall_seconds)
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  virtual std::string summary() const = 0;
  virtual std::vector<ParamDecl> params() const = 0;
  // Whether this suite gets a control case per dataset × repeat (objective = nullptr).
  virtual bool adds_control(const Suite& suite) const {
    (void)suite;
    return false;
  }
  // Range and consistency checks of one set of task parameters (the suite's, or an objective's
  // own), run by the suite loader in every profile. Throw ParamError (Params::fail) naming the
  // key: the loader reports it at the key's file:line:col.
  virtual void check_params(const Params& params) const { (void)params; }
  // Checks that go beyond parameter types (plugin capabilities, sizes) and constructs each plugin
  // object once, so a plugin that throws is refused before any work; throws InputError.
  virtual void validate(const Suite& suite, const PluginRegistry& registry) const = 0;
  // Whether the task adds an objective's critic_gradient_penalty() to its training loss; the suite
  // loader refuses an objective that asks for one from a task that does not.
  virtual bool computes_critic_penalty() const { return false; }
  // One case. Throwing is allowed: the runner records the case as failed with the message.
  virtual CaseOutcome run(CaseRun& run) const = 0;
  // Ensembles (`harness run --ensemble auto`): cases with the same non-empty key can train together
  // in run_ensemble, one batched network for all of them, each case with its own seed, data,
  // objective, learning rate and records (the rows it records alone), at most max_members at once.
  // key "": the case runs alone.
  struct EnsembleSlot {
    std::string key;
    std::size_t max_members = 1;
  };
  virtual EnsembleSlot ensemble_slot(const Case& c, const PluginRegistry& registry) const {
    (void)c, (void)registry;
    return {};
  }
  // Trains `members` (cases of one ensemble key) together and calls finished(i, outcome) once per
  // member as it ends, so a member that diverges is recorded while the others go on. Throwing fails
  // the members not finished yet.
  using MemberFinished = std::function<void(std::size_t member, CaseOutcome outcome)>;
  virtual void run_ensemble(std::vector<CaseRun>& members, const MemberFinished& finished) const {
    (void)members, (void)finished;
    throw std::logic_error("task '" + name() + "' does not train ensembles");
  }
  // A case's expected cost relative to the suite's others (--shard balances parts by it).
  virtual double case_cost(const Case& c) const {
    (void)c;
    return 1.0;
  }
  // The plots of the HTML report, per dataset (the report adds the grid and seed plots itself).
  virtual std::vector<PlotSpec> plots() const { return {}; }
  // The case-level summaries (scope "") compared across seeds and sweep axes.
  virtual std::vector<HeadlineMetric> headline_metrics() const { return {}; }
  // Tables for the console and the report, from every case of the run.
  virtual std::vector<ResultTable> tables(const Suite& suite,
                                          const std::vector<CaseReport>& cases) const = 0;
};

// A case as a table row: its objective (or the control), its grid coordinates, and its repeat
// when the suite has several ("rpc batch_size=64 #2").
// A case group's label: objective (or the control) and its grid coordinates, one axis left out
// when `skip_axis` names it.
inline std::string group_label(const Case& c, const std::string& skip_axis = "") {
  std::string label = c.objective ? c.objective->label : std::string(kControlLabel) + " (control)";
  for (const auto& coordinate : c.coordinates)
    if (coordinate.axis != skip_axis) label += " " + coordinate.axis + "=" + coordinate.value;
  return label;
}

inline std::string row_label(const Suite& suite, const Case& c) {
  return group_label(c) + (suite.repeats > 1 ? " #" + std::to_string(c.repeat) : "");
}

// An objective's diagnostic as a per-step metric. Named like one of the tasks' own metrics it would
// replace that metric's sample (one value per case, name and step), so it is kept as
// "objective_<name>" (the mi task's summaries use the same name).
inline std::string diagnostic_metric_name(const std::string& name) {
  static const std::set<std::string> task_metrics = {
      "mi",       "true_mi",        "loss",       "grad_norm",    "gradient_penalty", "lr",
      "pair_top1", "prediction_accuracy", "linear_top1", "knn_top1", "phoneme_top1",   "speaker_top1",
      "images_per_second", "frames_per_second"};
  return task_metrics.count(name) != 0 ? "objective_" + name : name;
}

// ‖∇‖ over all parameters with one host sync (not one per parameter: that stalls a GPU).
inline double gradient_norm(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> squares;
  for (const auto& p : parameters)
    if (p.grad().defined()) squares.push_back(p.grad().detach().square().sum());
  return squares.empty() ? 0.0 : torch::stack(squares).sum().sqrt().item<double>();
}

// The suite's task parameters and every objective's own: each is validated.
inline std::vector<const Params*> task_param_sets(const Suite& suite) {
  std::vector<const Params*> sets{&suite.task_params};
  for (const auto& o : suite.objectives)
    if (o.task_params) sets.push_back(&*o.task_params);
  return sets;
}

// Every task-parameter set a case can get: each of task_param_sets with every combination of the
// grid's task values. What depends on the data (a batch larger than the split, a window longer
// than every utterance) is checked on each of these.
inline std::vector<Params> task_param_variants(const Suite& suite) {
  std::vector<Params> out;
  for (const Params* each : task_param_sets(suite)) out.push_back(*each);
  for (const SweepAxis& axis : suite.sweep) {
    if (axis.target != SweepAxis::Target::task) continue;
    std::vector<Params> next;
    for (const Params& p : out)
      for (const ParamValue& v : axis.values) {
        std::map<std::string, ParamValue> values = p.values();
        values[axis.name] = v;
        next.emplace_back(p.owner(), std::move(values));
      }
    out = std::move(next);
  }
  return out;
}

class TaskCatalog {
 public:
  TaskCatalog();  // every task the harness has
  const Task* find(const std::string& name) const;
  std::string names() const;
  const std::vector<std::unique_ptr<Task>>& all() const { return tasks_; }

 private:
  std::vector<std::unique_ptr<Task>> tasks_;
};

std::unique_ptr<Task> make_mi_task();
std::unique_ptr<Task> make_contrastive_task();
std::unique_ptr<Task> make_cpc_task();

}  // namespace rpcbench
