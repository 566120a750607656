// The command line of the agent contract: every flag the tests rely on, in the documented
// place (after `run`).
#include <catch2/catch_test_macros.hpp>

#include <sstream>

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

// `ztrace check` loads every BPF program into this kernel as the agent does. Each must load, and
// its verified instruction count must stay under a quarter of the verifier's 1,000,000:
// headroom for the next compiler and kernel, found here rather than in production. The maps'
// kernel memory has a budget too: 77.3 MiB at the default settings when it was set, so a map
// made larger or a shared map duplicated shows here.
TEST_CASE(
    "check: every BPF program loads well under the verifier instruction limit, and the maps "
    "within their memory budget",
    "[e2e][cli]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  constexpr unsigned kInstructionBudget = 250'000;
  constexpr double kMapMemoryBudgetMiB = 96;
  const auto dir = fresh_dir("cli_check");
  const CommandResult check = run_command(dir, {agent_path().string(), "check"});
  INFO(check.describe);
  CHECK(check.exit_code == 0);
  std::istringstream out(check.out);
  std::string line;
  std::map<std::string, int> programs_per_object;
  std::map<std::string, double> map_mib;
  bool in_maps_table = false;
  while (std::getline(out, line)) {
    std::istringstream fields(line);
    if (line.starts_with("maps of ")) in_maps_table = true;
    if (in_maps_table) {  // "OBJECT MAPS N.N MiB", the total as "all objects MAPS N.N MiB"
      std::string object, word;
      if (line.starts_with("all objects")) {
        object = "all objects";
        fields >> word >> word;
      } else {
        fields >> object;
      }
      size_t maps = 0;
      double mib = -1;
      if (fields >> maps >> mib) map_mib[object] = mib;
      continue;
    }
    std::string object, program, loaded;
    fields >> object >> program >> loaded;
    if (object != "socket_trace" && object != "inject" && object != "go_probes" &&
        object != "openssl_probes" && object != "rdkafka_probes") {
      continue;
    }
    INFO(line);
    CHECK(loaded == "yes");
    unsigned verified = 0;
    fields >> verified;
    CHECK(verified > 0);
    CHECK(verified < kInstructionBudget);
    ++programs_per_object[object];
  }
  CHECK(programs_per_object["socket_trace"] >= 20);
  CHECK(programs_per_object["inject"] == 2);
  CHECK(programs_per_object["go_probes"] >= 10);
  CHECK(programs_per_object["openssl_probes"] == 3);
  CHECK(programs_per_object["rdkafka_probes"] == 3);  // produce calls, poll return, close
  for (const char* object :
       {"socket_trace", "inject", "go_probes", "openssl_probes", "rdkafka_probes"}) {
    INFO(object);
    CHECK(map_mib.count(object) == 1);
  }
  REQUIRE(map_mib.count("all objects") == 1);
  CHECK(map_mib["socket_trace"] > 1);  // the 4 MiB ring alone
  CHECK(map_mib["all objects"] < kMapMemoryBudgetMiB);
}

// `ztrace view --follow` on the file a running agent writes: the trace shows as a tree once it
// settles, while the agent still runs.
TEST_CASE("view: --follow shows a live trace from the agent's JSON lines as a tree", "[e2e][cli]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24108);
  const auto dir = fresh_dir("cli_view_follow");
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port}});
  Process viewer({.argv = {agent_path().string(), "view", "--follow", "--settle", "300ms",
                           agent.jsonl_path().string()},
                  .stdout_path = dir / "view.out",
                  .stderr_path = dir / "view.err"});
  must_run(dir, curl_command({{url(port, "/view/live")}}));
  const bool shown = wait_until(
      [&] { return viewer.stdout_text().find("└─ GET /view/live") != std::string::npos; }, 20s);
  INFO(viewer.describe());
  CHECK(shown);
  CHECK(viewer.stdout_text().find("trace ") == 0);
  CHECK(viewer.stdout_text().find("GET /view/live ") != std::string::npos);  // the root row
  CHECK(viewer.running());
  viewer.stop();
  CHECK(agent.stop() == 0);
}

}  // namespace ztrace::e2e
