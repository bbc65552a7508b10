// χ²-divergence objective: RPC with α = 1, β = 0, γ = 1, i.e. without the relative parameters.
#include "../rpc/rpc_objective.hpp"

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"readout", ParamType::text, "\"mean_score\"",
     "MI read-out reported as `mi`: \"mean_score\" or \"ratio\""},
};

class Chi2 : public rpcbench::objectives::RpcObjective {
 public:
  explicit Chi2(const rpcbench::Params& p) : RpcObjective(1.0, 0.0, 1.0, p.get_string("readout")) {
    rpcbench::objectives::check_readout(p);
  }
};

}  // namespace

RPCBENCH_OBJECTIVE(Chi2, "chi2", "1.0.0", "Chi-squared divergence (RPC with α=1, β=0, γ=1)", kParams)
