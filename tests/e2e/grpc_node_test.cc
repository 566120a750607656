// gRPC across Node (@grpc/grpc-js) and Go (grpc-go): each language as server and as client,
// unary and streaming calls, OK and error statuses.
#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/grpc_peers.h"
#include "tests/e2e/harness.h"

namespace ztrace::e2e {
namespace {

const std::vector<std::string> kSteps = {"unary:ok:a", "unary:fail:5:missing", "stream:3",
                                         "stream:2:fail:14", "bidi:3", "unary:fail:4"};
const std::vector<GrpcExpect> kCalls = {{"Unary", 0},        {"Unary", 5}, {"ServerStream", 0},
                                        {"ServerStream", 14}, {"Bidi", 0},  {"Unary", 4}};

void check_run(const fs::path& dir, Agent& agent, const Process& server, int port,
               const CommandResult& c, const char* server_runtime) {
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  const auto lines = parse_grpc_calls(c.out);
  ZTRACE_E2E_REQUIRE_PEER(lines.size() == kCalls.size(), c.describe);
  for (size_t i = 0; i < kCalls.size(); ++i) {
    ZTRACE_E2E_REQUIRE_PEER(lines[i].code == kCalls[i].code, c.describe);
  }
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == 2 * kCalls.size());
  auto servers = expect_grpc_calls(spans, "SERVER", server.pid(), port, kCalls);
  auto clients = expect_grpc_calls(spans, "CLIENT", c.pid, port, kCalls);
  for (const auto& s : servers) {
    CHECK(s.res_str("process.runtime.name") == std::optional<std::string>(server_runtime));
  }
  if (servers.size() == kCalls.size() && clients.size() == kCalls.size()) {
    for (size_t i = 0; i < kCalls.size(); ++i) check_encloses(clients[i], servers[i]);
  }
  (void)dir;
}

}  // namespace

TEST_CASE("gRPC Go client to Node server", "[e2e][http2][grpc][node]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24540);
  const auto dir = fresh_dir("grpc_go_node");
  Process server = start_grpc_server(dir, "grpc-node-server", port, grpc_node_server(port));
  Agent agent(dir, {.ports = {port}});
  CommandResult c = run_command(dir, grpc_go_client(port, kSteps));
  check_run(dir, agent, server, port, c, "node");
}

TEST_CASE("gRPC Node client to Go server", "[e2e][http2][grpc][node]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24541);
  const auto dir = fresh_dir("grpc_node_go");
  Process server = start_grpc_server(dir, "grpc-go-server", port, grpc_go_server(port));
  Agent agent(dir, {.ports = {port}});
  CommandResult c = run_command(dir, grpc_node_client(port, kSteps));
  check_run(dir, agent, server, port, c, "go");
}

}  // namespace ztrace::e2e
