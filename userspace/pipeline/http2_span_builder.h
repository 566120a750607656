#pragma once

// HTTP/2 stream exchange → OpenTelemetry span: the HTTP semantic conventions for plain
// HTTP/2, the RPC conventions for gRPC (content-type application/grpc*).

#include <memory>

#include "userspace/conntrack/connection_table.h"
#include "userspace/protocols/http2/stitcher.h"
#include "userspace/spans/clock.h"
#include "userspace/spans/span.h"
#include "userspace/spans/trace_context.h"

namespace ztrace::pipeline {

struct Http2SpanOptions {
  bool capture_url_query = false;  // url.query may carry secrets: off unless asked for
};

class Http2SpanBuilder {
 public:
  Http2SpanBuilder(Http2SpanOptions options, const spans::KernelClock& clock)
      : options_(options), clock_(clock) {}

  // nullopt when the request's :path is not known (the connection was joined mid-way and
  // the path came from an unseen table entry): no span beats one with an invented name.
  // `context`: the kernel's context of a client stream whose HEADERS it injected, or of a
  // server stream the Go gRPC probes saw start (the span takes its ids); `request_header`,
  // `forwarded_traceparent`: as for HttpSpanBuilder::build.
  std::optional<spans::Span> build(const conntrack::ConnectionView& connection,
                                   const http2::Exchange& exchange,
                                   const spans::TraceParent* request_header = nullptr,
                                   bool forwarded_traceparent = false,
                                   const zt_trace_context* context = nullptr) const;

 private:
  Http2SpanOptions options_;
  const spans::KernelClock& clock_;
};

}  // namespace ztrace::pipeline
