#pragma once

// HTTP/1.x exchange → OpenTelemetry span, per the stable HTTP semantic conventions.

#include <memory>
#include <string_view>

#include "userspace/conntrack/connection_table.h"
#include "userspace/protocols/http1/connection_parser.h"
#include "userspace/spans/clock.h"
#include "userspace/spans/span.h"
#include "userspace/spans/trace_context.h"

namespace ztrace::pipeline {

// error.type values of ours (the conventions' "component-specific low cardinality error
// identifier"), for exchanges that failed without an error status to name.
inline constexpr std::string_view kErrorNoResponse = "ztrace.no_response";
inline constexpr std::string_view kErrorResponseTruncated = "ztrace.response_truncated";

struct HttpSpanOptions {
  bool capture_url_query = false;  // url.query may carry secrets: off unless asked for
};

// Ids of a span: the kernel's when it made them (they are what an injected header carries),
// corrected by the request's own traceparent where the kernel could not see it (nullptr
// context: fresh ids). Shared by the HTTP/1 and HTTP/2 builders.
void assign_span_ids(spans::Span& span, bool server, const zt_trace_context* context,
                     const spans::TraceParent* header, bool forwarded_traceparent);

// A method the semantic conventions know; any other is reported as "_OTHER". Shared too.
bool is_known_method(std::string_view method);

class HttpSpanBuilder {
 public:
  HttpSpanBuilder(HttpSpanOptions options, const spans::KernelClock& clock)
      : options_(options), clock_(clock) {}

  // SERVER span when the connection was accepted, CLIENT span when it was connected.
  // `context`: the kernel's ids for the request (nullptr: fresh ids are made here).
  // `request_header`: the request's own traceparent, parsed (nullptr: none or malformed).
  // `forwarded`: a client request's header was one its process had received (a pass-through
  // proxy), not one it made: its span id belongs to the caller's span.
  spans::Span build(const conntrack::ConnectionView& connection, const http1::Exchange& exchange,
                    std::shared_ptr<const spans::Resource> resource,
                    const zt_trace_context* context = nullptr,
                    const spans::TraceParent* request_header = nullptr,
                    bool forwarded_traceparent = false) const;

 private:
  HttpSpanOptions options_;
  const spans::KernelClock& clock_;
};

}  // namespace ztrace::pipeline
