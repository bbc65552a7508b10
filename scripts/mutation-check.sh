#!/usr/bin/env bash
# Mutation check: each mutant below is a plausible bug in an objective, a task or the statistics
# (a flipped sign, a wrong mask, a dropped correction). For each, the script makes that one edit,
# rebuilds what it touches, runs the tests that should notice, and restores the file. A mutant
# that no test kills is a hole in the tests. Prints the kill rate; exit 1 if any mutant survives.
#
#   scripts/mutation-check.sh [NAME_FILTER]      (BUILD_DIR, default build/, must be configured)
#
# Slow by design (one incremental build per mutant, about a minute each on 2 cores): not part of
# ctest. Every mutant's text must occur exactly once, so the list cannot silently go stale.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
filter=${1:-}
[[ -f "$build/build.ninja" ]] || { echo "mutation-check: $build is not configured (run scripts/build.sh)"; exit 2; }

objective_tests='PinnedValues|AtOptimalCritic|RpcAtItsOptimum|AllObjectives|Chi2|Stability'
# name | file | original text | mutated text | build targets | ctest regex
mutants=(
  "js-sign-of-EQ|plugins/objectives/common/score_math.hpp|         torch::nn::functional::softplus(neg).mean();|         -torch::nn::functional::softplus(neg).mean();|objectives_test|$objective_tests"
  "mine-plain-dv-gradient|plugins/objectives/mine/mine.cpp|log_ma_.defined() ? log_ma_ : log_partition.detach()|log_partition.detach()|objectives_test|$objective_tests"
  "mine-momentum-swapped|plugins/objectives/mine/mine.cpp|log_ma_ + std::log(momentum_)|log_ma_ + std::log1p(-momentum_)|objectives_test|$objective_tests"
  "nwj-shift-sign|plugins/objectives/common/score_math.hpp|log_mean_exp(neg - 1.0)|log_mean_exp(neg + 1.0)|objectives_test|$objective_tests"
  "dv-log-mean-count|plugins/objectives/common/score_math.hpp|std::log(static_cast<double>(x.numel()))|std::log(static_cast<double>(x.numel() + 1))|objectives_test|$objective_tests"
  "infonce-ceiling-K|plugins/objectives/infonce/infonce.cpp|std::log(static_cast<double>(neg.size(1) + 1))|std::log(static_cast<double>(neg.size(1)))|objectives_test|$objective_tests"
  "infonce-temperature-times|plugins/objectives/common/score_math.hpp|neg}, 1) / temperature;|neg}, 1) * temperature;|objectives_test|$objective_tests"
  "rpc-gamma-on-positives|plugins/objectives/rpc/rpc_objective.hpp|0.5 * gamma_ * neg.square().mean()|0.5 * gamma_ * pos.square().mean()|objectives_test|$objective_tests"
  "rpc-ratio-denominator|plugins/objectives/rpc/rpc_objective.hpp|(gamma_ * f + alpha_) / (1.0 - beta_ * f)|(gamma_ * f + alpha_) / (1.0 + beta_ * f)|objectives_test|$objective_tests"
  "smile-clip-asymmetric|plugins/objectives/smile/smile.cpp|neg.clamp(-clip_, clip_)|neg.clamp(-clip_, 2 * clip_)|objectives_test|$objective_tests"
  "js-plus-one-readout|plugins/objectives/js/js.cpp|nwj_value(pos + 1.0, neg + 1.0)|nwj_value(pos + 1.0, neg)|objectives_test|$objective_tests"
  "mi-positive-of-another-pair|harness/src/tasks/view_pairs.cpp|return {scores.diagonal(0, -2, -1), scores.masked_select(off_diagonal)|return {scores.roll(1, -1).diagonal(0, -2, -1), scores.masked_select(off_diagonal)|tasks_test|MiTask|MiPairs|MiEnsemble"
  "mi-positive-of-another-anchor|harness/src/tasks/view_pairs.cpp|return {scores.diagonal(0, -2, -1), scores.masked_select(off_diagonal)|return {scores.diagonal(0, -2, -1).roll(1, -1), scores.masked_select(off_diagonal)|tasks_test|MiTask|MiPairs|MiEnsemble"
  "mi-negatives-by-column|harness/src/tasks/view_pairs.cpp|scores.masked_select(off_diagonal).view(neg_shape)}|scores.transpose(-2, -1).masked_select(off_diagonal).view(neg_shape)}|tasks_test|MiTask|MiPairs|MiEnsemble"
  "mi-task-window-whole-level|harness/src/tasks/mi_task.cpp|estimates.begin() + (end - k), estimates.begin() + end|estimates.begin() + begin, estimates.begin() + end|tasks_test|MiTask"
  "window-bias-sign|harness/src/stats/window_stats.cpp|s.bias = s.mean - truth;|s.bias = truth - s.mean;|stats_test|WindowStats"
  "gradient-norm-squared|harness/src/tasks/task.hpp|torch::stack(squares).sum().sqrt()|torch::stack(squares).sum()|tasks_test|MiTask"
  "staircase-rho|plugins/datasets/gaussian_staircase/gaussian_staircase.cpp|xt::exp(-2.0 * target / d)|xt::exp(-1.0 * target / d)|datasets_test|GaussianStaircase"
  "contrastive-positive-of-another-image|harness/src/tasks/view_pairs.cpp|const torch::Tensor positive_of = (idx + n) % views;|const torch::Tensor positive_of = (idx + n + 1) % views;|tasks_test|ViewPairs"
  "mann-whitney-tail|harness/src/stats/two_sample.cpp|if (std::abs(sum - expected) >= distance) extreme += 1.0;|if (std::abs(sum - expected) > distance + 1) extreme += 1.0;|compare_test|Statistics|Compare"
  "gate-verdict-swapped|harness/src/compare/compare.cpp|worse ? Verdict::regression : Verdict::improvement|worse ? Verdict::improvement : Verdict::regression|compare_test|Compare"
  "gate-ignores-status|harness/src/compare/compare.cpp|if (any_gate && base_finished && unfinished != cand.statuses.end())|if (false && any_gate && base_finished)|compare_test|Compare"
  "wilson-centre|harness/src/stats/intervals.cpp|(p + z * z / (2 * nn))|(p + z * z / (4 * nn))|stats_test|Intervals"
  "t-interval-df|harness/src/stats/intervals.cpp|students_t(static_cast<double>(n - 1))|students_t(static_cast<double>(n))|stats_test|Intervals"
  "slope-denominator|harness/src/stats/intervals.cpp|s.slope = xt::sum((x - mx) * (y - my))() / sxx;|s.slope = xt::sum((x - mx) * (y - my))() / (sxx + 1);|stats_test|Intervals"
  "bootstrap-tail|harness/src/stats/intervals.cpp|const double tail = (1.0 - level) / 2.0;|const double tail = (1.0 - level) / 4.0;|stats_test|Intervals"
  "diverged-fraction|harness/src/run/aggregates.cpp|static_cast<double>(k) / static_cast<double>(n)|static_cast<double>(k) / static_cast<double>(n + 1)|run_test|Aggregates"
  "relative-drop-sign|harness/src/run/aggregates.cpp|largest != 0 ? (largest - smallest) / std::abs(largest)|largest != 0 ? (smallest - largest) / std::abs(largest)|run_test|Aggregates"
  "claims-direction|harness/src/claims/claims.cpp|if (higher_better) return Estimate{slope, lo, hi,|if (!higher_better) return Estimate{slope, lo, hi,|claims_test|Claims"
  "claims-bias-one-sided|harness/src/claims/claims.cpp|!(std::abs(gap) <= 0.5)|!(gap <= 0.5)|claims_test|Claims"
  "claims-overlap-counts|harness/src/claims/claims.cpp|if (subject.high < baseline.low) return ClaimVerdict::supported;|if (subject.low < baseline.low) return ClaimVerdict::supported;|claims_test|Claims"
  "claims-diverged-points-ignored|harness/src/claims/claims.cpp|if (lost_subject > 0 |if (false && lost_subject > 0 |claims_test|Claims"
  "shard-cost-order|harness/src/run/shard.cpp|if (costs[a] != costs[b]) return costs[a] > costs[b];|if (costs[a] != costs[b]) return costs[a] < costs[b];|run_test|Shard"
  "lars-trust-ratio-inside|harness/src/optim/lars.cpp|return trust_ * w_norm / (g_norm + weight_decay_ * w_norm);|return trust_ * w_norm / (g + weight_decay_ * w).norm().item<double>();|optim_test|Lars"
  "cosine-from-step-zero|harness/src/optim/lr_schedule.cpp|std::clamp((s - warmup_steps) / decay_steps, 0.0, 1.0)|std::clamp(s / static_cast<double>(total), 0.0, 1.0)|optim_test|LrSchedule"
  "cpc-negative-may-be-own-positive|harness/src/tasks/cpc_task.cpp|steps_ahead * (u >= skip_from)|steps_ahead * (u > skip_from)|tasks_test|CpcNegatives"
  "cpc-target-one-frame-early|harness/src/tasks/cpc_task.cpp|z.narrow(1, k, w)|z.narrow(1, k - 1, w)|tasks_test|CpcLoss"
  "librispeech-lists-may-overlap|plugins/datasets/librispeech/librispeech.cpp|if (auto [at, fresh] = listed_in.emplace(id, split); !fresh)|if (auto [at, fresh] = listed_in.emplace(id, split); !fresh && id.empty())|datasets_test|LibriSpeech"
  "bmi-student-correction-sign|plugins/datasets/bmi/bmi.cpp|return g(nu) + g(nu + x + y) - g(nu + x) - g(nu + y);|return g(nu) - g(nu + x + y) - g(nu + x) - g(nu + y);|datasets_test|Bmi"
  "bmi-uniform-wide-noise|plugins/datasets/bmi/bmi.cpp|: 1.0 / (4.0 * noise_);|: 1.0 / (2.0 * noise_);|datasets_test|Bmi"
  "bmi-uniform-one-sided-noise|plugins/datasets/bmi/bmi.cpp|(2.0 * torch::rand({batch_size, dim_y_}, generator, f64) - 1.0)|torch::rand({batch_size, dim_y_}, generator, f64)|datasets_test|Bmi"
  "bmi-dense-shared-factor|plugins/datasets/bmi/bmi.cpp|std::sqrt(correlation_) * shared|correlation_ * shared|datasets_test|Bmi"
  "bmi-spiral-angle|plugins/datasets/bmi/bmi.cpp|out.select(1, 1).copy_(s * a + c * b);|out.select(1, 1).copy_(s * a - c * b);|datasets_test|Bmi"
  "ranking-incomplete-datasets|harness/src/run/aggregates.cpp|finite == datasets.size() ? sum|finite > 0 ? sum|run_test|Aggregates"
  "wpc-penalty-not-trained|harness/src/tasks/mi_task.cpp|      training_loss.backward();|      result.loss.backward();|tasks_test|MiTask"
  "wpc-penalty-in-recorded-loss|harness/src/tasks/mi_task.cpp|      training_loss = training_loss + penalty_weight * penalty;|      training_loss = training_loss + penalty_weight * penalty; record.record(step, \"loss\", training_loss.item<double>());|tasks_test|MiTask"
  "penalty-negative-of-another-x|harness/src/tasks/critic_penalty.cpp|grads[0].roll(-x_shift, 0)|grads[0].roll(x_shift, 0)|tasks_test|CriticPenalty"
  "penalty-two-sided|harness/src/tasks/critic_penalty.cpp|return torch::relu(norms - 1.0).square();|return (norms - 1.0).square();|tasks_test|CriticPenalty"
  "unknown-truth-one-level-per-step|harness/src/tasks/mi_task.cpp|(std::isnan(a) && std::isnan(b))|(std::isnan(a) && !std::isnan(a))|cli_test|CliEstimate"
  "csv-x-and-y-swapped|plugins/datasets/samples_file/sample_files.cpp|? samples.x : samples.y).values.push_back(v);|? samples.y : samples.x).values.push_back(v);|datasets_test|SamplesFile"
  "npy-fortran-read-as-c|plugins/datasets/samples_file/sample_files.cpp|const std::size_t at = fortran ? (i % m.rows) * m.cols + i / m.rows : i;|const std::size_t at = i;|datasets_test|SamplesFile"
  "path-recorded-by-location|harness/src/suite/suite_loader.cpp|j[\"params\"][key] = {{\"sha256\", file.sha256}};|j[\"params\"][key] = file.written;|suite_test|SuiteLoader"
  "mi-headline-partial-levels|harness/src/tasks/mi_task.cpp|== total && levels > 0;|>= 0 && levels > 0;|tasks_test|MiTask"
  "ensemble-learning-rate-of-member-0|harness/src/optim/stacked_adam.cpp|-learning_rates_[static_cast<std::size_t>(member)] / bias_correction1|-learning_rates_[0] / bias_correction1|optim_test tasks_test|StackedAdam|MiEnsemble"
  "ensemble-adam-no-bias-correction|harness/src/optim/stacked_adam.cpp|[static_cast<std::size_t>(member)] / bias_correction1)|[static_cast<std::size_t>(member)])|optim_test|StackedAdam"
  "ensemble-keeps-the-wrong-members|harness/src/tasks/mi_task.cpp|if (!leaving[a]) keep.push_back(static_cast<std::int64_t>(a))|if (!leaving[a]) keep.push_back(static_cast<std::int64_t>(active.size() - 1 - a))|tasks_test|MiEnsemble"
  "ensemble-one-data-stream|harness/src/tasks/mi_task.cpp|members[active[a]].dataset->sample(step, n, members[active[a]].generator)|members[active[a]].dataset->sample(step, n, members[active.front()].generator)|tasks_test|MiEnsemble"
  "ensemble-seed-of-member-0|harness/src/tasks/mi_task.cpp|torch::manual_seed(r.c.seed);  // the member's critic initialisation|torch::manual_seed(runs.front().c.seed);|tasks_test|MiEnsemble"
  "ensemble-grad-norm-of-member-0|harness/src/tasks/mi_task.cpp|m.record->gradient(step, norm[a])|m.record->gradient(step, norm[0])|tasks_test|MiEnsemble"
  "ensemble-negatives-of-another-member|harness/src/tasks/mi_task.cpp|m.objective->evaluate(member_pos[a].clone(), member_neg[a].clone())|m.objective->evaluate(member_pos[a].clone(), member_neg[(a + 1) % active.size()].clone())|tasks_test|MiEnsemble"
  "ensemble-separable-scores-transposed|plugins/encoders/separable/separable.cpp|return torch::bmm(hy, gx.transpose(1, 2));|return torch::bmm(gx, hy.transpose(1, 2));|encoders_test rpcbench_encoder_separable|Critics"
  "ensemble-adam-keeps-denormals|harness/src/optim/stacked_adam.cpp|const FlushDenormals flush_denormals;|(void)0;|optim_test|StackedAdam"
  "ensemble-global-rng-shared|harness/src/tasks/mi_task.cpp|m.global_rng.restore(global);|(void)0;|tasks_test|MiEnsemble"
  "ensemble-weights-not-transposed-in-memory|harness/src/optim/stacked_adam.cpp|if (p.dim() == 3) p = p.transpose(1, 2).contiguous().transpose(1, 2);|(void)p;|optim_test|StackedAdam"
)

