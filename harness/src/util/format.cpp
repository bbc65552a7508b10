#include "util/format.hpp"

#include <fmt/format.h>

#include <cmath>

namespace rpcbench {
namespace {

const char* non_finite_text(double v) { return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"); }

}  // namespace

std::string format_fixed(double v, int digits, const char* nan_text) {
  if (std::isnan(v)) return nan_text;
  if (!std::isfinite(v)) return non_finite_text(v);
  return fmt::format("{:.{}f}", v, digits);
}

std::string format_general(double v, int significant, const char* nan_text) {
  if (std::isnan(v)) return nan_text;
  if (!std::isfinite(v)) return non_finite_text(v);
  return fmt::format("{:.{}g}", v, significant);
}

}  // namespace rpcbench
