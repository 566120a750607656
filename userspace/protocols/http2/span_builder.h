#pragma once

// HTTP/2 stream exchange → OpenTelemetry span: the HTTP semantic conventions for plain
// HTTP/2, the RPC conventions for gRPC (content-type application/grpc*).

#include <optional>

#include "userspace/protocols/http2/stitcher.h"
#include "userspace/protocols/protocol.h"
#include "userspace/spans/span.h"

namespace ztrace::http2 {

class SpanBuilder : public protocols::SpanBuilderBase {
 public:
  using SpanBuilderBase::SpanBuilderBase;

  // nullopt when the request's :path is not known (the connection was joined mid-way and
  // the path came from an unseen table entry): no span beats one with an invented name.
  // The kernel context is that of a client stream whose HEADERS it injected, or of a server
  // stream the Go gRPC probes saw start.
  std::optional<spans::Span> build(const protocols::ExchangeContext& context,
                                   const Exchange& exchange) const;
};

// The name, path, status and times build() would give, without building the span.
std::optional<protocols::ExchangeSummary> summarize(const Exchange& exchange, Role role);

}  // namespace ztrace::http2
