#pragma once

// W3C Trace Context `traceparent` and `tracestate` (https://www.w3.org/TR/trace-context/ §3.2,
// §3.3).

#include <cstdint>
#include <optional>
#include <string_view>

#include "userspace/spans/span.h"

namespace ztrace::spans {

struct TraceParent {
  TraceId trace_id{};
  SpanId parent_span_id{};
  uint8_t trace_flags = 0;
  bool sampled() const { return trace_flags & 0x01; }
};

// Version 00 only (lowercase hex, non-zero ids, exactly 55 characters after trimming spaces);
// nullopt for anything else: a malformed header is never trusted.
std::optional<TraceParent> parse_traceparent(std::string_view value);

// A tracestate that may be kept and exported: at most 512 bytes of printable ASCII (every
// list member's key and value are). Anything else is discarded whole, as §3.3 tells a
// receiver to do with a tracestate it cannot parse.
bool keepable_tracestate(std::string_view value);

}  // namespace ztrace::spans
