#pragma once

// PostgreSQL exchange → CLIENT span, per the stable database semantic conventions and their
// PostgreSQL page.

#include <optional>

#include "userspace/protocols/postgresql/connection_parser.h"
#include "userspace/protocols/protocol.h"
#include "userspace/spans/span.h"

namespace ztrace::postgresql {

class SpanBuilder : public protocols::SpanBuilderBase {
 public:
  using SpanBuilderBase::SpanBuilderBase;

  // nullopt for a server's side of a connection (the conventions define client spans only).
  std::optional<spans::Span> build(const protocols::ExchangeContext& context,
                                   const Exchange& exchange) const;
};

}  // namespace ztrace::postgresql
