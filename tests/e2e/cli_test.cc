// The command line of the agent contract: every flag the tests rely on, in the documented
// place (after `run`).
#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {

TEST_CASE("agent: run takes the contract flags and logs ready and traces and exits 0 on SIGINT",
          "[e2e][cli]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24106);
  const auto dir = fresh_dir("cli");
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port},
                    .extra_args = {"--max-capture-bytes", "16384", "--log-level", "debug"}});
  auto lines = parse_curl_output(must_run(dir, curl_command({{url(port, "/ok/cli")}})));
  REQUIRE(lines.size() == 1);
  REQUIRE(lines[0].code == 200);
  const std::vector<Span> spans = stop_and_collect(agent);
  CHECK(spans.size() == 2);
  if (spans.empty()) FAIL("the agent wrote no spans");
  expect_one(spans, "SERVER", {"GET", "/ok/cli", 200, port});
  expect_one(spans, "CLIENT", {"GET", "/ok/cli", 200, port});
}

TEST_CASE("agent: SIGTERM also flushes and exits 0", "[e2e][cli]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24107);
  const auto dir = fresh_dir("cli_sigterm");
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port}});
  must_run(dir, curl_command({{url(port, "/ok/term")}}));
  CHECK(agent.stop(20s, SIGTERM) == 0);
  std::vector<std::string> problems;
  const std::vector<Span> spans = agent.spans(problems);
  INFO("agent log (tail):\n" << agent.log_tail());
  CHECK(problems.empty());
  CHECK(with_path(spans, "/ok/term").size() == 2);
}

}  // namespace ztrace::e2e
