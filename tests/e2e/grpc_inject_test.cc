// traceparent injection into HTTP/2 (gRPC) requests: the server receives the client span's
// context as metadata, exactly once, and nothing else of the call changes; an application's
// own traceparent stands; --no-inject sends nothing.
#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/grpc_peers.h"
#include "tests/e2e/harness.h"

namespace ztrace::e2e {
namespace {

// What the Go server answers to a "meta" call: the traceparent and x-e2e values it received.
std::string meta_reply(const std::string& traceparents, const std::string& x_e2e) {
  return "traceparent=" + traceparents + ";x-e2e=" + x_e2e;
}

std::string traceparent_of(const Span& client) {
  return "00-" + client.trace_id + "-" + client.span_id + "-01";
}

}  // namespace

TEST_CASE("gRPC injection: the server receives its client span's context, once, metadata intact",
          "[e2e][http2][grpc][go][inject]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24550);
  const auto dir = fresh_dir("grpc_inject_go");
  Process server = start_grpc_server(dir, "grpc-go-server", port, grpc_go_server(port));
  Agent agent(dir, {.ports = {port}});
  // The second meta call's fields come from both dynamic tables (indexed the first time):
  // an insertion that disturbed either would show in the values or fail the call.
  CommandResult c = run_command(
      dir, grpc_go_client(port, {"header:x-e2e=first", "unary:meta", "unary:ok:a", "stream:3",
                                 "bidi:2", "unary:fail:5:missing", "unary:meta"}));
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  const auto lines = parse_grpc_calls(c.out);
  ZTRACE_E2E_REQUIRE_PEER(lines.size() == 6, c.describe);
  const int codes[] = {0, 0, 0, 0, 5, 0};
  const int msgs[] = {1, 1, 3, 2, 0, 1};
  for (int i = 0; i < 6; ++i) {
    ZTRACE_E2E_REQUIRE_PEER((lines[i].code == codes[i] && lines[i].msgs == msgs[i]), c.describe);
  }
  CHECK(lines[1].reply == "echo_a");

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << agent.log_tail());
  const std::vector<GrpcExpect> calls = {{"Unary", 0}, {"Unary", 0}, {"ServerStream", 0},
                                         {"Bidi", 0},  {"Unary", 5}, {"Unary", 0}};
  auto servers = expect_grpc_calls(spans, "SERVER", server.pid(), port, calls);
  auto clients = expect_grpc_calls(spans, "CLIENT", c.pid, port, calls);
  REQUIRE(clients.size() == calls.size());
  check_children(clients, servers);
  // Exactly what the client span says, once, and the application's own metadata unchanged.
  CHECK(lines[0].reply == meta_reply(traceparent_of(clients[0]), "first"));
  CHECK(lines[5].reply == meta_reply(traceparent_of(clients[5]), "first"));
  CHECK(agent.log().find("injection: done=6 ") != std::string::npos);
}

TEST_CASE("gRPC injection: an application's own traceparent stands, never a second one",
          "[e2e][http2][grpc][go][inject][context]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24551);
  const auto dir = fresh_dir("grpc_inject_own");
  Process server = start_grpc_server(dir, "grpc-go-server", port, grpc_go_server(port));
  Agent agent(dir, {.ports = {port}});
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string parent_id = "00f067aa0ba902b7";
  const std::string own = "00-" + trace_id + "-" + parent_id + "-01";
  // The first call has no context of its own (injected); from the second on the connection
  // carries the application's (its name a literal once, then a dynamic table reference).
  CommandResult c = run_command(
      dir, grpc_go_client(
               port, {"unary:meta", "traceparent:" + own, "unary:meta", "stream:2", "unary:meta"}));
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  const auto lines = parse_grpc_calls(c.out);
  ZTRACE_E2E_REQUIRE_PEER(lines.size() == 4, c.describe);
  for (const auto& l : lines) ZTRACE_E2E_REQUIRE_PEER(l.code == 0, c.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << agent.log_tail());
  const std::vector<GrpcExpect> calls = {
      {"Unary", 0}, {"Unary", 0}, {"ServerStream", 0}, {"Unary", 0}};
  auto servers = expect_grpc_calls(spans, "SERVER", server.pid(), port, calls);
  auto clients = expect_grpc_calls(spans, "CLIENT", c.pid, port, calls);
  REQUIRE(servers.size() == calls.size());
  REQUIRE(clients.size() == calls.size());
  CHECK(lines[0].reply == meta_reply(traceparent_of(clients[0]), ""));
  CHECK(lines[1].reply == meta_reply(own, ""));
  CHECK(lines[3].reply == meta_reply(own, ""));
  check_children({clients[0]}, {servers[0]});
  for (size_t i = 1; i < calls.size(); ++i) {
    INFO("call " << i);
    CHECK(servers[i].trace_id == trace_id);
    CHECK(servers[i].parent_span_id == parent_id);
    CHECK(clients[i].trace_id == trace_id);
  }
  CHECK(agent.log().find("injection: done=1 ") != std::string::npos);
}

TEST_CASE("gRPC injection off (--no-inject): spans made, nothing sent, servers unlinked",
          "[e2e][http2][grpc][go][inject]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24552);
  const auto dir = fresh_dir("grpc_inject_off");
  Process server = start_grpc_server(dir, "grpc-go-server", port, grpc_go_server(port));
  Agent agent(dir, {.ports = {port}, .extra_args = {"--no-inject"}});
  CommandResult c = run_command(
      dir, grpc_go_client(port, {"header:x-e2e=off", "unary:meta", "stream:2", "unary:meta"}));
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  const auto lines = parse_grpc_calls(c.out);
  ZTRACE_E2E_REQUIRE_PEER(lines.size() == 3, c.describe);
  CHECK(lines[0].reply == meta_reply("", "off"));
  CHECK(lines[2].reply == meta_reply("", "off"));

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  const std::vector<GrpcExpect> calls = {{"Unary", 0}, {"ServerStream", 0}, {"Unary", 0}};
  auto servers = expect_grpc_calls(spans, "SERVER", server.pid(), port, calls);
  auto clients = expect_grpc_calls(spans, "CLIENT", c.pid, port, calls);
  REQUIRE(servers.size() == calls.size());
  for (const Span& s : servers) CHECK(s.parent_span_id.empty());
}

}  // namespace ztrace::e2e
