// Issue 17's hot reload of exporters and the metrics port: a reload that changes the config
// file's export: section sends the next spans to the new OTLP endpoint with its own headers,
// while the old exporter delivers what it held; a changed start-only section is reported as
// needing a restart; api.metrics_listen serves /metrics alone.
#include <catch2/catch_test_macros.hpp>
#include <fstream>
#include <regex>
#include <set>

#include "tests/e2e/control_client.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/otlp_support.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

std::string config_text(int otlp_port, const std::string& tenant, int max_connections) {
  return "export:\n  otlp:\n    endpoint: http://127.0.0.1:" + std::to_string(otlp_port) +
         "\n    headers: {x-tenant: " + tenant +
         "}\n    batch_delay: 100ms\n"
         "capture:\n  max_connections: " +
         std::to_string(max_connections) + "\napi:\n  metrics_listen: 127.0.0.1:0\n";
}

std::string get(const fs::path& dir, const std::string& method, const std::string& url) {
  return run_command(dir, {"curl", "-sS", "-X", method, "-w", "\n%{http_code}", url}).out;
}

// Waits until `receiver` holds `count` spans, then returns their ids.
std::set<std::string> span_ids(const Receiver& receiver, size_t count) {
  std::vector<Span> spans;
  wait_until([&] { return (spans = receiver.spans()).size() >= count; }, 10s);
  std::set<std::string> ids;
  for (const Span& span : spans) ids.insert(span.span_id);
  return ids;
}

}  // namespace

TEST_CASE(
    "config reload: a changed export section moves the next spans to the new endpoint and its "
    "headers, none lost or duplicated; start-only changes are named; /metrics on its own port",
    "[e2e][control][reload]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24760);
  const auto dir = fresh_dir("config_reload");
  fs::create_directories(dir / "first");
  fs::create_directories(dir / "second");
  Receiver first(dir / "first", {.http_port = Receiver::kAuto});
  Receiver second(dir / "second", {.http_port = Receiver::kAuto});
  const fs::path config = dir / "ztrace.yaml";
  std::ofstream(config) << config_text(first.http_port(), "first", 1000);
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port},
                    .extra_args = {"--config", config.string(), "--api-listen", "127.0.0.1:0"}});
  std::string base;
  REQUIRE(wait_until([&] { return !(base = control_url(agent.log())).empty(); }, 10s));
  std::smatch metrics_match;
  std::string log = agent.log();
  REQUIRE(std::regex_search(log, metrics_match, std::regex(R"(metrics on (http://[0-9.:]+)/)")));
  const std::string metrics_base = metrics_match[1];

  get_numbered(dir, port, "/before/", 3);
  const std::set<std::string> before = span_ids(first, 6);
  CHECK(before.size() == 6);

  std::ofstream(config, std::ios::trunc) << config_text(second.http_port(), "second", 2000);
  const std::string reloaded = api_post(dir, base + "/api/config/reload", "");
  INFO(reloaded);
  CHECK(reloaded.ends_with("\n200"));
  CHECK(reloaded.find("exporters replaced") != std::string::npos);
  CHECK(reloaded.find("applied at the next restart: capture") != std::string::npos);

  get_numbered(dir, port, "/after/", 2);
  const std::set<std::string> after = span_ids(second, 4);
  CHECK(after.size() == 4);
  for (const Span& span : second.spans()) CHECK(span.path().starts_with("/after/"));
  for (const auto& request : second.requests()) {
    CHECK(request["headers"].value("x-tenant", "") == "second");
  }
  for (const auto& request : first.requests()) {
    CHECK(request["headers"].value("x-tenant", "") == "first");
  }

  // The metrics port: /metrics, and nothing that reads or changes state.
  const std::string metrics = get(dir, "GET", metrics_base + "/metrics");
  CHECK(metrics.ends_with("\n200"));
  CHECK(metrics.find("\nztrace_spans_total{outcome=\"built\"} ") != std::string::npos);
  CHECK(get(dir, "GET", metrics_base + "/api/tracing/status").ends_with("\n404"));
  const std::string refused = get(dir, "POST", metrics_base + "/api/config/reload");
  CHECK(refused.find("reloaded") == std::string::npos);  // httplib: 400 or 404
  CHECK_FALSE(refused.ends_with("\n200"));

  CHECK(agent.stop() == 0);
  std::vector<std::string> problems;
  const std::vector<Span> written = agent.spans(problems);
  CHECK(written.size() == 10);
  CHECK(first.spans().size() == 6);  // nothing after the reload reached the old endpoint
  CHECK(second.spans().size() == 4);
}

}  // namespace ztrace::e2e
