#include "rpc_objective.hpp"

namespace {

using rpcbench::ParamType;

constexpr rpcbench::ParamSpec kParams[] = {
    {"alpha", ParamType::real, "1.0", "weight α > 0 of E_Q[f]"},
    {"beta", ParamType::real, "1e-4", "weight β ≥ 0 of E_P[f²]/2"},
    {"gamma", ParamType::real, "1.0", "weight γ ≥ 0 of E_Q[f²]/2 (γ > 0 bounds the critic)"},
    {"readout", ParamType::text, "\"mean_score\"",
     "MI read-out reported as `mi`: \"mean_score\" (public code) or \"ratio\" (E_P[log r̂])"},
};

class Rpc : public rpcbench::objectives::RpcObjective {
 public:
  explicit Rpc(const rpcbench::Params& p)
      : RpcObjective(p.get_double_in("alpha", 0.0, 1e9), p.get_double_in("beta", 0.0, 1e9),
                     p.get_double_in("gamma", 0.0, 1e9), p.get_string("readout")) {
    rpcbench::objectives::check_readout(p);
  }
};

}  // namespace

RPCBENCH_OBJECTIVE(Rpc, "rpc", "1.0.0", "Relative Predictive Coding (α, β, γ)", kParams)
