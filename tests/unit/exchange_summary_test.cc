// An exchange's summary (what the request metrics read of a request that is not exported)
// agrees with the span build() makes of it: name, status, path and duration, for every
// outcome the builders tell apart.
#include <catch2/catch_test_macros.hpp>
#include <string>
#include <variant>

#include "userspace/protocols/http1/span_builder.h"
#include "userspace/protocols/http2/span_builder.h"

namespace ztrace {
namespace {

protocols::ConnectionView view(Role role) {
  protocols::ConnectionView v;
  v.role = role;
  v.local = {"10.0.0.1", 8080};
  v.remote = {"10.0.0.2", 40000};
  return v;
}

std::string url_path(const spans::Span& span) {
  const auto* v = span.find("url.path");
  return v ? std::get<std::string>(*v) : "";
}

template <typename Builder, typename Exchange, typename Summarize>
void check_agrees(const Builder& builder, const Exchange& exchange, Summarize summarize) {
  for (Role role : {Role::kServer, Role::kClient}) {
    INFO((role == Role::kServer ? "server" : "client"));
    const auto span = builder.build({view(role)}, exchange);
    const auto summary = summarize(exchange, role);
    REQUIRE(span.has_value() == summary.has_value());
    if (!span) continue;
    CHECK(summary->name == span->name);
    CHECK(summary->status == span->status_code);
    CHECK(summary->path == url_path(*span));
    CHECK(summary->end_ns - summary->start_ns ==
          span->end_time_unix_nano - span->start_time_unix_nano);
  }
}

http1::Exchange http1_exchange(std::string method, int status) {
  http1::Exchange e;
  e.request.method = std::move(method);
  e.request.target = "/users/42?x=1";
  e.request.start_ns = 1000;
  e.request.end_ns = 1100;
  http1::Response response;
  response.status_code = status;
  response.end_ns = 2500;
  e.response = response;
  return e;
}

http2::Exchange http2_exchange(bool grpc, std::string status) {
  http2::Exchange e;
  e.stream_id = 1;
  e.request.seen = true;
  e.request.headers.fields = {{":method", "POST"}, {":path", grpc ? "/shop.Cart/Add" : "/cart/7"}};
  if (grpc) e.request.headers.fields.push_back({"content-type", "application/grpc"});
  e.request.start_ns = 1000;
  e.request.end_ns = 1100;
  e.response.seen = true;
  e.response.end_ns = 4000;
  e.response.end_stream = true;
  if (grpc) {
    e.response.headers.fields = {{":status", "200"}, {"grpc-status", status}};
  } else {
    e.response.headers.fields = {{":status", status}};
  }
  return e;
}

}  // namespace

TEST_CASE("exchange summary: HTTP/1 agrees with the span builder", "[request_metrics]") {
  spans::KernelClock clock;
  http1::SpanBuilder builder({}, clock);
  for (int status : {200, 302, 404, 500, 0}) {
    INFO(status);
    check_agrees(builder, http1_exchange("GET", status), http1::summarize);
  }
  check_agrees(builder, http1_exchange("BREW", 200), http1::summarize);  // "HTTP"
  auto no_response = http1_exchange("POST", 200);
  no_response.response.reset();
  check_agrees(builder, no_response, http1::summarize);
  auto cut = http1_exchange("GET", 200);
  cut.response->cut_by_close = true;
  check_agrees(builder, cut, http1::summarize);
  check_agrees(builder, http1_exchange("", 200), http1::summarize);  // no span, no summary
}

TEST_CASE("exchange summary: HTTP/2 and gRPC agree with the span builder", "[request_metrics]") {
  spans::KernelClock clock;
  http2::SpanBuilder builder({}, clock);
  for (const char* status : {"200", "404", "503"}) {
    INFO(status);
    check_agrees(builder, http2_exchange(false, status), http2::summarize);
  }
  for (const char* status : {"0", "5", "13"}) {  // OK, NOT_FOUND (a client's error), INTERNAL
    INFO(status);
    check_agrees(builder, http2_exchange(true, status), http2::summarize);
  }
  auto reset = http2_exchange(false, "200");
  reset.outcome = http2::StreamOutcome::kReset;
  check_agrees(builder, reset, http2::summarize);
  auto no_path = http2_exchange(false, "200");
  no_path.request.headers.fields.clear();
  check_agrees(builder, no_path, http2::summarize);
}

}  // namespace ztrace
