// Tasks are the training/evaluation protocols (mi, contrastive, cpc). They live in the harness;
// objectives only ever see score matrices.
#pragma once

#include "plugin/registry.hpp"
#include "report/reporter.hpp"
#include "suite/suite.hpp"

#include <atomic>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <filesystem>
#include <memory>
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
  // Checks that go beyond parameter types (plugin capabilities, sizes) and constructs each plugin
  // object once, so a plugin that throws is refused before any work; throws InputError.
  virtual void validate(const Suite& suite, const PluginRegistry& registry) const = 0;
  // One case. Throwing is allowed: the runner records the case as failed with the message.
  virtual CaseOutcome run(CaseRun& run) const = 0;
  // Tables for the console and the report, from every case of the run.
  virtual std::vector<ResultTable> tables(const Suite& suite,
                                          const std::vector<CaseReport>& cases) const = 0;
};

// Fixed-point text for messages and tables; NaN shows as `nan_text` (tables pass "—" for "no value").
inline std::string format_fixed(double v, int digits, const char* nan_text = "nan") {
  if (!std::isfinite(v)) return std::isnan(v) ? nan_text : (v > 0 ? "inf" : "-inf");
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
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
