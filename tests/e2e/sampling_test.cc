// Tracing modes and head sampling (issue 17): the kernel decides each new trace from its id,
// the injected traceparent carries the decision, and every hop agrees with no coordination.
// Modes change at run time from the config file on SIGHUP, with no probe reloaded.
#include <catch2/catch_test_macros.hpp>
#include <fstream>
#include <map>
#include <set>

#include "tests/e2e/chain.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e::chain {
namespace {

void write_config(const fs::path& path, const std::string& yaml) {
  std::ofstream(path, std::ios::trunc) << yaml;
}

}  // namespace

// 400 new traces at a ratio of 0.1: about 40 are kept. The count is binomial (sd 6); the
// tolerance [20, 64] is over 3.3 sd each way (a false failure about once in 1,000 runs).
TEST_CASE(
    "sampling: a ratio of 0.1 keeps about a tenth of the traces, and a chain of three "
    "services agrees hop by hop: all spans of a trace or none",
    "[e2e][sampling]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("sampling_ratio");
  Chain chain(dir,
              {.order = {Runtime::kGo, Runtime::kNode, Runtime::kPython}, .first_port = 24700});
  Agent agent(dir, {.ports = chain.ports(), .extra_args = {"--sampling-ratio", "0.1"}});
  constexpr int kRequests = 400;
  const CurlRun run =
      run_chain_curl(dir, chain.entry_port(), numbered("/chain/sampled-", kRequests), "ratio");
  REQUIRE(run.lines.size() == kRequests);
  for (const auto& line : run.lines) REQUIRE(line.code == 200);
  CHECK(agent.stop() == 0);
  std::vector<std::string> problems;
  const std::vector<Span> spans = agent.spans(problems);
  CHECK(problems.empty());

  constexpr size_t kSpansPerRequest = 6;  // curl CLIENT, 3 SERVER, 2 CLIENT
  std::map<std::string, std::vector<const Span*>> by_path;
  for (const auto& span : spans) by_path[span.path()].push_back(&span);
  std::vector<std::string> partial;
  size_t kept = 0;
  size_t spans_with_th = 0;
  for (const auto& [path, of_path] : by_path) {
    std::set<std::string> traces;
    for (const Span* span : of_path) {
      traces.insert(span->trace_id);
      // Every span of a trace started here (at curl's CLIENT span) records the threshold it
      // was sampled at: 0.1.
      spans_with_th += span->raw.value("trace_state", "") == "ot=th:e6666666666666" ? 1 : 0;
    }
    if (of_path.size() != kSpansPerRequest || traces.size() != 1) {
      partial.push_back(path + ": " + std::to_string(of_path.size()) + " spans in " +
                        std::to_string(traces.size()) + " traces");
    }
    ++kept;
  }
  INFO("agent log (tail):\n" << agent.log_tail());
  INFO("requests whose spans are not all there, in one trace:\n" << join_problems(partial));
  CHECK(partial.empty());
  CHECK(kept >= 20);
  CHECK(kept <= 64);
  CHECK(spans_with_th == spans.size());
  CHECK(agent.log().find("tracing: mode=hybrid ratio=0.1") != std::string::npos);
}

// A request that brings a tracestate (here from curl, as an instrumented caller would send
// it): every span of its trace on this node carries that tracestate, the SERVER spans and the
// calls the services make while serving it, as the services' own instrumentation would
// propagate it. A request without one starts its trace here: every span of it records the
// threshold it was sampled at.
TEST_CASE("sampling: an incoming tracestate is kept on every span of its trace here",
          "[e2e][sampling][tracestate]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("sampling_tracestate");
  Chain chain(dir, {.order = {Runtime::kGo, Runtime::kPython}, .first_port = 24770});
  Agent agent(dir, {.ports = chain.ports()});
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string tracestate = "congo=t61rcWkgMzE,ot=th:8";
  const CurlRun run = run_chain_curl(
      dir, chain.entry_port(),
      {{"/chain/with-state",
        {"traceparent: 00-" + trace_id + "-00f067aa0ba902b7-01", "tracestate: " + tracestate}},
       {"/chain/without-state", {}}},
      "tracestate");
  REQUIRE(run.lines.size() == 2);
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  INFO("agent log (tail):\n" << agent.log_tail());
  const std::vector<Span> with_state = with_path(spans, "/chain/with-state");
  CHECK(with_state.size() == 4);  // curl CLIENT, Go SERVER, Go CLIENT, Python SERVER
  for (const Span& span : with_state) {
    INFO(span.describe());
    CHECK(span.trace_id == trace_id);
    CHECK(span.raw.value("trace_state", "") == tracestate);
  }
  const std::vector<Span> without = with_path(spans, "/chain/without-state");
  CHECK(without.size() == 4);
  for (const Span& span : without) {
    INFO(span.describe());
    CHECK(span.raw.value("trace_state", "") == "ot=th:0");  // full sampling
  }
}

