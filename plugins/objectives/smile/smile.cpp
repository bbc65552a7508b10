// SMILE (Song & Ermon 2020): trained with the JS surrogate; the value is DV with the critic
// clipped to [−τ, τ] inside the log-partition.
#include "../common/score_math.hpp"

#include <rpcbench/plugin.hpp>

#include <cmath>

namespace {

constexpr rpcbench::ParamSpec kParams[] = {
    {"clip", rpcbench::ParamType::real, "5.0", "τ > 0 of clip(f, −τ, τ); inf disables the clip"},
};

class Smile : public rpcbench::Objective {
 public:
  explicit Smile(const rpcbench::Params& p) : clip_(p.get_double("clip")) {
    if (!(clip_ > 0.0)) p.fail("clip", "must be > 0 (inf disables the clip)");
  }

  rpcbench::ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    using namespace rpcbench::objectives;
    const torch::Tensor js = js_value(pos, neg);
    torch::Tensor value;
    {
      torch::NoGradGuard no_grad;
      const torch::Tensor clipped = std::isinf(clip_) ? neg : neg.clamp(-clip_, clip_);
      value = pos.mean() - log_mean_exp(clipped);
    }
    return {-js, value, {{"js", js.detach()}}};
  }

 private:
  double clip_;
};

}  // namespace

RPCBENCH_OBJECTIVE(Smile, "smile", "1.0.0", "SMILE(τ): JS-trained critic, clipped DV value",
                   kParams)
