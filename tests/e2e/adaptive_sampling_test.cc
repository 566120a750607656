// Adaptive sampling (issue 17): at a ratio of 0, a service whose p95 latency passes the
// threshold is boosted to every trace, then falls back once its window is fast again. The
// latency is injected by the python peer's /slow/ path (150 ms, over a 100 ms threshold).
//
// curl is not selected (only the server's pid is), so the server starts each trace and the
// kernel decides it with the server's threshold.
#include <catch2/catch_test_macros.hpp>
#include <fstream>

#include "tests/e2e/control_client.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

size_t spans_with_prefix(const std::vector<Span>& spans, const std::string& prefix) {
  size_t n = 0;
  for (const auto& span : spans) n += span.path().starts_with(prefix) ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE(
    "adaptive sampling: at ratio 0 a slow service is boosted to every trace, and falls back "
    "when its window is fast again",
    "[e2e][sampling][adaptive]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24750);
  const auto dir = fresh_dir("adaptive_sampling");
  const fs::path config = dir / "ztrace.yaml";
  std::ofstream(config) << "tracing:\n  mode: hybrid\n  sampling:\n    ratio: 0\n"
                           "    adaptive: {enabled: true, latency_threshold: 100ms, rate: 1.0, "
                           "window: 3s}\n";
  Process server = start_python_server(dir, port, {{"OTEL_SERVICE_NAME", "slowpoke"}});
  Agent agent(dir, {.pids = {server.pid()},
                    .extra_args = {"--config", config.string(), "--api-listen", "127.0.0.1:0"}});
  std::string base;
  REQUIRE(wait_until([&] { return !(base = control_url(agent.log())).empty(); }, 10s));

  get_numbered(dir, port, "/ok/fast-before-", 40);
  // Slow requests until the agent boosts the service (each second's tick decides).
  int slow_batches = 0;
  const bool boosted = wait_until(
      [&] {
        get_numbered(dir, port, "/slow/rising-" + std::to_string(slow_batches++) + "-", 5);
        // Logged once the service's processes have their rate in the kernel.
        return agent.log().find("adaptive boosts applied (slowpoke): 1 processes") !=
               std::string::npos;
      },
      20s);
  INFO("agent log (tail):\n" << agent.log_tail());
  REQUIRE(boosted);
  const std::string status = run_command(dir, {"curl", "-sS", base + "/api/tracing/status"}).out;
  CHECK(status.find(R"("service":"slowpoke")") != std::string::npos);
  CHECK(status.find(R"("boosted":true)") != std::string::npos);
  get_numbered(dir, port, "/slow/boosted-", 10);

  // Fast requests until the window forgets the slow ones.
  int fast_batches = 0;
  const bool recovered = wait_until(
      [&] {
        get_numbered(dir, port, "/ok/recovering-" + std::to_string(fast_batches++) + "-", 10);
        return agent.log().find("adaptive sampling: slowpoke recovered") != std::string::npos;
      },
      20s);
  CHECK(recovered);
  get_numbered(dir, port, "/ok/fast-after-", 40);
  const std::string metrics = run_command(dir, {"curl", "-sS", base + "/metrics"}).out;
  CHECK(metrics.find("\nztrace_adaptive_changes_total{change=\"boost\"} 1\n") != std::string::npos);
  CHECK(metrics.find("\nztrace_adaptive_boosted_services 0\n") != std::string::npos);

  CHECK(agent.stop() == 0);
  std::vector<std::string> problems;
  const std::vector<Span> spans = agent.spans(problems);
  CHECK(problems.empty());
  CHECK(spans_with_prefix(spans, "/ok/fast-before-") == 0);
  CHECK(spans_with_prefix(spans, "/slow/boosted-") == 10);  // every one while boosted
  CHECK(spans_with_prefix(spans, "/ok/fast-after-") == 0);
}

}  // namespace ztrace::e2e
