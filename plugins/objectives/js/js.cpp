// Jensen-Shannon (f-GAN / Deep InfoMax): trained with the JS surrogate, read out with NWJ.
#include "../common/score_math.hpp"

#include <rpcbench/plugin.hpp>

namespace {

constexpr rpcbench::ParamSpec kParams[] = {
    {"readout", rpcbench::ParamType::text, "\"nwj_plus_one\"",
     "MI read-out reported as `mi`: \"nwj_plus_one\" (NWJ(f+1), RPC's code; exact at the JS "
     "optimum f* = log r) or \"nwj\" (NWJ(f), Poole/SMILE; e⁻¹ low at the optimum)"},
};

class Js : public rpcbench::Objective {
 public:
  explicit Js(const rpcbench::Params& p) : plus_one_(p.get_string("readout") == "nwj_plus_one") {
    const std::string& r = p.get_string("readout");
    if (r != "nwj_plus_one" && r != "nwj")
      p.fail("readout", "must be \"nwj_plus_one\" or \"nwj\", got \"" + r + "\"");
  }

  rpcbench::ObjectiveResult evaluate(const torch::Tensor& pos, const torch::Tensor& neg) override {
    using namespace rpcbench::objectives;
    const torch::Tensor js = js_value(pos, neg);
    torch::Tensor nwj, nwj_plus_one;
    {
      torch::NoGradGuard no_grad;
      nwj = nwj_value(pos, neg);
      nwj_plus_one = nwj_value(pos + 1.0, neg + 1.0);
    }
    return {-js, plus_one_ ? nwj_plus_one : nwj,
            {{"mi_nwj", nwj}, {"mi_nwj_plus_one", nwj_plus_one}, {"js", js.detach()}}};
  }

 private:
  bool plus_one_;
};

}  // namespace

RPCBENCH_OBJECTIVE(Js, "js", "1.0.0", "Jensen-Shannon surrogate, NWJ read-outs", kParams)