killed=0 survived=0 total=0
survivors=()
restore=""
trap '[[ -n "$restore" ]] && mv -f "$restore.mutation-orig" "$restore" && touch "$restore"' EXIT
for m in "${mutants[@]}"; do
  IFS='|' read -r name file from to targets tests <<< "$m"
  # The ctest regex may itself contain '|': everything after the fifth field.
  tests=${m#*|*|*|*|*|}
  [[ -z "$filter" || "$name" == *"$filter"* ]] || continue
  path="$root/$file"
  occurrences=$(FROM="$from" perl -0ne '$n = () = /\Q$ENV{FROM}\E/g; print $n' "$path")
  [[ "$occurrences" == 1 ]] || { echo "mutation-check: '$name': text occurs $occurrences times in $file (expected once)"; exit 2; }
  cp -p "$path" "$path.mutation-orig"
  restore=$path
  FROM="$from" TO="$to" perl -0pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/' "$path"
  total=$((total + 1))
  if ! cmake --build "$build" --target $targets > "$build/mutation-$name.log" 2>&1; then
    verdict="killed (does not compile)"
  elif (cd "$build" && ctest -R "$tests" --timeout 600 >> "mutation-$name.log" 2>&1); then
    verdict="SURVIVED"
  else
    verdict="killed"
  fi
  mv -f "$path.mutation-orig" "$path"
  touch "$path"  # newer than the mutant's objects, so the next build restores them
  restore=""
  if [[ "$verdict" == SURVIVED ]]; then
    survived=$((survived + 1)); survivors+=("$name")
  else
    killed=$((killed + 1))
  fi
  printf '%-40s %s\n' "$name" "$verdict"
done
# Rebuild the restored sources so the tree's binaries are the real ones again.
cmake --build "$build" > /dev/null 2>&1 || true
echo "mutation-check: $killed of $total mutants killed${survivors:+; survived: ${survivors[*]}}"
[[ $survived -eq 0 ]]
