#include "optim/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

namespace rpcbench {

double warmup_cosine_lr(std::int64_t step, std::int64_t total, double warmup_steps, double peak) {
  const auto s = static_cast<double>(step);
  if (s < warmup_steps) return peak * std::min(1.0, (s + 1.0) / warmup_steps);
  const double decay_steps = static_cast<double>(total) - warmup_steps;
  if (decay_steps <= 0.0) return peak;
  const double progress = std::clamp((s - warmup_steps) / decay_steps, 0.0, 1.0);
  return peak * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace rpcbench
