// Process selection: --exe picks up processes started after the agent, --pid covers the
// children a process forked before the agent started; unselected clients stay untraced.
#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {

TEST_CASE("selection: --exe traces a server started after the agent and not its clients",
          "[e2e][selection]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24200);
  const auto dir = fresh_dir("select_exe");
  Agent agent(dir, {.exes = {"python3*"}});
  Process server = start_python_server(dir, port);  // exec seen by the running agent

  CommandResult c = run_command(
      dir, curl_command({{url(port, "/ok/e1")}, {url(port, "/ok/e2")}, {url(port, "/missing/e3")}}));
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  ZTRACE_E2E_REQUIRE_PEER(parse_curl_output(c.out).size() == 3, c.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  CHECK(of_kind(spans, "CLIENT").empty());  // curl does not match the glob
  const auto servers = of_kind(spans, "SERVER");
  CHECK(servers.size() == 3);
  CHECK(of_pid(servers, server.pid()).size() == 3);
  expect_one(spans, "SERVER", {"GET", "/ok/e1", 200, port});
  expect_one(spans, "SERVER", {"GET", "/ok/e2", 200, port});
  expect_one(spans, "SERVER", {"GET", "/missing/e3", 404, port});
}

TEST_CASE("selection: --pid covers workers forked before the agent started",
          "[e2e][selection][nginx]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24210);
  const auto dir = fresh_dir("select_pid");
  Process nginx = start_nginx(dir, port);
  const std::vector<pid_t> workers = children_of(nginx.pid());
  ZTRACE_E2E_REQUIRE_PEER(workers.size() == 1, "nginx should run one worker");
  Agent agent(dir, {.pids = {nginx.pid()}});

  CommandResult c = run_command(
      dir, curl_command({{url(port, "/static/index.html")}, {url(port, "/static/missing.html")}}));
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == 2);
  CHECK(of_kind(spans, "CLIENT").empty());
  CHECK(of_pid(spans, workers[0]).size() == 2);
  expect_one(spans, "SERVER", {"GET", "/static/index.html", 200, port});
  expect_one(spans, "SERVER", {"GET", "/static/missing.html", 404, port});
}

}  // namespace ztrace::e2e
