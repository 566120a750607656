#pragma once

// Bounded route labels: a URL path with its identifiers collapsed, so that /users/1 and
// /users/2 are one series.

#include <string>
#include <string_view>

namespace ztrace::metrics {

inline constexpr std::string_view kIdSegment = "{id}";
inline constexpr size_t kMaxRouteBytes = 128;

// Segments that are numbers, UUIDs, hex strings of 8+ characters with a digit, or longer
// than 40 bytes become "{id}"; the query is dropped; the result is at most kMaxRouteBytes
// (a longer one ends in "/..."). Written into `out` (reused: no allocation once warm).
void normalize_path(std::string_view path, std::string& out);

}  // namespace ztrace::metrics
