#include "userspace/pipeline/http2_span_builder.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <string>
#include <string_view>

#include "userspace/pipeline/http_span_builder.h"

namespace ztrace::pipeline {
namespace {

using spans::SpanKind;
using spans::StatusCode;

std::string_view host_name(std::string_view authority) {
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(1, close - 1);
  }
  auto colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

std::string_view value_or_empty(const http2::HeaderBlock& block, std::string_view name) {
  const std::string* v = block.find(name);
  return v ? std::string_view(*v) : std::string_view();
}

bool is_grpc_content_type(std::string_view ct) { return ct.starts_with("application/grpc"); }

// grpc-status from the trailers, or from the headers of a trailers-only response.
std::optional<int> grpc_status(const http2::Message& response) {
  const std::string* v = nullptr;
  if (response.trailers) v = response.trailers->find("grpc-status");
  if (!v) v = response.headers.find("grpc-status");
  if (!v) return std::nullopt;
  int code = -1;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), code);
  if (ec != std::errc() || end != v->data() + v->size() || code < 0 || code > 16) {
    return std::nullopt;
  }
  return code;
}

// grpc-message is percent-encoded (gRPC over HTTP/2 spec, "Responses"); a malformed escape is
// kept as is.
std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(in[i + 1]) << 4 | hex(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// OTel gRPC conventions: a server owns only the codes that mean it failed.
bool is_server_error(int code) {
  return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
}

std::string_view outcome_error_type(http2::StreamOutcome outcome) {
  switch (outcome) {
    case http2::StreamOutcome::kReset:
      return "ztrace.http2.stream_reset";
    case http2::StreamOutcome::kRefused:
      return "ztrace.http2.refused";
    case http2::StreamOutcome::kConnectionClosed:
      return "ztrace.no_response";
    default:
      return "";
  }
}

}  // namespace

std::optional<spans::Span> Http2SpanBuilder::build(const conntrack::ConnectionView& connection,
                                                   const http2::Exchange& exchange,
                                                   const spans::TraceParent* request_header,
                                                   bool forwarded_traceparent,
                                                   const zt_trace_context* context) const {
  const http2::Message& request = exchange.request;
  const http2::Message& response = exchange.response;
  const std::string* path_value = request.headers.find(":path");
  if (!path_value) return std::nullopt;
  const std::string_view path_and_query = *path_value;
  const bool server = connection.role == Role::kServer;

  spans::Span span;
  assign_span_ids(span, server, context, request_header, forwarded_traceparent);
  span.kind = server ? SpanKind::kServer : SpanKind::kClient;
  span.resource = connection.resource;
  span.attributes.reserve(16);

  const std::optional<int> status = grpc_status(response);
  // Any of these is evidence of gRPC; the request's content-type may be an unseen entry.
  const bool grpc = is_grpc_content_type(value_or_empty(request.headers, "content-type")) ||
                    is_grpc_content_type(value_or_empty(response.headers, "content-type")) ||
                    status.has_value();
  const std::string_view authority = value_or_empty(request.headers, ":authority");
  const auto& peer = connection.remote;
  const std::string_view host = host_name(authority);
  if (server) {
    span.set("server.address", host.empty() ? connection.local.address : std::string(host));
    span.set("server.port", int64_t{connection.local.port});
    span.set("client.address", peer.address);
    span.set("client.port", int64_t{peer.port});
  } else {
    span.set("server.address", host.empty() ? peer.address : std::string(host));
    span.set("server.port", int64_t{peer.port});
  }
  span.set("network.peer.address", peer.address);
  span.set("network.peer.port", int64_t{peer.port});
  span.set("network.protocol.version", std::string("2"));

  if (grpc) {
    // :path is "/{service}/{method}" (gRPC over HTTP/2 spec).
    std::string_view p = path_and_query.substr(0, path_and_query.find('?'));
    if (!p.empty() && p.front() == '/') p.remove_prefix(1);
    const size_t slash = p.rfind('/');
    const std::string_view service = slash == std::string_view::npos ? "" : p.substr(0, slash);
    const std::string_view method = slash == std::string_view::npos ? p : p.substr(slash + 1);
    span.name = std::string(p);
    span.set("rpc.system", std::string("grpc"));
    if (!service.empty()) span.set("rpc.service", std::string(service));
    if (!method.empty()) span.set("rpc.method", std::string(method));
    if (status) {
      span.set("rpc.grpc.status_code", int64_t{*status});
      if (server ? is_server_error(*status) : *status != 0) {
        span.status_code = StatusCode::kError;
        span.status_message = percent_decode(value_or_empty(
            response.trailers ? *response.trailers : response.headers, "grpc-message"));
      }
    }
  } else {
    const std::string_view method = value_or_empty(request.headers, ":method");
    const bool known_method = is_known_method(method);
    span.name = known_method ? std::string(method) : "HTTP";
    // An unknown method (unseen table entry) is left out, never guessed.
    if (!method.empty()) {
      span.set("http.request.method", known_method ? std::string(method) : "_OTHER");
      if (!known_method) span.set("http.request.method_original", std::string(method));
    }
    const size_t question = path_and_query.find('?');
    span.set("url.path", std::string(path_and_query.substr(0, question)));
    if (options_.capture_url_query && question != std::string_view::npos) {
      span.set("url.query", std::string(path_and_query.substr(question + 1)));
    }
    if (server) {
      const std::string_view scheme = value_or_empty(request.headers, ":scheme");
      span.set("url.scheme", std::string(scheme.empty() ? "http" : scheme));
    }
    const std::string_view status_text = value_or_empty(response.headers, ":status");
    int status_code = 0;
    std::from_chars(status_text.data(), status_text.data() + status_text.size(), status_code);
    if (status_code >= 100 && status_code <= 599) {
      span.set("http.response.status_code", int64_t{status_code});
      if (status_code >= 500 || (!server && status_code >= 400)) {
        span.status_code = StatusCode::kError;
        span.set("error.type", std::to_string(status_code));
      }
    }
  }
  // The end of a stream whose bytes were partly not captured may just be unseen: what was
  // seen stands, and no error is invented for it.
  const bool end_unseen = exchange.outcome == http2::StreamOutcome::kConnectionClosed &&
                          exchange.truncated && response.seen;
  if (exchange.outcome != http2::StreamOutcome::kComplete && !(grpc && status) && !end_unseen) {
    // No final answer: the stream was reset, refused, or the connection ended first.
    span.status_code = StatusCode::kError;
    span.set("error.type", std::string(outcome_error_type(exchange.outcome)));
    if (exchange.outcome != http2::StreamOutcome::kConnectionClosed) {
      span.set("ztrace.http2.error_code", int64_t{exchange.error_code});
    }
  }
  const std::string_view user_agent = value_or_empty(request.headers, "user-agent");
  if (!user_agent.empty()) span.set("user_agent.original", std::string(user_agent));
  if (request.headers.unknown_fields > 0) {
    span.set("ztrace.http2.unknown_header_fields", int64_t{request.headers.unknown_fields});
  }
  if (exchange.truncated || request.headers.values_truncated) {
    span.set("ztrace.capture.truncated", true);
  }
  const uint64_t end_ns = std::max({request.end_ns, response.end_ns, request.start_ns});
  span.start_time_unix_nano = clock_.to_unix_ns(request.start_ns);
  span.end_time_unix_nano = clock_.to_unix_ns(end_ns);
  return span;
}

}  // namespace ztrace::pipeline
