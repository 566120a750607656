#include "userspace/spans/trace_context.h"

namespace ztrace::spans {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is invalid in traceparent
}

template <size_t N>
bool decode(std::string_view hex, std::array<uint8_t, N>& out) {
  uint8_t any = 0;
  for (size_t i = 0; i < N; ++i) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
    any |= out[i];
  }
  return any != 0;
}

}  // namespace

std::optional<TraceParent> parse_traceparent(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  // 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
  if (value.size() != 55 || value.substr(0, 3) != "00-" || value[35] != '-' || value[52] != '-') {
    return std::nullopt;
  }
  TraceParent parsed;
  std::array<uint8_t, 1> flags{};
  if (!decode(value.substr(3, 32), parsed.trace_id) ||
      !decode(value.substr(36, 16), parsed.parent_span_id)) {
    return std::nullopt;
  }
  int hi = hex_digit(value[53]), lo = hex_digit(value[54]);
  if (hi < 0 || lo < 0) return std::nullopt;
  flags[0] = static_cast<uint8_t>(hi << 4 | lo);
  parsed.trace_flags = flags[0];
  return parsed;
}

bool keepable_tracestate(std::string_view value) {
  constexpr size_t kMaxBytes = 512;
  if (value.empty() || value.size() > kMaxBytes) return false;
  for (const char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace ztrace::spans
