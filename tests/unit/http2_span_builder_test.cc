// HTTP/2 exchange → span: HTTP conventions for plain HTTP/2, RPC conventions and status
// rules for gRPC, traceparent as parent, unknown fields never turned into names.

#include <catch2/catch_test_macros.hpp>
#include <string>
#include <variant>

#include "userspace/protocols/http2/span_builder.h"

namespace ztrace::http2 {
namespace {

protocols::ConnectionView view(Role role) {
  protocols::ConnectionView v;
  v.pid = 10;
  v.role = role;
  v.local = {"10.0.0.1", 50051};
  v.remote = {"10.0.0.2", 40000};
  return v;
}

Exchange grpc_call(std::string path, std::string grpc_status, bool trailers_only = false) {
  Exchange e;
  e.stream_id = 1;
  e.request.seen = true;
  e.request.headers.fields = {{":method", "POST"},
                              {":scheme", "http"},
                              {":path", path},
                              {":authority", "greeter.local:50051"},
                              {"content-type", "application/grpc+proto"},
                              {"user-agent", "grpc-go/1.33"}};
  e.request.start_ns = 1000;
  e.request.end_ns = 1100;
  e.request.end_stream = true;
  e.response.seen = true;
  e.response.start_ns = 1500;
  e.response.end_ns = 3000;
  e.response.end_stream = true;
  if (trailers_only) {
    e.response.headers.fields = {
        {":status", "200"}, {"grpc-status", grpc_status}, {"grpc-message", "nope"}};
  } else {
    e.response.headers.fields = {{":status", "200"}, {"content-type", "application/grpc"}};
    HeaderBlock trailers;
    trailers.fields = {{"grpc-status", grpc_status}, {"grpc-message", "why%20not%3F%2"}};
    e.response.trailers = trailers;
  }
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

TEST_CASE("http2 spans: gRPC server span follows the RPC conventions", "[pipeline][http2]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  auto span = builder.build({view(Role::kServer)}, grpc_call("/helloworld.Greeter/SayHello", "0"));
  REQUIRE(span);
  CHECK(span->kind == spans::SpanKind::kServer);
  CHECK(span->name == "helloworld.Greeter/SayHello");
  CHECK(str(*span, "rpc.system") == "grpc");
  CHECK(str(*span, "rpc.service") == "helloworld.Greeter");
  CHECK(str(*span, "rpc.method") == "SayHello");
  CHECK(num(*span, "rpc.grpc.status_code") == 0);
  CHECK(str(*span, "server.address") == "greeter.local");
  CHECK(num(*span, "server.port") == 50051);
  CHECK(str(*span, "client.address") == "10.0.0.2");
  CHECK(str(*span, "network.protocol.version") == "2");
  CHECK(str(*span, "http.request.method") == "<absent>");
  CHECK(span->status_code == spans::StatusCode::kUnset);
  CHECK(span->end_time_unix_nano - span->start_time_unix_nano == 2000);
}

TEST_CASE("http2 spans: gRPC status codes map to ERROR per side", "[pipeline][http2]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  struct Case {
    int code;
    bool server_error;
  };
  const Case cases[] = {{0, false}, {1, false}, {2, true},  {3, false}, {4, true},   {5, false},
                        {6, false}, {7, false}, {8, false}, {9, false}, {10, false}, {11, false},
                        {12, true}, {13, true}, {14, true}, {15, true}, {16, false}};
  for (const Case& c : cases) {
    for (bool trailers_only : {false, true}) {
      INFO("code " << c.code << (trailers_only ? " trailers-only" : ""));
      const auto call = grpc_call("/a.B/C", std::to_string(c.code), trailers_only);
      auto server = builder.build({view(Role::kServer)}, call);
      auto client = builder.build({view(Role::kClient)}, call);
      REQUIRE(server);
      REQUIRE(client);
      CHECK(num(*server, "rpc.grpc.status_code") == c.code);
      CHECK((server->status_code == spans::StatusCode::kError) == c.server_error);
      CHECK((client->status_code == spans::StatusCode::kError) == (c.code != 0));
      if (c.code != 0) CHECK(client->status_message == (trailers_only ? "nope" : "why not?%2"));
      CHECK(client->kind == spans::SpanKind::kClient);
    }
  }
}

TEST_CASE("http2 spans: plain HTTP/2 follows the HTTP conventions", "[pipeline][http2]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  Exchange e;
  e.request.seen = true;
  e.request.headers.fields = {{":method", "GET"},
                              {":scheme", "http"},
                              {":path", "/static/app.js?v=1"},
                              {":authority", "[::1]:8443"}};
  e.request.start_ns = 10;
  e.request.end_ns = 10;
  e.response.seen = true;
  e.response.headers.fields = {{":status", "404"}};
  e.response.end_ns = 50;
  auto server = builder.build({view(Role::kServer)}, e);
  REQUIRE(server);
  CHECK(server->name == "GET");
  CHECK(str(*server, "http.request.method") == "GET");
  CHECK(str(*server, "url.path") == "/static/app.js");
  CHECK(str(*server, "url.query") == "<absent>");
  CHECK(str(*server, "url.scheme") == "http");
  CHECK(str(*server, "server.address") == "::1");
  CHECK(num(*server, "http.response.status_code") == 404);
  CHECK(str(*server, "rpc.system") == "<absent>");
  CHECK(server->status_code == spans::StatusCode::kUnset);  // 4xx is the client's fault
  auto client = builder.build({view(Role::kClient)}, e);
  REQUIRE(client);
  CHECK(client->status_code == spans::StatusCode::kError);
  CHECK(str(*client, "error.type") == "404");
}

TEST_CASE("http2 spans: unknown path gives no span, unknown method is left out",
          "[pipeline][http2]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  Exchange e;
  e.request.seen = true;
  e.request.headers.fields = {{":method", "POST"}};
  e.request.headers.unknown_fields = 2;
  e.response.seen = true;
  e.response.headers.fields = {{":status", "200"}};
  CHECK_FALSE(builder.build({view(Role::kServer)}, e));
  e.request.headers.fields = {{":path", "/only/path"}};
  e.request.headers.unknown_fields = 1;
  auto span = builder.build({view(Role::kServer)}, e);
  REQUIRE(span);
  CHECK(span->name == "HTTP");
  CHECK(str(*span, "http.request.method") == "<absent>");
  CHECK(num(*span, "ztrace.http2.unknown_header_fields") == 1);
}

TEST_CASE("http2 spans: reset streams are errors; traceparent names the parent",
          "[pipeline][http2]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  auto call = grpc_call("/a.B/Stream", "0");
  call.response.trailers.reset();
  call.outcome = StreamOutcome::kReset;
  call.error_code = 8;
  auto span = builder.build({view(Role::kClient)}, call);
  REQUIRE(span);
  CHECK(span->status_code == spans::StatusCode::kError);
  CHECK(str(*span, "error.type") == "ztrace.http2.stream_reset");
  CHECK(num(*span, "ztrace.http2.error_code") == 8);
  CHECK(str(*span, "rpc.system") == "grpc");  // the request's content-type says so

  const auto header =
      spans::parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  REQUIRE(header);
  auto server = builder.build({view(Role::kServer), nullptr, &*header}, grpc_call("/a.B/C", "0"));
  REQUIRE(server);
  CHECK(spans::to_hex(server->trace_id) == "0af7651916cd43dd8448eb211c80319c");
  CHECK(spans::to_hex(server->parent_span_id) == "b7ad6b7169203331");
  CHECK(server->span_id != header->parent_span_id);
}

TEST_CASE("http2 spans: a client stream the kernel injected takes the injected context",
          "[pipeline][http2]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  zt_trace_context injected{};
  for (int i = 0; i < 16; ++i) injected.trace_id[i] = static_cast<uint8_t>(0x10 + i);
  for (int i = 0; i < 8; ++i) injected.span_id[i] = static_cast<uint8_t>(0xa0 + i);
  for (int i = 0; i < 8; ++i) injected.parent_span_id[i] = static_cast<uint8_t>(0xb0 + i);
  injected.trace_flags = ZT_TRACE_FLAG_SAMPLED;
  injected.origin = ZT_CTX_CLIENT_THREAD;
  auto client = builder.build({view(Role::kClient), &injected, nullptr}, grpc_call("/a.B/C", "0"));
  REQUIRE(client);
  CHECK(spans::to_hex(client->trace_id) == "101112131415161718191a1b1c1d1e1f");
  CHECK(spans::to_hex(client->span_id) == "a0a1a2a3a4a5a6a7");
  CHECK(spans::to_hex(client->parent_span_id) == "b0b1b2b3b4b5b6b7");
}

TEST_CASE("http2 spans: a server stream takes the context the Go gRPC probes made",
          "[pipeline][http2]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  zt_trace_context made{};
  for (int i = 0; i < 16; ++i) made.trace_id[i] = static_cast<uint8_t>(0x10 + i);
  for (int i = 0; i < 8; ++i) made.span_id[i] = static_cast<uint8_t>(0xa0 + i);
  for (int i = 0; i < 8; ++i) made.parent_span_id[i] = static_cast<uint8_t>(0xb0 + i);
  made.trace_flags = ZT_TRACE_FLAG_SAMPLED;
  made.origin = ZT_CTX_SERVER_HEADER;
  // The header the probes read is the one userspace decoded: the span is the probes'.
  auto header = spans::parse_traceparent("00-101112131415161718191a1b1c1d1e1f-b0b1b2b3b4b5b6b7-01");
  REQUIRE(header);
  auto server = builder.build({view(Role::kServer), &made, &*header}, grpc_call("/a.B/C", "0"));
  REQUIRE(server);
  CHECK(spans::to_hex(server->trace_id) == "101112131415161718191a1b1c1d1e1f");
  CHECK(spans::to_hex(server->span_id) == "a0a1a2a3a4a5a6a7");
  CHECK(spans::to_hex(server->parent_span_id) == "b0b1b2b3b4b5b6b7");
  // A context made without a header (none decoded by the probes) yields to a header found
  // later: it names the span's parent.
  made.origin = ZT_CTX_SERVER_NEW;
  auto found_later =
      spans::parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  REQUIRE(found_later);
  auto late = builder.build({view(Role::kServer), &made, &*found_later}, grpc_call("/a.B/C", "0"));
  REQUIRE(late);
  CHECK(spans::to_hex(late->trace_id) == "0af7651916cd43dd8448eb211c80319c");
  CHECK(spans::to_hex(late->parent_span_id) == "b7ad6b7169203331");
  CHECK(spans::to_hex(late->span_id) == "a0a1a2a3a4a5a6a7");
}

}  // namespace ztrace::http2
