#include "userspace/protocols/http1/span_builder.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "userspace/protocols/span_conventions.h"
#include "userspace/spans/semconv.h"

namespace ztrace::http1 {
namespace {

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

void set_request_attributes(spans::Span& span, const Request& request, bool server, bool tls,
                            const protocols::SpanOptions& options) {
  const bool known_method = protocols::is_known_http_method(request.method);
  span.name = known_method ? request.method : "HTTP";
  span.set(semconv::http::kHttpRequestMethod, known_method ? request.method : "_OTHER");
  if (!known_method) span.set(semconv::http::kHttpRequestMethodOriginal, request.method);

  SplitTarget target = split_target(request.target);
  span.set(semconv::url::kUrlPath, std::string(target.path));
  if (options.capture_url_query && !target.query.empty()) {
    span.set(semconv::url::kUrlQuery, std::string(target.query));
  }
  if (server) span.set(semconv::url::kUrlScheme, std::string(tls ? "https" : "http"));
}

// Servers own 5xx; for a client every 4xx/5xx is a failed call.
bool is_error_status(int status_code, bool server) {
  return status_code >= 500 || (!server && status_code >= 400);
}

// The response's status and the span's status; returns when the exchange ended.
uint64_t set_response_attributes(spans::Span& span, const Exchange& exchange, bool server) {
  // A truncated response may have lost its status line: its status is unknown, not 0.
  if (exchange.response && exchange.response->status_code == 0) return exchange.response->end_ns;
  if (!exchange.response) {
    span.status_code = StatusCode::kError;
    span.status_message = "connection closed before a response";
    span.set(semconv::error::kErrorType, std::string(semconv::error::kZtraceNoResponse));
    return exchange.request.end_ns;
  }
  const Response& response = *exchange.response;
  span.set(semconv::http::kHttpResponseStatusCode, int64_t{response.status_code});
  if (is_error_status(response.status_code, server)) {
    span.status_code = StatusCode::kError;
    span.set(semconv::error::kErrorType, std::to_string(response.status_code));
  } else if (response.cut_by_close) {
    span.status_code = StatusCode::kError;
    span.status_message = "connection closed before the response was complete";
    span.set(semconv::error::kErrorType, std::string(semconv::error::kZtraceResponseTruncated));
  }
  return response.end_ns;
}

}  // namespace

std::optional<protocols::ExchangeSummary> summarize(const Exchange& exchange, Role role) {
  std::optional<protocols::ExchangeSummary> summary;
  const Request& request = exchange.request;
  if (request.method.empty()) return summary;
  const bool server = role == Role::kServer;
  protocols::ExchangeSummary& s = summary.emplace();
  s.name = protocols::is_known_http_method(request.method) ? std::string_view(request.method)
                                                           : std::string_view("HTTP");
  s.path = split_target(request.target).path;
  s.start_ns = request.start_ns;
  uint64_t end_ns = request.end_ns;
  // The same outcomes as set_response_attributes.
  if (!exchange.response) {
    s.status = spans::StatusCode::kError;
  } else if (exchange.response->status_code != 0) {
    const Response& response = *exchange.response;
    if (is_error_status(response.status_code, server) || response.cut_by_close) {
      s.status = spans::StatusCode::kError;
    }
    end_ns = response.end_ns;
  } else {
    end_ns = exchange.response->end_ns;
  }
  s.end_ns = std::max(end_ns, request.start_ns);
  return summary;
}

std::optional<spans::Span> SpanBuilder::build(const protocols::ExchangeContext& context,
                                              const Exchange& exchange) const {
  std::optional<spans::Span> result;  // the one object returned: built in place, never moved
  const Request& request = exchange.request;
  if (request.method.empty()) return result;
  const protocols::ConnectionView& connection = context.connection;
  const bool server = connection.role == Role::kServer;
  spans::Span& span = result.emplace();
  protocols::start_span(context, span);
  set_request_attributes(span, request, server, connection.tls, options_);
  protocols::set_endpoint_attributes(span, connection, request.host);
  span.set(semconv::network::kNetworkProtocolVersion,
           std::string(request.version_minor == 0 ? "1.0" : "1.1"));
  if (!request.user_agent.empty()) {
    span.set(semconv::user_agent::kUserAgentOriginal, request.user_agent);
  }

  const uint64_t end_ns = set_response_attributes(span, exchange, server);
  if (request.truncated || (exchange.response && exchange.response->truncated)) {
    span.set(semconv::extension::kZtraceCaptureTruncated, true);
  }
  span.start_time_unix_nano = clock_.to_unix_ns(request.start_ns);
  span.end_time_unix_nano = clock_.to_unix_ns(std::max(end_ns, request.start_ns));
  return result;
}

}  // namespace ztrace::http1
