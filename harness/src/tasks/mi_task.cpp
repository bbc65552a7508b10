// The `mi` task: train a critic per objective on a sampler with known MI (the Gaussian / cubic
// staircase) and record the estimate at every step; per level, the mean, bias, variance and MSE
// over the last `window` steps.
#include "optim/stacked_adam.hpp"
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
#include <mutex>
#include <numeric>
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
    return {{"mean_abs_bias", "mean |bias| over levels", false}, {"mean_variance", "mean variance over levels", false, false}};
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
  EnsembleSlot ensemble_slot(const Case& c, const PluginRegistry& registry) const override;
  void run_ensemble(std::vector<CaseRun>& members, const MemberFinished& finished) const override;
  std::vector<ResultTable> tables(const Suite& suite,
                                  const std::vector<CaseReport>& cases) const override;
};

// One case's records: its per-step samples (written every kFlushEvery steps), the series its
// summaries come from, and its outcome. The same for a case trained alone and an ensemble member.
class MiCaseRecord {
 public:
  MiCaseRecord(CaseRun& r, const Dataset& dataset, std::int64_t total)
      : r_(r), dataset_(dataset), total_(total), limits_(*r.c.task_params) {
    estimates_.reserve(static_cast<std::size_t>(total));
  }

  // A step's objective values; "" or why the case diverges on its loss or estimate. The diverging
  // step's values are recorded (they are the evidence); the summaries keep the last finite ones.
  std::string begin_step(std::int64_t step, const ObjectiveResult& result) {
    loss_ = result.loss.item<double>();
    mi_ = result.mi.item<double>();
    pending_.push_back({step, "mi", mi_});
    pending_.push_back({step, "true_mi", dataset_.true_mi(step)});
    pending_.push_back({step, "loss", loss_});
    diagnostics_.clear();
    for (const auto& [name, value] : result.diagnostics) {
      const double v = value.item<double>();
      pending_.push_back({step, diagnostic_metric_name(name), v});
      diagnostics_[name] = v;
    }
    return limits_.check_loss(loss_, mi_);
  }
  void record(std::int64_t step, const char* name, double value) { pending_.push_back({step, name, value}); }
  // The step's gradient norm; "" or why the case diverges on it.
  std::string gradient(std::int64_t step, double grad_norm) {
    grad_norm_ = grad_norm;
    pending_.push_back({step, "grad_norm", grad_norm});
    return limits_.check_gradient(grad_norm);
  }
  // The step completed (the optimiser stepped).
  void end_step(std::int64_t step) {
    estimates_.push_back(mi_);
    losses_.push_back(loss_);
    grad_norms_.push_back(grad_norm_);
    for (const auto& [name, v] : diagnostics_) last_diagnostics_[name] = v;
    if ((step + 1) % kFlushEvery == 0) flush();
  }
  void stop(CaseStatus status, const std::string& why, std::int64_t step) {
    outcome_.status = status;
    outcome_.message = why + " at step " + std::to_string(step);
    outcome_.stopped_step = step;
  }
  void progress(std::int64_t steps_done, double seconds) {
    r_.events.progress({&r_.c, steps_done, total_, seconds > 0 ? steps_done / seconds : 0.0});
  }
  // Flushes the samples and computes the summaries; `seconds`: the case's time (an ensemble
  // member's share of the ensemble's).
  CaseOutcome finish(double seconds);

 private:
  void flush() {
    if (!pending_.empty()) r_.events.metrics(r_.c, pending_);
    pending_.clear();
  }

  CaseRun& r_;
  const Dataset& dataset_;
  const std::int64_t total_;
  const DivergenceLimits limits_;
  std::vector<MetricSample> pending_;
  std::vector<double> estimates_, losses_, grad_norms_;
  std::map<std::string, double> diagnostics_, last_diagnostics_;
  double loss_ = NAN, mi_ = NAN, grad_norm_ = NAN;
  CaseOutcome outcome_;
};

