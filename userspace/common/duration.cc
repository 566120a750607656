#include "userspace/common/duration.h"

#include <cmath>
#include <string>

namespace ztrace {
namespace {

double scale_of(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  if (unit == "m") return 60e9;
  if (unit == "h") return 3600e9;
  return 0;
}

}  // namespace

std::optional<uint64_t> parse_duration_ns(std::string_view text, std::string_view bare_unit) {
  const std::string number(text);
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(number, &used);
  } catch (...) {
    return std::nullopt;
  }
  const std::string_view unit = text.substr(used);
  const double scale = scale_of(unit.empty() ? bare_unit : unit);
  if (scale == 0 || !(value >= 0) || !std::isfinite(value) || value * scale > 1e18) {
    return std::nullopt;
  }
  return static_cast<uint64_t>(value * scale);
}

}  // namespace ztrace
