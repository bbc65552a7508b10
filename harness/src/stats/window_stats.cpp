#include "stats/window_stats.hpp"

#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include <cmath>
#include <stdexcept>

namespace rpcbench {

WindowStats window_stats(const std::vector<double>& estimates, double truth) {
  if (estimates.empty()) throw std::invalid_argument("window_stats: empty window");
  const auto e = xt::adapt(estimates, {estimates.size()});
  WindowStats s;
  s.count = estimates.size();
  s.mean = xt::mean(e)();
  s.variance = xt::variance(e)();
  s.std = std::sqrt(s.variance);
  s.bias = s.mean - truth;
  s.mse = xt::mean(xt::square(e - truth))();
  return s;
}

}  // namespace rpcbench