CaseOutcome MiCaseRecord::finish(double seconds) {
  flush();
  const Params& tp = *r_.c.task_params;
  const std::int64_t window = tp.get_int("window");
  const std::int64_t total = total_;
  const Dataset& dataset = dataset_;
  const std::vector<double>& estimates = estimates_;
  CaseOutcome outcome = std::move(outcome_);

  // Per level: the contiguous run of steps with one true MI; the window is its last K steps.
  // A level the case did not complete gets no statistics.
  std::int64_t begin = 0;
  for (std::int64_t step = 1; step <= total; ++step) {
    if (step < total && same_level(dataset.true_mi(step), dataset.true_mi(begin))) continue;
    const std::int64_t end = step;
    if (end <= static_cast<std::int64_t>(estimates.size())) {
      const std::int64_t k = std::min(window, end - begin);
      const std::vector<double> tail(estimates.begin() + (end - k), estimates.begin() + end);
      const double truth = dataset.true_mi(begin);
      const WindowStats s = window_stats(tail, truth);
      // Claim 1's jitter: over the whole level, the transient after the step in MI included (the
      // running trend follows the learning; what is left is the step-to-step jumping).
      const double jitter = trend_variance(std::vector<double>(estimates.begin() + begin, estimates.begin() + end), kTrendHalfWidth);
      const std::string scope = level_scope(truth);
      outcome.summary.insert(outcome.summary.end(),
                             {{scope, "true_mi", truth},
                              {scope, "mean", s.mean},
                              {scope, "std", s.std},
                              {scope, "variance", s.variance},
                              {scope, "bias", s.bias},
                              {scope, "mse", s.mse},
                              {scope, "trend_variance", jitter},
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
  add_stability_summary(outcome.summary, losses_, estimates, grad_norms_,
                        static_cast<std::size_t>(tp.get_int("stability_window")),
                        outcome.status == CaseStatus::diverged ? outcome.stopped_step : std::nullopt);
  // Diagnostics at the last step (e.g. "mi_ceiling", an estimator's upper bound). A diagnostic
  // named like one of the task's own summaries or per-step metrics is kept under "objective_<name>",
  // as its samples are.
  for (const auto& [name, value] : last_diagnostics_) {
    const bool taken = std::any_of(outcome.summary.begin(), outcome.summary.end(),
                                   [&](const SummaryValue& v) { return v.group.empty() && v.name == name; }) ||
                       name == "steps" || name == "final_loss" || name == "steps_per_second" ||
                       diagnostic_metric_name(name) != name;
    outcome.summary.push_back({"", taken ? "objective_" + name : name, value});
  }
  outcome.summary.push_back({"", "steps", static_cast<double>(estimates.size())});
  outcome.summary.push_back({"", "final_loss", losses_.empty() ? NAN : losses_.back()});
  outcome.summary.push_back({"", "steps_per_second", seconds > 0 ? estimates.size() / seconds : 0.0});
  return outcome;
}

void check_score_shape(const torch::Tensor& scores, std::vector<std::int64_t> expected, const std::string& encoder) {
  if (scores.sizes() != torch::IntArrayRef(expected))
    throw std::runtime_error("encoder '" + encoder + "' returned scores of shape " + c10::str(scores.sizes()) +
                             ", expected " + c10::str(torch::IntArrayRef(expected)));
}

CaseOutcome MiTask::run(CaseRun& r) const {
  const Params& tp = *r.c.task_params;
  const std::int64_t n = tp.get_int("batch_size");

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
  MiCaseRecord record(r, *dataset, total);
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto last_progress = start - std::chrono::seconds(1);
  for (std::int64_t step = 0; step < total; ++step) {
    if (r.stop_requested.load()) {
      record.stop(CaseStatus::killed, "interrupted", step);
      break;
    }
    const Batch batch = dataset->sample(step, n, generator);
    const torch::Tensor x = batch.x.to(r.device).requires_grad_(penalty_weight > 0);
    const torch::Tensor y = batch.y.to(r.device).requires_grad_(penalty_weight > 0);
    const torch::Tensor scores = critic->score_matrix(x, y);
    check_score_shape(scores, {n, n}, r.c.encoder->label);
    const ViewPairScores pairs = split_paired_scores(scores, off_diagonal);
    const ObjectiveResult result = objective->evaluate(pairs.pos, pairs.neg);
    std::string diverged = record.begin_step(step, result);
    torch::Tensor training_loss = result.loss;
    if (penalty_weight > 0) {  // the objective's loss is recorded; the penalty is added for training
      const torch::Tensor penalty = critic_gradient_penalty(scores, x, y);
      record.record(step, "gradient_penalty", penalty.item<double>());
      training_loss = training_loss + penalty_weight * penalty;
    }
    if (diverged.empty()) {
      optimizer.zero_grad();
      training_loss.backward();
      diverged = record.gradient(step, gradient_norm(module.parameters()));
    }
    if (!diverged.empty()) {
      record.stop(CaseStatus::diverged, diverged, step);
      break;
    }
    optimizer.step();
    record.end_step(step);
    const auto now = clock::now();
    if (now - last_progress > std::chrono::milliseconds(500) || step + 1 == total) {
      record.progress(step + 1, std::chrono::duration<double>(now - start).count());
      last_progress = now;
    }
  }
  return record.finish(std::chrono::duration<double>(clock::now() - start).count());
}

// Cases train together when their critics have one shape (same encoder entry and input shapes),
// their batches one size, and their objectives need no input-gradient penalty (computed per
// critic). Learning rates, seeds, datasets, objectives and windows may differ. Members per
// ensemble: as many as keep parameters, gradients and Adam's moments (16 bytes a parameter) within
// kEnsembleBytes, at most kMaxEnsembleMembers: beyond that a step leaves the cache and gets slower
// per member (bench: BM_MiEnsemble, best at 4 members of the 256×2 critic, 16 of the 64×2).
constexpr std::size_t kEnsembleBytes = std::size_t{10} << 20;
constexpr std::size_t kMaxEnsembleMembers = 16;

Task::EnsembleSlot MiTask::ensemble_slot(const Case& c, const PluginRegistry& registry) const {
  if (c.objective == nullptr || (c.encoder->plugin->capabilities & kScoresPairsStacked) == 0) return {};
  if (registry.make_objective(*c.objective->plugin, c.objective->params)->critic_gradient_penalty() > 0) return {};
  const DatasetSpec spec = registry.make_dataset(*c.dataset->plugin, c.dataset->params)->spec();
  std::size_t parameters = 0;
  for (const auto& p : registry.make_encoder(*c.encoder->plugin, c.encoder->params, spec.input)->module().parameters())
    parameters += static_cast<std::size_t>(p.numel());
  std::ostringstream key;
  key << "encoder=" << c.encoder->label << " " << c.encoder->plugin->path.string() << " " << params_json(c.encoder->params)
      << " x=" << c10::str(torch::IntArrayRef(spec.input.x_shape)) << " y=" << c10::str(torch::IntArrayRef(spec.input.y_shape))
      << " batch_size=" << c.task_params->get_int("batch_size");
  return {key.str(), std::clamp<std::size_t>(kEnsembleBytes / std::max<std::size_t>(16 * parameters, 1), 1, kMaxEnsembleMembers)};
}

// The global CPU generator's state: its Mersenne Twister and cached normal samples. Copied directly
// (a few kB, no allocation): Generator::get_state builds a tensor, a tenth of a small member's step.
struct GlobalRngState {
  at::mt19937 engine;
  c10::optional<float> next_float_normal;
  c10::optional<double> next_double_normal;
  static GlobalRngState save(at::Generator& generator) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    auto* impl = at::check_generator<at::CPUGeneratorImpl>(generator);
    return {impl->engine(), impl->next_float_normal_sample(), impl->next_double_normal_sample()};
  }
  void restore(at::Generator& generator) const {
    std::lock_guard<std::mutex> lock(generator.mutex());
    auto* impl = at::check_generator<at::CPUGeneratorImpl>(generator);
    impl->set_engine(engine);
    impl->set_next_float_normal_sample(next_float_normal);
    impl->set_next_double_normal_sample(next_double_normal);
  }
};

void MiTask::run_ensemble(std::vector<CaseRun>& runs, const MemberFinished& finished) const {
  RPCBENCH_CHECK(!runs.empty(), "an empty ensemble");
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const torch::Device device = runs.front().device;
  const std::int64_t n = runs.front().c.task_params->get_int("batch_size");
  struct Member {
    std::size_t index;  // in runs
    std::shared_ptr<Dataset> dataset;
    std::shared_ptr<Encoder> critic;
    std::shared_ptr<Objective> objective;
    at::Generator generator;
    GlobalRngState global_rng;  // the global CPU generator as this member alone would have it
    std::int64_t total = 0;
    std::unique_ptr<MiCaseRecord> record;
    double seconds = 0.0;  // its share of the ensemble's time
  };
  at::Generator global = at::detail::getDefaultCPUGenerator();
  std::vector<Member> members;
  std::vector<std::vector<torch::Tensor>> per_member_params;
  std::vector<double> learning_rates;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    CaseRun& r = runs[i];
    RPCBENCH_CHECK(r.c.task_params->get_int("batch_size") == n, "ensemble members with different batch sizes");
    // Built as run() builds a case alone, in the same order from the same seeds: member m's
    // initial parameters are the ones it gets alone.
    torch::manual_seed(r.c.seed);  // the member's critic initialisation
    Member m{i, r.registry.make_dataset(*r.c.dataset->plugin, r.c.dataset->params), nullptr, nullptr,
             at::detail::createCPUGenerator(derive_seed(r.c.seed, "data")), GlobalRngState{at::mt19937(), {}, {}}, 0, nullptr, 0.0};
    const DatasetSpec spec = m.dataset->spec();
    m.critic = r.registry.make_encoder(*r.c.encoder->plugin, r.c.encoder->params, spec.input);
    m.objective = r.registry.make_objective(*r.c.objective->plugin, r.c.objective->params);
    RPCBENCH_CHECK(m.objective->critic_gradient_penalty() == 0, "an ensemble member with a critic gradient penalty");
    m.global_rng = GlobalRngState::save(global);  // an objective that draws from it sees its own stream
    m.critic->module().train();
    m.total = spec.stream_steps;
    m.record = std::make_unique<MiCaseRecord>(r, *m.dataset, m.total);
    per_member_params.push_back(m.critic->module().parameters());
    learning_rates.push_back(r.c.task_params->get_double("learning_rate"));
    members.push_back(std::move(m));
  }
  StackedAdam optimizer(stack_member_parameters(per_member_params, device), learning_rates);
  Encoder& scorer = *members.front().critic;  // its stacked_score_matrices() reads only the stacked parameters
  const std::string& encoder_label = runs.front().c.encoder->label;
  const torch::Tensor off_diagonal = off_diagonal_mask(n, device);

  std::vector<std::size_t> active(members.size());  // positions in `members`, in stacked order
  std::iota(active.begin(), active.end(), 0);
  // Each member's time is its share: every interval split among the members active in it.
  auto last_tick = start;
  auto tick = [&] {
    const auto now = clock::now();
    const double each = std::chrono::duration<double>(now - last_tick).count() / static_cast<double>(active.size());
    for (std::size_t a : active) members[a].seconds += each;
    last_tick = now;
  };
  tick();
  auto last_progress = start - std::chrono::seconds(1);
  auto leave = [&](const std::vector<bool>& leaving) {  // drops members from the stacked tensors
    std::vector<std::int64_t> keep;
    std::vector<std::size_t> still;
    for (std::size_t a = 0; a < active.size(); ++a)
      if (!leaving[a]) keep.push_back(static_cast<std::int64_t>(a)), still.push_back(active[a]);
    if (still.size() == active.size()) return;
    if (!still.empty()) optimizer.keep_members(keep);
    active = std::move(still);
  };
  auto end_member = [&](Member& m) {
    CaseOutcome outcome = m.record->finish(m.seconds);
    outcome.seconds = m.seconds;
    finished(m.index, std::move(outcome));
  };
  // A member that throws fails alone, as it would alone: its unflushed samples and its summaries
  // are not recorded, as the runner records a case that throws.
  auto fail = [&](Member& m, std::string message) {
    CaseOutcome failed;
    failed.status = CaseStatus::failed;
    failed.message = std::move(message);
    failed.seconds = m.seconds;
    finished(m.index, std::move(failed));
    m.record.reset();
  };
  auto message_of = [](const std::exception& e) {
    if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
      const std::string what = c10_error->what_without_backtrace();
      return what.substr(0, what.find('\n'));
    }
    return std::string(e.what());
  };

  for (std::int64_t step = 0; !active.empty(); ++step) {
    if (runs.front().stop_requested.load()) {
      tick();
      for (std::size_t a : active) {
        members[a].record->stop(CaseStatus::killed, "interrupted", step);
        end_member(members[a]);
      }
      break;
    }
    std::vector<torch::Tensor> xs, ys;
    std::vector<bool> leaving(active.size(), false);
    for (std::size_t a = 0; a < active.size(); ++a) {
      try {
        const Batch batch = members[active[a]].dataset->sample(step, n, members[active[a]].generator);
        xs.push_back(batch.x);
        ys.push_back(batch.y);
      } catch (const std::exception& e) {
        tick();
        fail(members[active[a]], message_of(e));
        leaving[a] = true;
      }
    }
    leave(leaving);
    if (active.empty()) break;
    const auto count = static_cast<std::int64_t>(active.size());
    const torch::Tensor scores = scorer.stacked_score_matrices(optimizer.params(), torch::stack(xs).to(device),
                                                               torch::stack(ys).to(device));
    check_score_shape(scores, {count, n, n}, encoder_label);
    // One split and one unbind for all members: each member's gradient flows back through one
    // stacking node (a select per member would zero-fill an [M, N, N] gradient per member). Each
    // member gets copies, which its objective may modify in place as it may alone.
    const ViewPairScores stacked_pairs = split_paired_scores(scores, off_diagonal);
    const std::vector<torch::Tensor> member_pos = stacked_pairs.pos.unbind(0), member_neg = stacked_pairs.neg.unbind(0);
    leaving.assign(active.size(), false);
    std::vector<torch::Tensor> training_losses;
    for (std::size_t a = 0; a < active.size(); ++a) {
      Member& m = members[active[a]];
      std::string diverged, failure;
      try {
        ObjectiveResult result;
        m.global_rng.restore(global);
        result = m.objective->evaluate(member_pos[a].clone(), member_neg[a].clone());
        m.global_rng = GlobalRngState::save(global);
        // What backward() refuses for a case alone fails the member here too (the sum of the
        // members' losses would otherwise train past it).
        if (!result.loss.defined() || result.loss.numel() != 1)
          throw std::runtime_error("the objective's loss is not a scalar");
        if (!result.loss.requires_grad())
          throw std::runtime_error("the objective's loss carries no gradient (does not require grad)");
        diverged = m.record->begin_step(step, result);
        if (diverged.empty()) training_losses.push_back(result.loss.reshape({}));
      } catch (const std::exception& e) {
        failure = message_of(e);
      }
      if (!failure.empty()) {
        tick();
        fail(m, failure);
        leaving[a] = true;
      } else if (!diverged.empty()) {
        m.record->stop(CaseStatus::diverged, diverged, step);
        leaving[a] = true;
      }
    }
    if (!training_losses.empty()) {
      // Members' parameters are disjoint, so the gradient of the sum is each member's own.
      optimizer.zero_grad();
      torch::stack(training_losses).sum().backward();
      const std::vector<double> norm = optimizer.member_grad_norms();
      for (std::size_t a = 0; a < active.size(); ++a) {
        if (leaving[a]) continue;
        Member& m = members[active[a]];
        const std::string diverged = m.record->gradient(step, norm[a]);
        if (!diverged.empty()) {
          m.record->stop(CaseStatus::diverged, diverged, step);
          leaving[a] = true;
        }
      }
    }
    tick();
    for (std::size_t a = 0; a < active.size(); ++a)
      if (leaving[a] && members[active[a]].record) end_member(members[active[a]]);
    leave(leaving);
    if (active.empty()) break;
    optimizer.step();
    tick();
    std::vector<bool> done(active.size(), false);
    for (std::size_t a = 0; a < active.size(); ++a) {
      Member& m = members[active[a]];
      m.record->end_step(step);
      if (step + 1 == m.total) {
        m.record->progress(step + 1, m.seconds);
        end_member(m);
        done[a] = true;
      }
    }
    const auto now = clock::now();
    if (now - last_progress > std::chrono::milliseconds(500)) {
      for (std::size_t a = 0; a < active.size(); ++a)
        if (!done[a]) members[active[a]].record->progress(step + 1, members[active[a]].seconds);
      last_progress = now;
    }
    leave(done);
  }
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
