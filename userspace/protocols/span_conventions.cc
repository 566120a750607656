#include "userspace/protocols/span_conventions.h"

#include <algorithm>
#include <array>
#include <iterator>

namespace ztrace::protocols {

void assign_span_ids(const ExchangeContext& context, spans::Span& span) {
  const bool server = context.connection.role == Role::kServer;
  if (const zt_trace_context* kernel = context.kernel_context) {
    std::copy(std::begin(kernel->trace_id), std::end(kernel->trace_id), span.trace_id.begin());
    std::copy(std::begin(kernel->span_id), std::end(kernel->span_id), span.span_id.begin());
    std::copy(std::begin(kernel->parent_span_id), std::end(kernel->parent_span_id),
              span.parent_span_id.begin());
    span.trace_flags = kernel->trace_flags;
  } else {
    span.trace_id = spans::random_trace_id();
    span.span_id = spans::random_span_id();
  }
  const spans::TraceParent* header = context.request_header;
  if (!header) return;
  if (server && (!context.kernel_context || context.kernel_context->origin == ZT_CTX_SERVER_NEW)) {
    // The header was beyond the kernel's scan window (or no pipelining context): it still
    // names this span's parent.
    span.trace_id = header->trace_id;
    span.parent_span_id = header->parent_span_id;
    span.trace_flags = header->trace_flags;
  } else if (!server) {
    // The application sent a context: it stands, so this span joins that trace. When the
    // application made it, the header names this very call: the span takes its id (the next
    // hop's SERVER span names it as parent). A forwarded header names the caller's span,
    // which is reported already: the span keeps its own id.
    if (span.trace_id != header->trace_id) span.parent_span_id = {};
    span.trace_id = header->trace_id;
    span.trace_flags = header->trace_flags;
    if (!context.forwarded_traceparent) span.span_id = header->parent_span_id;
  }
}

bool is_known_http_method(std::string_view method) {
  static constexpr std::array<std::string_view, 9> kKnown = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  return std::find(kKnown.begin(), kKnown.end(), method) != kKnown.end();
}

}  // namespace ztrace::protocols
