#include "userspace/metrics/route.h"

#include <algorithm>

namespace ztrace::metrics {
namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// 8-4-4-4-12 hex digits.
bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

bool is_identifier(std::string_view segment) {
  if (segment.empty()) return false;
  if (segment.size() > 40) return true;
  if (std::all_of(segment.begin(), segment.end(), is_digit)) return true;
  if (is_uuid(segment)) return true;
  return segment.size() >= 8 && std::all_of(segment.begin(), segment.end(), is_hex) &&
         std::any_of(segment.begin(), segment.end(), is_digit);
}

}  // namespace

void normalize_path(std::string_view path, std::string& out) {
  out.clear();
  path = path.substr(0, path.find_first_of("?#"));
  if (path.empty()) {
    out.push_back('/');  // (not `out = "/"`: GCC 12 warns falsely, -Wrestrict)
    return;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    const std::string_view segment = path.substr(start, slash - start);
    if (start > 0) out += '/';
    if (is_identifier(segment)) {
      out += kIdSegment;
    } else {
      out += segment;
    }
    if (out.size() > kMaxRouteBytes) {
      out.resize(kMaxRouteBytes - 4);
      out += "/...";
      return;
    }
    start = slash + 1;
  }
}

}  // namespace ztrace::metrics
