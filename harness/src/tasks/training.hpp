// What every training task shares: divergence limits checked at each step, and the per-case
// stability summaries (variance of the loss, the estimate and the gradient norm).
#pragma once

#include "plugin/registry.hpp"
#include "report/reporter.hpp"

#include <optional>
#include <string>
#include <vector>

namespace rpcbench {

// diverge_loss_above, diverge_estimate_above, diverge_grad_norm_above (inf: off) and
// stability_window: appended to each training task's own parameters.
std::vector<ParamDecl> training_params();
// Range checks of those parameters (ParamError naming the key).
void check_training_params(const Params& params);

// A case diverges at the first step whose loss or gradient norm is not finite, or whose loss,
// |estimate| or gradient norm exceeds the suite's limit. The checks return "" or the reason.
class DivergenceLimits {
 public:
  explicit DivergenceLimits(const Params& task_params);
  std::string check_loss(double loss, double estimate) const;  // before backward
  std::string check_gradient(double grad_norm) const;          // before the optimiser step

 private:
  double loss_, estimate_, grad_norm_;
};

// The stability summaries of one case (scope ""), from the steps it completed: the variance
// (ddof 0) of the loss, the estimate and the gradient norm over the last `window` steps
// (loss_variance, mi_variance, grad_norm_variance) and over the whole run (…_run), the estimate's
// trend_variance over the run (mi_trend_variance), and, when it diverged, steps_to_divergence.
void add_stability_summary(std::vector<SummaryValue>& summary, const std::vector<double>& losses,
                           const std::vector<double>& estimates, const std::vector<double>& grad_norms,
                           std::size_t window, std::optional<std::int64_t> diverged_at);

}  // namespace rpcbench
