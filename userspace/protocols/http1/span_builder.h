#pragma once

// HTTP/1.x exchange → OpenTelemetry span, per the stable HTTP semantic conventions.

#include <optional>

#include "userspace/protocols/http1/connection_parser.h"
#include "userspace/protocols/protocol.h"
#include "userspace/spans/span.h"

namespace ztrace::http1 {

class SpanBuilder : public protocols::SpanBuilderBase {
 public:
  using SpanBuilderBase::SpanBuilderBase;

  // SERVER span when the connection was accepted, CLIENT span when it was connected. nullopt
  // when the start of the request was not captured: no span beats a garbage one.
  std::optional<spans::Span> build(const protocols::ExchangeContext& context,
                                   const Exchange& exchange) const;
};

// The name, path, status and times build() would give, without building the span.
std::optional<protocols::ExchangeSummary> summarize(const Exchange& exchange, Role role);

}  // namespace ztrace::http1
