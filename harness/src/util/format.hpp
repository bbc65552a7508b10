// The one number formatter of the harness (fmt): tables, messages, CSV and plot labels.
#pragma once

#include <string>

namespace rpcbench {

// Fixed point with `digits` decimals. Non-finite values read "nan", "inf" or "-inf"; tables pass
// `nan_text` "—", where NaN means "no value" (an infinity still reads "inf": it is a result).
std::string format_fixed(double v, int digits, const char* nan_text = "nan");

// Shortest of fixed/scientific with `significant` digits ("0.0121", "1.5e-05"), as printf's %g.
std::string format_general(double v, int significant = 6, const char* nan_text = "nan");

}  // namespace rpcbench
