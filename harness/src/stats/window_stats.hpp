// Statistics of an estimator over a window of steps (xtensor, outside autograd).
#pragma once

#include <cstddef>
#include <vector>

namespace rpcbench {

struct WindowStats {
  std::size_t count = 0;
  double mean = 0.0;
  double variance = 0.0;  // population variance (ddof = 0), as numpy's var
  double std = 0.0;
  double bias = 0.0;      // mean − truth
  double mse = 0.0;       // mean of (estimate − truth)², = bias² + variance
};

// The half-width of the running trend of trend_variance as the tasks record it: a centred moving
// average over up to 101 steps, long against the step-to-step noise of a minibatch estimate and
// short against a level of a staircase (thousands of steps).
inline constexpr std::size_t kTrendHalfWidth = 50;

// Mean square of the residuals of `values` around their running trend, the centred moving average
// over values[i − h', i + h'] with h' = min(h, i, n − 1 − i) (symmetric up to the ends): how much
// the estimate jumps from step to step, whatever slow drift it has. Zero for a constant or a
// straight line; the plain variance of a window mixes both. NaN for an empty series; a non-finite value propagates.
double trend_variance(const std::vector<double>& values, std::size_t half_width);

// Throws std::invalid_argument on an empty window. Non-finite estimates propagate (a diverged
// window has a non-finite mean), they are not dropped.
WindowStats window_stats(const std::vector<double>& estimates, double truth);

}  // namespace rpcbench
