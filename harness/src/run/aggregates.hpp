// Statistics over the cases of a run, computed once at its end from every case's summaries (the
// cases run now and, on --resume, those completed before): per grid point across seeds, and per
// numeric sweep axis across its values. Stored as `aggregates` rows and shown as tables.
#pragma once

#include "db/database.hpp"
#include "report/reporter.hpp"
#include "suite/suite.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace rpcbench {

// A case-level summary (scope "") that a task puts forward for comparison across seeds and grid
// axes: final accuracies, mean |bias| over levels, …
struct HeadlineMetric {
  std::string name;
  std::string title;
  bool higher_is_better = true;
  // Downstream quality that claim 2 (batch-size sensitivity) is about; false for a diagnostic
  // headline such as the MI task's mean variance over levels.
  bool batch_size_evidence = true;
};

// A plot the HTML report draws for each dataset of a run, declared by the run's task: the report
// itself names no metric of any task.
struct PlotSpec {
  enum class Kind {
    step_curves,   // a per-step sample against the step, one line per case (✕ where one diverged)
    scope_bars,    // a summary per scope (e.g. MI level, sorted numerically), bars per case
    summary_bars,  // case-level summaries (scope ""), one bar group per case, the control included
  };
  Kind kind = Kind::step_curves;
  std::string title;                    // "{dataset}" is replaced by the dataset's label
  std::string y_label;
  std::vector<std::string> metrics;     // sample names (step_curves) or summary names
  std::string reference_sample;         // step_curves: a dashed reference from the samples (true MI)
  std::string ceiling_summary;          // step_curves: a dashed constant from a case summary (log N)
  std::string scope_prefix;             // scope_bars: scopes starting with this ("mi=")
};

// The per-case stability summaries every training task records (scope ""), in table order.
inline const std::vector<std::pair<std::string, std::string>>& stability_columns() {
  static const std::vector<std::pair<std::string, std::string>> columns = {
      {"loss_variance", "loss var"}, {"mi_variance", "estimate var"}, {"grad_norm_variance", "grad-norm var"}};
  return columns;
}

// Per case group (the seeds of one grid point): for the statistic "diverged", the fraction of
// finished-or-diverged cases that diverged with its Wilson 95% interval; for every summary value,
// mean, std (ddof 1), a bootstrap 95% interval of the mean and n over its finite values. Per
// numeric sweep axis and headline metric: the least-squares slope against log2(value) (value
// itself when one is ≤ 0) with a 95% t-interval, and the relative drop from the largest value's
// mean to the smallest's.
std::vector<AggregateValue> compute_aggregates(const Suite& suite, const std::vector<CaseReport>& reports,
                                               const std::vector<HeadlineMetric>& headline);

// The group key of a case group without one axis ("dataset=d/objective=o/batch_size=64" →
// "dataset=d/objective=o"): the grouping of that axis's slopes.
std::string group_without_axis(const std::string& group, const std::string& axis);

// A [sweep] value of a resolved suite (JSON) as it appears in case keys.
std::string sweep_value_text(const nlohmann::json& value);

// Statistic names for an axis: "slope_log2(batch_size)", "relative_drop(batch_size)", …
std::string axis_statistic(const std::string& statistic, const std::string& axis, bool log2);

// Recomputes the aggregates of run `run_id` from what the database holds: its resolved suite,
// cases and summaries (after merging shards, whose own aggregates covered only their part).
void recompute_aggregates(Database& db, std::int64_t run_id);

// Tables from the aggregates: across seeds (when the suite has several repeats) and one pivot
// per numeric axis and headline metric.
std::vector<ResultTable> aggregate_tables(const Suite& suite, const std::vector<CaseReport>& reports,
                                          const std::vector<AggregateValue>& aggregates,
                                          const std::vector<HeadlineMetric>& headline);

}  // namespace rpcbench
