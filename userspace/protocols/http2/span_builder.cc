#include "userspace/protocols/http2/span_builder.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>

#include "userspace/protocols/span_conventions.h"
#include "userspace/spans/semconv.h"

namespace ztrace::http2 {
namespace {

using spans::StatusCode;

std::string_view value_or_empty(const HeaderBlock& block, std::string_view name) {
  const std::string* v = block.find(name);
  return v ? std::string_view(*v) : std::string_view();
}

bool is_grpc_content_type(std::string_view ct) { return ct.starts_with("application/grpc"); }

// grpc-status from the trailers, or from the headers of a trailers-only response.
std::optional<int> grpc_status(const Message& response) {
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

// :status, 0 when absent or not a status.
int http_status(const Message& response) {
  const std::string_view text = value_or_empty(response.headers, ":status");
  int status_code = 0;
  std::from_chars(text.data(), text.data() + text.size(), status_code);
  return status_code < 100 || status_code > 599 ? 0 : status_code;
}

// Servers own 5xx; for a client every 4xx/5xx is a failed call.
bool is_http_error(int status_code, bool server) {
  return status_code >= 500 || (!server && status_code >= 400);
}

// OTel gRPC conventions: a server owns only the codes that mean it failed.
bool is_server_error(int code) {
  return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
}

std::string_view outcome_error_type(StreamOutcome outcome) {
  switch (outcome) {
    case StreamOutcome::kReset:
      return "ztrace.http2.stream_reset";
    case StreamOutcome::kRefused:
      return "ztrace.http2.refused";
    case StreamOutcome::kConnectionClosed:
      return semconv::error::kZtraceNoResponse;
    default:
      return "";
  }
}

bool is_grpc_error(int code, bool server) { return server ? is_server_error(code) : code != 0; }

// "{service}/{method}" of a gRPC :path ("/{service}/{method}", gRPC over HTTP/2 spec).
std::string_view grpc_name(std::string_view path_and_query) {
  std::string_view p = path_and_query.substr(0, path_and_query.find('?'));
  if (!p.empty() && p.front() == '/') p.remove_prefix(1);
  return p;
}

// Any of these is evidence of gRPC; the request's content-type may be an unseen entry.
bool is_grpc(const Exchange& exchange, const std::optional<int>& status) {
  return is_grpc_content_type(value_or_empty(exchange.request.headers, "content-type")) ||
         is_grpc_content_type(value_or_empty(exchange.response.headers, "content-type")) ||
         status.has_value();
}

// The RPC conventions: name "{service}/{method}" from :path, status from grpc-status.
void set_grpc_attributes(spans::Span& span, std::string_view path_and_query,
                         const Message& response, std::optional<int> status, bool server) {
  const std::string_view p = grpc_name(path_and_query);
  const size_t slash = p.rfind('/');
  const std::string_view service = slash == std::string_view::npos ? "" : p.substr(0, slash);
  const std::string_view method = slash == std::string_view::npos ? p : p.substr(slash + 1);
  span.name = std::string(p);
  span.set(semconv::rpc::kRpcSystem, std::string("grpc"));
  if (!service.empty()) span.set(semconv::rpc::kRpcService, std::string(service));
  if (!method.empty()) span.set(semconv::rpc::kRpcMethod, std::string(method));
  if (!status) return;
  span.set(semconv::rpc::kRpcGrpcStatusCode, int64_t{*status});
  if (is_grpc_error(*status, server)) {
    span.status_code = StatusCode::kError;
    span.status_message = percent_decode(
        value_or_empty(response.trailers ? *response.trailers : response.headers, "grpc-message"));
  }
}

// The HTTP conventions for a request that is not gRPC.
void set_http_attributes(spans::Span& span, std::string_view path_and_query,
                         const Exchange& exchange, bool server,
                         const protocols::SpanOptions& options) {
  const HeaderBlock& request = exchange.request.headers;
  const std::string_view method = value_or_empty(request, ":method");
  const bool known_method = protocols::is_known_http_method(method);
  span.name = known_method ? std::string(method) : "HTTP";
  // An unknown method (unseen table entry) is left out, never guessed.
  if (!method.empty()) {
    span.set(semconv::http::kHttpRequestMethod, known_method ? std::string(method) : "_OTHER");
    if (!known_method) span.set(semconv::http::kHttpRequestMethodOriginal, std::string(method));
  }
  const size_t question = path_and_query.find('?');
  span.set(semconv::url::kUrlPath, std::string(path_and_query.substr(0, question)));
  if (options.capture_url_query && question != std::string_view::npos) {
    span.set(semconv::url::kUrlQuery, std::string(path_and_query.substr(question + 1)));
  }
  if (server) {
    const std::string_view scheme = value_or_empty(request, ":scheme");
    span.set(semconv::url::kUrlScheme, std::string(scheme.empty() ? "http" : scheme));
  }
  const int status_code = http_status(exchange.response);
  if (status_code == 0) return;
  span.set(semconv::http::kHttpResponseStatusCode, int64_t{status_code});
  if (is_http_error(status_code, server)) {
    span.status_code = StatusCode::kError;
    span.set(semconv::error::kErrorType, std::to_string(status_code));
  }
}

// A stream that got no final answer (reset, refused, or cut by the connection's end) is an
// error, unless gRPC's status says otherwise.
bool is_stream_failure(const Exchange& exchange, bool has_grpc_status) {
  // The end of a stream whose bytes were partly not captured may just be unseen: what was
  // seen stands, and no error is invented for it.
  const bool end_unseen = exchange.outcome == StreamOutcome::kConnectionClosed &&
                          exchange.truncated && exchange.response.seen;
  return !(exchange.outcome == StreamOutcome::kComplete || has_grpc_status || end_unseen);
}

void set_stream_outcome(spans::Span& span, const Exchange& exchange, bool has_grpc_status) {
  if (!is_stream_failure(exchange, has_grpc_status)) return;
  span.status_code = StatusCode::kError;
  span.set(semconv::error::kErrorType, std::string(outcome_error_type(exchange.outcome)));
  if (exchange.outcome != StreamOutcome::kConnectionClosed) {
    span.set(semconv::extension::kZtraceHttp2ErrorCode, int64_t{exchange.error_code});
  }
}

void set_capture_attributes(spans::Span& span, const Exchange& exchange) {
  const HeaderBlock& request = exchange.request.headers;
  const std::string_view user_agent = value_or_empty(request, "user-agent");
  if (!user_agent.empty()) {
    span.set(semconv::user_agent::kUserAgentOriginal, std::string(user_agent));
  }
  if (request.unknown_fields > 0) {
    span.set(semconv::extension::kZtraceHttp2UnknownHeaderFields, int64_t{request.unknown_fields});
  }
  if (exchange.truncated || request.values_truncated) {
    span.set(semconv::extension::kZtraceCaptureTruncated, true);
  }
}

}  // namespace

std::optional<protocols::ExchangeSummary> summarize(const Exchange& exchange, Role role) {
  std::optional<protocols::ExchangeSummary> summary;
  const Message& request = exchange.request;
  const std::string* path = request.headers.find(":path");
  if (!path) return summary;
  const bool server = role == Role::kServer;
  protocols::ExchangeSummary& s = summary.emplace();
  const std::optional<int> status = grpc_status(exchange.response);
  const bool grpc = is_grpc(exchange, status);
  bool error = false;
  if (grpc) {
    s.name = grpc_name(*path);
    error = status && is_grpc_error(*status, server);
  } else {
    const std::string_view method = value_or_empty(request.headers, ":method");
    s.name = protocols::is_known_http_method(method) ? method : std::string_view("HTTP");
    s.path = std::string_view(*path).substr(0, path->find('?'));
    const int status_code = http_status(exchange.response);
    error = status_code != 0 && is_http_error(status_code, server);
  }
  if (error || is_stream_failure(exchange, grpc && status)) s.status = StatusCode::kError;
  s.start_ns = request.start_ns;
  s.end_ns = std::max({request.end_ns, exchange.response.end_ns, request.start_ns});
  return summary;
}

std::optional<spans::Span> SpanBuilder::build(const protocols::ExchangeContext& context,
                                              const Exchange& exchange) const {
  std::optional<spans::Span> result;  // the one object returned: built in place, never moved
  const Message& request = exchange.request;
  const Message& response = exchange.response;
  const std::string* path = request.headers.find(":path");
  if (!path) return result;
  const bool server = context.connection.role == Role::kServer;
  spans::Span& span = result.emplace();
  protocols::start_span(context, span);

  const std::optional<int> status = grpc_status(response);
  const bool grpc = is_grpc(exchange, status);
  protocols::set_endpoint_attributes(span, context.connection,
                                     value_or_empty(request.headers, ":authority"));
  span.set(semconv::network::kNetworkProtocolVersion, std::string("2"));
  if (grpc) {
    set_grpc_attributes(span, *path, response, status, server);
  } else {
    set_http_attributes(span, *path, exchange, server, options_);
  }
  set_stream_outcome(span, exchange, grpc && status);
  set_capture_attributes(span, exchange);
  const uint64_t end_ns = std::max({request.end_ns, response.end_ns, request.start_ns});
  span.start_time_unix_nano = clock_.to_unix_ns(request.start_ns);
  span.end_time_unix_nano = clock_.to_unix_ns(end_ns);
  return result;
}

}  // namespace ztrace::http2