TEST_CASE(
    "sampling: modes change on SIGHUP from the config file (off, then full-e2e, then "
    "system-only); a broken file keeps the running mode",
    "[e2e][sampling]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24710);
  const auto dir = fresh_dir("sampling_modes");
  const fs::path config = dir / "ztrace.yaml";
  write_config(config, "tracing:\n  mode: off\n");
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port}, .extra_args = {"--config", config.string()}});
  const auto reload = [&](const std::string& yaml, const std::string& expect_in_log) {
    write_config(config, yaml);
    const size_t before = agent.log().size();
    agent.signal(SIGHUP);
    return wait_until([&] { return agent.log().find(expect_in_log, before) != std::string::npos; },
                      10s);
  };
  must_run(dir, curl_command({{url(port, "/mode/off")}}));
  CHECK(reload("tracing:\n  mode: full-e2e\n", "tracing: mode=full-e2e"));
  must_run(dir, curl_command({{url(port, "/mode/full")}}));
  CHECK(
      reload("tracing:\n  mode: [broken\n", "reload failed, running settings kept (mode=full-e2e"));
  must_run(dir, curl_command({{url(port, "/mode/still-full")}}));
  CHECK(reload("tracing:\n  mode: system-only\n", "tracing: mode=system-only"));
  must_run(dir, curl_command({{url(port, "/mode/system-only")}}));
  CHECK(agent.stop() == 0);
  std::vector<std::string> problems;
  const std::vector<Span> spans = agent.spans(problems);
  INFO("agent log (tail):\n" << agent.log_tail());
  CHECK(with_path(spans, "/mode/off").empty());
  CHECK(with_path(spans, "/mode/full").size() == 2);
  CHECK(with_path(spans, "/mode/still-full").size() == 2);
  CHECK(with_path(spans, "/mode/system-only").empty());
  CHECK(agent.log().find(" withheld=2") != std::string::npos);  // built, not exported
}

// Tail sampling at ratio 0: every 5xx and every request over its latency threshold (the global
// one, or a route's own) is kept, whole (curl's CLIENT span and python's SERVER span), and
// nothing else.
TEST_CASE(
    "sampling: with ratio 0, tail rules keep every 5xx and every slow request, and nothing else",
    "[e2e][sampling]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24730);
  const auto dir = fresh_dir("sampling_tail");
  const fs::path config = dir / "ztrace.yaml";
  write_config(config,
               "tracing:\n  mode: hybrid\n  sampling:\n    ratio: 0\n    tail: {decision_wait: "
               "1s, keep_errors: true, latency_threshold: 100ms, latency_rules: [{route: "
               "\"/slow/quiet*\", threshold: 1s}, {route: \"/ok/t9\", threshold: 1us}]}\n");
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port}, .extra_args = {"--config", config.string()}});
  std::vector<CurlRequest> requests;
  for (int i = 0; i < 10; ++i) requests.push_back({url(port, "/ok/t" + std::to_string(i))});
  requests.push_back({url(port, "/error/e1")});
  requests.push_back({url(port, "/slow/s1")});  // 150 ms: over the 100 ms threshold
  requests.push_back({url(port, "/slow/quiet1")});  // 150 ms: under its route's 1 s
  requests.push_back({url(port, "/error/e2")});
  must_run(dir, curl_command(requests));
  CHECK(agent.stop() == 0);  // traces still held at the stop are decided then
  std::vector<std::string> problems;
  const std::vector<Span> spans = agent.spans(problems);
  INFO("agent log (tail):\n" << agent.log_tail());
  INFO("spans:\n" << describe(spans));
  CHECK(problems.empty());
  for (const char* path : {"/error/e1", "/error/e2", "/slow/s1", "/ok/t9"}) {
    INFO(path);
    const auto of_path = with_path(spans, path);
    CHECK(of_path.size() == 2);  // curl's CLIENT and python's SERVER
    if (of_path.size() == 2) CHECK(of_path[0].trace_id == of_path[1].trace_id);
  }
  CHECK(spans.size() == 8);
  const std::string log = agent.log();
  CHECK(log.find("tracing: mode=hybrid ratio=0 tail(wait=1s keep_errors=true latency>=0.1s +2 "
                 "latency rules)") != std::string::npos);
  CHECK(log.find("tail sampling kept_error=2 kept_latency=2 kept_ratio=0 dropped=10") !=
        std::string::npos);
}

}  // namespace ztrace::e2e::chain
