// HTTP exchange → span: semantic conventions, kinds, status rules, timestamps.
#include <catch2/catch_test_macros.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "userspace/protocols/http1/span_builder.h"

namespace ztrace::http1 {
namespace {

protocols::ConnectionView view(Role role) {
  protocols::ConnectionView v;
  v.pid = 10;
  v.role = role;
  v.local = {"10.0.0.1", 8080};
  v.remote = {"10.0.0.2", 40000};
  return v;
}

Exchange exchange(std::string method, std::string target, int status) {
  Exchange e;
  e.request.method = std::move(method);
  e.request.target = std::move(target);
  e.request.host = "shop.example:8080";
  e.request.user_agent = "curl/8";
  e.request.start_ns = 1000;
  e.request.end_ns = 1100;
  Response response;
  response.status_code = status;
  response.start_ns = 1500;
  response.end_ns = 2000;
  e.response = response;
  return e;
}

std::string str(const spans::Span& span, std::string_view key) {
  const auto* v = span.find(key);
  return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : "<absent>";
}
int64_t num(const spans::Span& span, std::string_view key) {
  const auto* v = span.find(key);
  return v && std::holds_alternative<int64_t>(*v) ? std::get<int64_t>(*v) : -1;
}

}  // namespace

TEST_CASE("http spans: server span attributes follow the HTTP conventions", "[pipeline]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  auto span = *builder.build({view(Role::kServer)}, exchange("GET", "/cart/1?token=s3cret", 200));
  CHECK(span.kind == spans::SpanKind::kServer);
  CHECK(span.name == "GET");
  CHECK(str(span, "http.request.method") == "GET");
  CHECK(str(span, "url.path") == "/cart/1");
  CHECK(str(span, "url.query") == "<absent>");  // not captured unless configured
  CHECK(str(span, "url.scheme") == "http");
  CHECK(str(span, "server.address") == "shop.example");
  CHECK(num(span, "server.port") == 8080);
  CHECK(str(span, "client.address") == "10.0.0.2");
  CHECK(num(span, "client.port") == 40000);
  CHECK(num(span, "http.response.status_code") == 200);
  CHECK(str(span, "network.protocol.version") == "1.1");
  CHECK(str(span, "user_agent.original") == "curl/8");
  CHECK(span.status_code == spans::StatusCode::kUnset);
  CHECK(span.end_time_unix_nano - span.start_time_unix_nano == 1000);
  CHECK_FALSE(spans::is_zero(span.trace_id));
  CHECK_FALSE(spans::is_zero(span.span_id));
  CHECK(spans::is_zero(span.parent_span_id));
}

TEST_CASE("http spans: client span targets the peer; query only when configured", "[pipeline]") {
  spans::KernelClock clock;
  SpanBuilder builder({.capture_url_query = true}, clock);
  auto e = exchange("POST", "http://proxy.example/p?q=1", 201);
  e.request.host.clear();
  auto span = *builder.build({view(Role::kClient)}, e);
  CHECK(span.kind == spans::SpanKind::kClient);
  CHECK(str(span, "url.path") == "/p");
  CHECK(str(span, "url.query") == "q=1");
  CHECK(str(span, "server.address") == "10.0.0.2");
  CHECK(num(span, "server.port") == 40000);
  CHECK(str(span, "client.address") == "<absent>");
}

TEST_CASE("http spans: error status per side", "[pipeline]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  struct Case {
    Role role;
    int status;
    spans::StatusCode expected;
  };
  const Case cases[] = {
      {Role::kServer, 404, spans::StatusCode::kUnset},
      {Role::kServer, 500, spans::StatusCode::kError},
      {Role::kClient, 404, spans::StatusCode::kError},
      {Role::kClient, 503, spans::StatusCode::kError},
      {Role::kClient, 302, spans::StatusCode::kUnset},
  };
  for (const auto& c : cases) {
    INFO("role " << to_string(c.role) << " status " << c.status);
    auto span = *builder.build({view(c.role)}, exchange("GET", "/", c.status));
    CHECK(span.status_code == c.expected);
    if (c.expected == spans::StatusCode::kError) {
      CHECK(str(span, "error.type") == std::to_string(c.status));
    }
  }
}

TEST_CASE("http spans: unknown methods and missing responses", "[pipeline]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  auto span = *builder.build({view(Role::kServer)}, exchange("PURGE", "/x", 200));
  CHECK(span.name == "HTTP");
  CHECK(str(span, "http.request.method") == "_OTHER");
  CHECK(str(span, "http.request.method_original") == "PURGE");

  auto no_response = exchange("GET", "/y", 200);
  no_response.response.reset();
  span = *builder.build({view(Role::kClient)}, no_response);
  CHECK(span.status_code == spans::StatusCode::kError);
  CHECK(num(span, "http.response.status_code") == -1);

  auto unknown_status = exchange("GET", "/z", 0);
  unknown_status.response->truncated = true;
  span = *builder.build({view(Role::kServer)}, unknown_status);
  CHECK(num(span, "http.response.status_code") == -1);
  CHECK(span.status_code == spans::StatusCode::kUnset);
}

TEST_CASE("http spans: none without a request line; host names lose their user part",
          "[pipeline]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  auto lost_start = exchange("", "", 200);  // the request began in uncaptured bytes
  CHECK_FALSE(builder.build({view(Role::kServer)}, lost_start));

  auto with_user = exchange("GET", "/", 200);
  with_user.request.host = "user@[::1]:8080";
  CHECK(str(*builder.build({view(Role::kClient)}, with_user), "server.address") == "::1");
}

// The exchange the HTTP/1 parser makes of a request, a response that begins and the close.
http1::Exchange parsed_exchange(Role role, std::string_view response) {
  http1::ConnectionParser parser(role, false);
  const Direction request_dir = role == Role::kServer ? Direction::kIngress : Direction::kEgress;
  const Direction response_dir = role == Role::kServer ? Direction::kEgress : Direction::kIngress;
  parser.on_data(request_dir, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", 0, 1000, true);
  parser.on_data(response_dir, response, 0, 1500, true);
  parser.on_close(3000);
  std::vector<http1::Exchange> exchanges = parser.take_exchanges();
  REQUIRE(exchanges.size() == 1);
  return std::move(exchanges[0]);
}

TEST_CASE("http spans: a response cut by the close is an error, not a success", "[pipeline]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  const std::string_view cut_responses[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial body",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\npartial",
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Len",
  };
  for (Role role : {Role::kServer, Role::kClient}) {
    for (std::string_view response : cut_responses) {
      INFO(to_string(role) << ": " << response);
      const spans::Span span = *builder.build({view(role)}, parsed_exchange(role, response));
      CHECK(num(span, "http.response.status_code") == 200);
      CHECK(span.status_code == spans::StatusCode::kError);
      CHECK(str(span, "error.type") == "ztrace.response_truncated");
      CHECK_FALSE(span.status_message.empty());
    }
    // Whole, or delimited by the close itself: a success.
    for (std::string_view response : {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                      "HTTP/1.1 200 OK\r\n\r\nuntil the close"}) {
      INFO(to_string(role) << ": " << response);
      const spans::Span span = *builder.build({view(role)}, parsed_exchange(role, response));
      CHECK(span.status_code == spans::StatusCode::kUnset);
      CHECK(str(span, "error.type") == "<absent>");
    }
  }
}

}  // namespace ztrace::http1
