// curl -> python http.server (HTTP/1.1 keep-alive): both sides of every request.
#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {

TEST_CASE("curl to python: one CLIENT and one SERVER span per request with exact attributes",
          "[e2e][python][curl]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24110);
  const auto dir = fresh_dir("curl_python");
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port}});

  // Connection 1: four requests on one keep-alive connection; connection 2: one request.
  CommandResult c1 = run_command(
      dir,
      curl_command({{url(port, "/ok/a1")},
                    {url(port, "/ok/a2")},
                    {url(port, "/notfound/a3")},
                    {.url = url(port, "/echo/a4"), .method = "POST", .body = "hello ztrace"}}));
  CommandResult c2 = run_command(dir, curl_command({{url(port, "/ok/b1")}}));
  const std::string traffic = c1.describe + "\n" + c2.describe;
  ZTRACE_E2E_REQUIRE_PEER(c1.exit_code == 0, traffic);
  ZTRACE_E2E_REQUIRE_PEER(c2.exit_code == 0, traffic);
  auto l1 = parse_curl_output(c1.out);
  auto l2 = parse_curl_output(c2.out);
  ZTRACE_E2E_REQUIRE_PEER(l1.size() == 4, traffic);
  ZTRACE_E2E_REQUIRE_PEER(l2.size() == 1, traffic);
  // The traffic is what the test means: one reused connection, then a second one.
  ZTRACE_E2E_REQUIRE_PEER(l1[0].connects == 1, traffic);
  for (int i = 1; i < 4; ++i)
    ZTRACE_E2E_REQUIRE_PEER((l1[i].connects == 0 && l1[i].local_port == l1[0].local_port), traffic);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == 10);
  if (spans.empty()) FAIL("the agent wrote no spans");
  CHECK(of_kind(spans, "SERVER").size() == 5);
  CHECK(of_kind(spans, "CLIENT").size() == 5);

  struct Row {
    HttpExpect e;
    pid_t curl_pid;
    int curl_port;
  };
  const Row rows[] = {
      {{"GET", "/ok/a1", 200, port}, c1.pid, l1[0].local_port},
      {{"GET", "/ok/a2", 200, port}, c1.pid, l1[0].local_port},
      {{"GET", "/notfound/a3", 404, port}, c1.pid, l1[0].local_port},
      {{"POST", "/echo/a4", 200, port}, c1.pid, l1[0].local_port},
      {{"GET", "/ok/b1", 200, port}, c2.pid, l2[0].local_port},
  };
  const std::string ua = curl_user_agent();
  for (const auto& row : rows) {
    INFO("request " << row.e.method << " " << row.e.path);
    auto server_span = expect_one(spans, "SERVER", row.e);
    auto client_span = expect_one(spans, "CLIENT", row.e);
    if (server_span) {
      CHECK(server_span->attr_int("client.port") == std::optional<int64_t>(row.curl_port));
      CHECK(server_span->attr_str("user_agent.original") == std::optional<std::string>(ua));
      check_resource(*server_span, server.pid(), "", "python");
      CHECK(server_span->service().rfind("python3", 0) == 0);
      CHECK(server_span->res_str("process.command_line").value_or("").find("http_server.py") !=
            std::string::npos);
    }
    if (client_span) {
      CHECK(client_span->attr_str("user_agent.original") == std::optional<std::string>(ua));
      check_resource(*client_span, row.curl_pid, "curl", "", "curl");
      CHECK(client_span->res_str("process.command_line").value_or("").find(row.e.path) !=
            std::string::npos);
    }
    if (server_span && client_span) check_encloses(*client_span, *server_span);
  }
}

TEST_CASE("curl to python: status ERROR for 5xx on both sides and for 4xx only on the client",
          "[e2e][python][curl][status]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24190);
  const auto dir = fresh_dir("status_codes");
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port}});
  auto out = must_run(dir, curl_command({{url(port, "/ok/s1")},
                                         {url(port, "/notfound/s2")},
                                         {url(port, "/error/s3")},
                                         {url(port, "/ok/s4")}}));
  auto lines = parse_curl_output(out);
  REQUIRE(lines.size() == 4);
  REQUIRE((lines[0].code == 200 && lines[1].code == 404 && lines[2].code == 500 &&
           lines[3].code == 200));

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == 8);
  if (spans.empty()) FAIL("the agent wrote no spans");
  struct Row {
    std::string path;
    int64_t status;
    std::string server_status, client_status;
  };
  const Row rows[] = {{"/ok/s1", 200, "UNSET", "UNSET"},
                      {"/notfound/s2", 404, "UNSET", "ERROR"},
                      {"/error/s3", 500, "ERROR", "ERROR"},
                      {"/ok/s4", 200, "UNSET", "UNSET"}};
  for (const auto& row : rows) {
    INFO(row.path);
    auto servers = with_path(of_kind(spans, "SERVER"), row.path);
    auto clients = with_path(of_kind(spans, "CLIENT"), row.path);
    CHECK(servers.size() == 1);
    CHECK(clients.size() == 1);
    if (servers.size() != 1 || clients.size() != 1) continue;
    CHECK(servers[0].status() == row.status);
    CHECK(clients[0].status() == row.status);
    CHECK(servers[0].status_code == row.server_status);
    CHECK(clients[0].status_code == row.client_status);
  }
}

}  // namespace ztrace::e2e
