#pragma once

// What every protocol's span builder does the same way: ids from the kernel's and the
// request's trace context, the kind from the connection's role, and the endpoint attributes.
// Inline: they run for every span.

#include <string>
#include <string_view>

#include "userspace/protocols/connection_view.h"
#include "userspace/protocols/protocol.h"
#include "userspace/spans/semconv.h"
#include "userspace/spans/span.h"

namespace ztrace::protocols {

// Ids: the kernel's when it made them (they are what an injected header carries), corrected
// by the request's own traceparent where the kernel could not see it.
void assign_span_ids(const ExchangeContext& context, spans::Span& span);

// Gives a new span its ids, kind (SERVER on an accepted connection, else CLIENT) and resource.
inline void start_span(const ExchangeContext& context, spans::Span& span) {
  assign_span_ids(context, span);
  const bool server = context.connection.role == Role::kServer;
  span.kind = server ? spans::SpanKind::kServer : spans::SpanKind::kClient;
  span.resource = context.connection.resource;
  span.attributes.reserve(16);
}

// "[user@]name[:port]" or "[user@][v6]:port" (a Host header or an :authority) → name.
inline std::string_view host_name(std::string_view authority) {
  // find() first: a vectorized scan, and almost no authority has a user part.
  if (authority.find('@') != std::string_view::npos) {
    authority = authority.substr(authority.rfind('@') + 1);
  }
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(1, close - 1);
  }
  auto colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

// server.address/port (the request's host when it names one, else the socket's), client.*
// on server spans, and network.peer.*.
inline void set_endpoint_attributes(spans::Span& span, const ConnectionView& connection,
                                    std::string_view request_host) {
  const Endpoint& peer = connection.remote;
  const std::string_view host = host_name(request_host);
  if (connection.role == Role::kServer) {
    span.set(semconv::server::kServerAddress,
             host.empty() ? connection.local.address : std::string(host));
    span.set(semconv::server::kServerPort, int64_t{connection.local.port});
    span.set(semconv::client::kClientAddress, peer.address);
    span.set(semconv::client::kClientPort, int64_t{peer.port});
  } else {
    span.set(semconv::server::kServerAddress, host.empty() ? peer.address : std::string(host));
    span.set(semconv::server::kServerPort, int64_t{peer.port});
  }
  span.set(semconv::network::kNetworkPeerAddress, peer.address);
  span.set(semconv::network::kNetworkPeerPort, int64_t{peer.port});
}

// A method the HTTP conventions know; any other is reported as "_OTHER".
bool is_known_http_method(std::string_view method);

}  // namespace ztrace::protocols
