#pragma once

// What the request metrics (span metrics and the service graph) take from one span, whether
// the span was built or not: an unsampled request is summarized without building it.

#include <cstdint>
#include <string_view>

#include "userspace/spans/span.h"

namespace ztrace::metrics {

// How the far end of a CLIENT or PRODUCER span is reached (Tempo's connection_type).
enum class PeerKind : uint8_t { kService, kDatabase, kMessaging };

struct SpanRecord {
  std::string_view service;  // service.name of the span's resource
  std::string_view name;     // the span's name
  spans::SpanKind kind = spans::SpanKind::kInternal;
  spans::StatusCode status = spans::StatusCode::kUnset;
  uint64_t duration_ns = 0;
  std::string_view route;  // http.route when known (empty: none)
  std::string_view path;   // url.path of an HTTP span, normalized when there is no route
  // Ids as the wire carried them: a CLIENT span's span id is its callee's parent.
  spans::TraceId trace_id{};
  spans::SpanId span_id{};
  spans::SpanId parent_span_id{};
  PeerKind peer_kind = PeerKind::kService;
  std::string_view local_address;  // the traced process's end of the connection
  uint16_t local_port = 0;
  std::string_view peer_address;  // the other end
  uint16_t peer_port = 0;
};

// service.name of a resource ("" when it has none).
std::string_view service_name(const spans::Resource* resource);

}  // namespace ztrace::metrics
