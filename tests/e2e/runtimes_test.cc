// Go, Java and Node servers with their own runtime's client: spans on both sides, with the
// resource naming the runtime, and service.name from OTEL_SERVICE_NAME where it is set.
#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

struct RuntimeCase {
  std::string runtime;         // process.runtime.name of both peers
  std::string server_service;  // expected service.name
  std::string client_service;
  std::string executable;  // process.executable.name of both peers
  std::string user_agent;  // exact; empty: only "starts with user_agent_prefix"
  std::string user_agent_prefix;
};

// Requests 1-4 go in one client run (one keep-alive connection), request 5 (POST) in a
// second run.
void check_runtime_spans(const std::vector<Span>& spans, int port, pid_t server_pid,
                         const CommandResult& c1, const CommandResult& c2,
                         const std::string& prefix, const RuntimeCase& rc) {
  std::vector<ClientLine> lines = parse_client_output(c1.out);
  for (const auto& l : parse_client_output(c2.out)) lines.push_back(l);
  const std::string traffic = c1.out + c2.out;
  ZTRACE_E2E_REQUIRE_PEER(lines.size() == 5, traffic);
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == 10);
  if (spans.empty()) FAIL("the agent wrote no spans");
  CHECK(of_kind(spans, "SERVER").size() == 5);
  CHECK(of_kind(spans, "CLIENT").size() == 5);
  const HttpExpect expected[] = {
      {"GET", "/ok/" + prefix + "1", 200, port},       {"GET", "/ok/" + prefix + "2", 200, port},
      {"GET", "/notfound/" + prefix + "3", 404, port}, {"GET", "/error/" + prefix + "4", 500, port},
      {"POST", "/echo/" + prefix + "5", 200, port},
  };
  for (size_t i = 0; i < std::size(expected); ++i) {
    const auto& e = expected[i];
    INFO("request " << e.method << " " << e.path);
    ZTRACE_E2E_REQUIRE_PEER(lines[i].code == e.status, traffic);
    // The peers' traffic is what this test means: requests 1-4 on one connection.
    ZTRACE_E2E_REQUIRE_PEER(lines[i].port == lines[i < 4 ? 0 : 4].port, traffic);
    auto server_span = expect_one(spans, "SERVER", e);
    auto client_span = expect_one(spans, "CLIENT", e);
    if (server_span) {
      check_resource(*server_span, server_pid, rc.server_service, rc.runtime, rc.executable);
      CHECK(server_span->attr_int("client.port") == std::optional<int64_t>(lines[i].port));
    }
    if (client_span) {
      check_resource(*client_span, i < 4 ? c1.pid : c2.pid, rc.client_service, rc.runtime,
                     rc.executable);
    }
    for (const auto& span : {server_span, client_span}) {
      if (!span) continue;
      INFO(span->describe());
      const std::string ua = span->attr_str("user_agent.original").value_or("<none>");
      if (!rc.user_agent.empty())
        CHECK(ua == rc.user_agent);
      else
        CHECK(ua.rfind(rc.user_agent_prefix, 0) == 0);
    }
    if (server_span && client_span) check_encloses(*client_span, *server_span);
  }
}

}  // namespace

TEST_CASE("Go net/http server and client", "[e2e][go]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24130);
  const auto dir = fresh_dir("go_http");
  go_peer();  // build before the agent starts
  Process server = start_go_server(dir, port, {{"OTEL_SERVICE_NAME", "e2e-go-server"}});
  Agent agent(dir, {.ports = {port}});
  CommandResult c1 =
      run_command(dir, go_client({url(port, "/ok/g1"), url(port, "/ok/g2"),
                                  url(port, "/notfound/g3"), url(port, "/error/g4")}));
  CommandResult c2 =
      run_command(dir, go_client({"-method", "POST", "-body", "go body", url(port, "/echo/g5")}));
  const std::string traffic = c1.describe + "\n" + c2.describe;
  ZTRACE_E2E_REQUIRE_PEER(c1.exit_code == 0, traffic);
  ZTRACE_E2E_REQUIRE_PEER(c2.exit_code == 0, traffic);
  const std::vector<Span> spans = stop_and_collect(agent);
  check_runtime_spans(spans, port, server.pid(), c1, c2, "g",
                      {.runtime = "go",
                       .server_service = "e2e-go-server",
                       .client_service = "ztrace-e2e-gopeer",
                       .executable = "ztrace-e2e-gopeer",
                       .user_agent = "Go-http-client/1.1"});
}

TEST_CASE("Java HttpServer and HttpURLConnection client", "[e2e][java]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24140);
  const auto dir = fresh_dir("java_http");
  java_classes();
  Process server = start_java_server(dir, port);
  Agent agent(dir, {.ports = {port}});
  const Env client_env = {{"OTEL_SERVICE_NAME", "e2e-java-client"}};
  CommandResult c1 = run_command(dir,
                                 java_client({url(port, "/ok/j1"), url(port, "/ok/j2"),
                                              url(port, "/notfound/j3"), url(port, "/error/j4")}),
                                 60s, client_env);
  CommandResult c2 = run_command(
      dir, java_client({"--method", "POST", "--body", "java body", url(port, "/echo/j5")}), 60s,
      client_env);
  const std::string traffic = c1.describe + "\n" + c2.describe;
  ZTRACE_E2E_REQUIRE_PEER(c1.exit_code == 0, traffic);
  ZTRACE_E2E_REQUIRE_PEER(c2.exit_code == 0, traffic);
  const std::vector<Span> spans = stop_and_collect(agent);
  check_runtime_spans(spans, port, server.pid(), c1, c2, "j",
                      {.runtime = "java",
                       .server_service = "java",
                       .client_service = "e2e-java-client",
                       .executable = "java",
                       .user_agent_prefix = "Java/"});
}

TEST_CASE("Node http server and client", "[e2e][node]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24150);
  const auto dir = fresh_dir("node_http");
  Process server = start_node_server(dir, port, {{"OTEL_SERVICE_NAME", "e2e-node-server"}});
  Agent agent(dir, {.ports = {port}});
  CommandResult c1 = run_command(
      dir, node_client({"--user-agent", "e2e-node-client", url(port, "/ok/n1"), url(port, "/ok/n2"),
                        url(port, "/notfound/n3"), url(port, "/error/n4")}));
  CommandResult c2 =
      run_command(dir, node_client({"--user-agent", "e2e-node-client", "--method", "POST", "--body",
                                    "node body", url(port, "/echo/n5")}));
  const std::string traffic = c1.describe + "\n" + c2.describe;
  ZTRACE_E2E_REQUIRE_PEER(c1.exit_code == 0, traffic);
  ZTRACE_E2E_REQUIRE_PEER(c2.exit_code == 0, traffic);
  const std::vector<Span> spans = stop_and_collect(agent);
  check_runtime_spans(spans, port, server.pid(), c1, c2, "n",
                      {.runtime = "node",
                       .server_service = "e2e-node-server",
                       .client_service = "node",
                       .executable = "node",
                       .user_agent = "e2e-node-client"});
}

}  // namespace ztrace::e2e
