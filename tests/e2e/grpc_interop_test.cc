// gRPC across languages: Node (@grpc/grpc-js), Go (grpc-go), C++ (grpc++), Java (grpc-java),
// each as server and as client, unary and streaming calls, OK and error statuses.
#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/grpc_peers.h"
#include "tests/e2e/harness.h"

namespace ztrace::e2e {
TEST_CASE("gRPC Go client to Node server", "[e2e][http2][grpc][node]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24540);
  const auto dir = fresh_dir("grpc_go_node");
  Process server = start_grpc_server(dir, "grpc-node-server", port, grpc_node_server(port));
  Agent agent(dir, {.ports = {port}});
  CommandResult c = run_command(dir, grpc_go_client(port, kGrpcSteps));
  check_grpc_run(agent, server, port, c, "node");
}

TEST_CASE("gRPC Node client to Go server", "[e2e][http2][grpc][node]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24541);
  const auto dir = fresh_dir("grpc_node_go");
  Process server = start_grpc_server(dir, "grpc-go-server", port, grpc_go_server(port));
  Agent agent(dir, {.ports = {port}});
  CommandResult c = run_command(dir, grpc_node_client(port, kGrpcSteps));
  check_grpc_run(agent, server, port, c, "go");
}

TEST_CASE("gRPC Node client to C++ server", "[e2e][http2][grpc][cpp]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24542);
  const auto dir = fresh_dir("grpc_node_cpp");
  Process server = start_grpc_server(dir, "grpc-cpp-server", port, grpc_cpp_server(port));
  Agent agent(dir, {.ports = {port}});
  CommandResult c = run_command(dir, grpc_node_client(port, kGrpcSteps));
  check_grpc_run(agent, server, port, c, "");
}

TEST_CASE("gRPC Go client to Java server", "[e2e][http2][grpc][java]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24544);
  const auto dir = fresh_dir("grpc_go_java");
  Process server = start_grpc_server(dir, "grpc-java-server", port, grpc_java_server(port));
  Agent agent(dir, {.ports = {port}});
  CommandResult c = run_command(dir, grpc_go_client(port, kGrpcSteps));
  check_grpc_run(agent, server, port, c, "java");
}

TEST_CASE("gRPC Java client to Node server", "[e2e][http2][grpc][java]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24545);
  const auto dir = fresh_dir("grpc_java_node");
  Process server = start_grpc_server(dir, "grpc-node-server", port, grpc_node_server(port));
  Agent agent(dir, {.ports = {port}});
  CommandResult c = run_command(dir, grpc_java_client(port, kGrpcSteps));
  check_grpc_run(agent, server, port, c, "node");
}

TEST_CASE("gRPC C++ client to Go server", "[e2e][http2][grpc][cpp]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24543);
  const auto dir = fresh_dir("grpc_cpp_go");
  Process server = start_grpc_server(dir, "grpc-go-server", port, grpc_go_server(port));
  Agent agent(dir, {.ports = {port}});
  CommandResult c = run_command(dir, grpc_cpp_client(port, kGrpcSteps));
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  const auto lines = parse_grpc_calls(c.out);
  ZTRACE_E2E_REQUIRE_PEER(lines.size() == kGrpcCalls.size(), c.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  const std::vector<Span> servers =
      expect_grpc_calls(spans, "SERVER", server.pid(), port, kGrpcCalls);
  // grpc++ writes a call with one iovec per header slice (dozens per write): the kernel
  // program walks up to 1024 iovecs and packs them into pieces, so its HPACK state stays
  // known and every call has its CLIENT span.
  const std::vector<Span> clients = expect_grpc_calls(spans, "CLIENT", c.pid, port, kGrpcCalls);
  // The injection walk follows a write's header blocks across its iovecs too: every call was
  // injected, so each server span is the child of its client span.
  if (servers.size() == kGrpcCalls.size() && clients.size() == kGrpcCalls.size()) {
    check_children(clients, servers);
  }
}

}  // namespace ztrace::e2e
