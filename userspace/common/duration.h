#pragma once

// Durations as operators write them: a number and a unit (ns, us, ms, s, m, h), "1.5s".

#include <cstdint>
#include <optional>
#include <string_view>

namespace ztrace {

// nullopt for anything else, a negative value, or more than 10^18 ns. `bare_unit`: the unit of
// a number written without one ("" refuses such numbers).
std::optional<uint64_t> parse_duration_ns(std::string_view text, std::string_view bare_unit = "");

}  // namespace ztrace
