// The pretraining learning-rate schedule: linear warm-up, then a half-cosine from the peak to 0.
#pragma once

#include <cstdint>

namespace rpcbench {

// The rate for 0-based `step` of `total` steps. Warm-up ramps lr·(step + 1)/W over the first
// W = `warmup_steps` steps (fractional W allowed); the cosine's progress is measured from the end
// of warm-up, (step − W)/(total − W), so the rate is continuous there (no jump back down).
double warmup_cosine_lr(std::int64_t step, std::int64_t total, double warmup_steps, double peak);

}  // namespace rpcbench
