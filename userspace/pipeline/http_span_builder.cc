#include "userspace/pipeline/http_span_builder.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "userspace/spans/trace_context.h"

namespace ztrace::pipeline {
namespace {

using spans::SpanKind;
using spans::StatusCode;

struct SplitTarget {
  std::string_view path;
  std::string_view query;
};

// origin-form "/p?q" or absolute-form "http://host/p?q" (requests to proxies).
SplitTarget split_target(std::string_view target) {
  if (auto scheme = target.find("://"); scheme != std::string_view::npos && target[0] != '/') {
    auto path_start = target.find('/', scheme + 3);
    target = path_start == std::string_view::npos ? "/" : target.substr(path_start);
  }
  auto fragment = target.find('#');
  if (fragment != std::string_view::npos) target = target.substr(0, fragment);
  auto question = target.find('?');
  if (question == std::string_view::npos) return {target, {}};
  return {target.substr(0, question), target.substr(question + 1)};
}

// Host header "name[:port]" or "[v6]:port" → name.
std::string_view host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(1, close - 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

}  // namespace

bool is_known_method(std::string_view method) {
  static constexpr std::array<std::string_view, 9> kKnown = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (auto known : kKnown) {
    if (method == known) return true;
  }
  return false;
}

void assign_span_ids(spans::Span& span, bool server, const zt_trace_context* context,
                     const spans::TraceParent* header, bool forwarded_traceparent) {
  if (context) {
    std::copy(std::begin(context->trace_id), std::end(context->trace_id), span.trace_id.begin());
    std::copy(std::begin(context->span_id), std::end(context->span_id), span.span_id.begin());
    std::copy(std::begin(context->parent_span_id), std::end(context->parent_span_id),
              span.parent_span_id.begin());
    span.trace_flags = context->trace_flags;
  } else {
    span.trace_id = spans::random_trace_id();
    span.span_id = spans::random_span_id();
  }
  if (!header) return;
  if (server && (!context || context->origin == ZT_CTX_SERVER_NEW)) {
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
    if (!forwarded_traceparent) span.span_id = header->parent_span_id;
  }
}

spans::Span HttpSpanBuilder::build(const conntrack::ConnectionView& connection,
                                   const http1::Exchange& exchange,
                                   std::shared_ptr<const spans::Resource> resource,
                                   const zt_trace_context* context,
                                   const spans::TraceParent* request_header,
                                   bool forwarded_traceparent) const {
  const http1::Request& request = exchange.request;
  const bool server = connection.role == Role::kServer;
  spans::Span span;
  assign_span_ids(span, server, context, request_header, forwarded_traceparent);
  span.kind = server ? SpanKind::kServer : SpanKind::kClient;
  span.resource = std::move(resource);
  span.attributes.reserve(16);

  const bool known_method = is_known_method(request.method);
  span.name = known_method ? request.method : "HTTP";
  span.set("http.request.method", known_method ? request.method : "_OTHER");
  if (!known_method) span.set("http.request.method_original", request.method);

  SplitTarget target = split_target(request.target);
  span.set("url.path", std::string(target.path));
  if (options_.capture_url_query && !target.query.empty()) {
    span.set("url.query", std::string(target.query));
  }
  if (server) span.set("url.scheme", std::string(connection.tls ? "https" : "http"));

  const auto& peer = connection.remote;
  if (server) {
    std::string_view host = host_name(request.host);
    span.set("server.address", host.empty() ? connection.local.address : std::string(host));
    span.set("server.port", int64_t{connection.local.port});
    span.set("client.address", peer.address);
    span.set("client.port", int64_t{peer.port});
  } else {
    std::string_view host = host_name(request.host);
    span.set("server.address", host.empty() ? peer.address : std::string(host));
    span.set("server.port", int64_t{peer.port});
  }
  span.set("network.peer.address", peer.address);
  span.set("network.peer.port", int64_t{peer.port});
  span.set("network.protocol.version", std::string(request.version_minor == 0 ? "1.0" : "1.1"));
  if (!request.user_agent.empty()) span.set("user_agent.original", request.user_agent);

  uint64_t end_ns = request.end_ns;
  // A truncated response may have lost its status line: its status is unknown, not 0.
  if (exchange.response && exchange.response->status_code == 0) {
    end_ns = exchange.response->end_ns;
  } else if (exchange.response) {
    const http1::Response& response = *exchange.response;
    end_ns = response.end_ns;
    span.set("http.response.status_code", int64_t{response.status_code});
    // Servers own 5xx; for a client every 4xx/5xx is a failed call.
    const bool error = response.status_code >= 500 || (!server && response.status_code >= 400);
    if (error) {
      span.status_code = StatusCode::kError;
      span.set("error.type", std::to_string(response.status_code));
    } else if (response.cut_by_close) {
      span.status_code = StatusCode::kError;
      span.status_message = "connection closed before the response was complete";
      span.set("error.type", std::string(kErrorResponseTruncated));
    }
  } else {
    span.status_code = StatusCode::kError;
    span.status_message = "connection closed before a response";
    span.set("error.type", std::string(kErrorNoResponse));
  }
  if (request.truncated || (exchange.response && exchange.response->truncated)) {
    span.set("ztrace.capture.truncated", true);
  }
  span.start_time_unix_nano = clock_.to_unix_ns(request.start_ns);
  span.end_time_unix_nano = clock_.to_unix_ns(std::max(end_ns, request.start_ns));
  return span;
}

}  // namespace ztrace::pipeline
