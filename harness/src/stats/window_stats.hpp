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

// Throws std::invalid_argument on an empty window. Non-finite estimates propagate (a diverged
// window has a non-finite mean), they are not dropped.
WindowStats window_stats(const std::vector<double>& estimates, double truth);

}  // namespace rpcbench
