#include "tasks/training.hpp"

#include "stats/intervals.hpp"
#include "stats/window_stats.hpp"
#include "util/format.hpp"

#include <cmath>

namespace rpcbench {

std::vector<ParamDecl> training_params() {
  return {
      {"diverge_loss_above", ParamType::real, "inf", false,
       "the case diverges when the loss exceeds this (a NaN/inf loss always diverges)"},
      {"diverge_estimate_above", ParamType::real, "inf", false,
       "… when |MI estimate| exceeds this (a NaN/inf estimate always diverges)"},
      {"diverge_grad_norm_above", ParamType::real, "inf", false,
       "… when the gradient norm exceeds this (a NaN/inf gradient always diverges)"},
      {"stability_window", ParamType::integer, "500", false,
       "steps of the trailing window for the loss / estimate / gradient-norm variances"},
  };
}

void check_training_params(const Params& p) {
  for (const char* key : {"diverge_loss_above", "diverge_estimate_above", "diverge_grad_norm_above"})
    if (std::isnan(p.get_double(key))) p.fail(key, "must be a number (inf turns the limit off)");
  if (!(p.get_double("diverge_estimate_above") > 0)) p.fail("diverge_estimate_above", "must be > 0");
  if (!(p.get_double("diverge_grad_norm_above") > 0)) p.fail("diverge_grad_norm_above", "must be > 0");
  p.get_int_in("stability_window", 1);
}

DivergenceLimits::DivergenceLimits(const Params& p)
    : loss_(p.get_double("diverge_loss_above")),
      estimate_(p.get_double("diverge_estimate_above")),
      grad_norm_(p.get_double("diverge_grad_norm_above")) {}

std::string DivergenceLimits::check_loss(double loss, double estimate) const {
  if (!std::isfinite(loss)) return "loss is " + format_general(loss);
  if (loss > loss_) return "loss " + format_general(loss, 4) + " exceeds diverge_loss_above = " + format_general(loss_);
  // An estimate that is no number is the estimator failing, whatever its loss (JS's NWJ read-out
  // overflows while its softplus loss stays finite).
  if (!std::isfinite(estimate)) return "MI estimate is " + format_general(estimate);
  if (std::isfinite(estimate_) && !(std::abs(estimate) <= estimate_))
    return "|MI estimate| " + format_general(std::abs(estimate), 4) + " exceeds diverge_estimate_above = " +
           format_general(estimate_);
  return "";
}

std::string DivergenceLimits::check_gradient(double grad_norm) const {
  if (!std::isfinite(grad_norm)) return "gradient norm is " + format_general(grad_norm);
  if (grad_norm > grad_norm_)
    return "gradient norm " + format_general(grad_norm, 4) + " exceeds diverge_grad_norm_above = " +
           format_general(grad_norm_);
  return "";
}

void add_stability_summary(std::vector<SummaryValue>& summary, const std::vector<double>& losses,
                           const std::vector<double>& estimates, const std::vector<double>& grad_norms,
                           std::size_t window, std::optional<std::int64_t> diverged_at) {
  const std::pair<const char*, const std::vector<double>*> series[] = {
      {"loss", &losses}, {"mi", &estimates}, {"grad_norm", &grad_norms}};
  for (const auto& [name, values] : series) {
    if (values->empty()) continue;
    summary.push_back({"", std::string(name) + "_variance", trailing_variance(*values, window)});
    summary.push_back({"", std::string(name) + "_variance_run", trailing_variance(*values, values->size())});
  }
  // The estimate's jitter around its running trend over the run: a stability measure that the
  // drift of learning does not inflate.
  if (!estimates.empty()) summary.push_back({"", "mi_trend_variance", trend_variance(estimates, kTrendHalfWidth)});
  if (diverged_at) summary.push_back({"", "steps_to_divergence", static_cast<double>(*diverged_at)});
}

}  // namespace rpcbench
