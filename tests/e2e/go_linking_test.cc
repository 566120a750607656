// In-process linking in Go (issues 4 and 5): a handler's outgoing HTTP call is written by
// another goroutine (the connection's writeLoop), on whatever thread runs it, so neither the
// thread rules nor the forwarded-line rule can link it: the /call/ route sends a different
// request line than it received. Only following goroutines (the request head's reader,
// persistConn.roundTrip, Request.write) links it. Every Go build (4 versions, plain, stripped,
// PIE), concurrent clients: every call must be the child of exactly the request it serves.
#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/chain.h"
#include "tests/e2e/go_apps.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

// A caller (A, /call/ handler) and its callee (B), both of one Go build.
struct CallPair {
  GoApp app;
  int caller_port, callee_port;
  std::unique_ptr<Process> caller, callee;
};

Process start_goapp(const fs::path& dir, const GoApp& app, int port, const std::string& name,
                    Env env = {}) {
  Process p({.argv = {app.path.string(), "server", std::to_string(port)},
             .env = std::move(env),
             .stdout_path = dir / (name + ".out"),
             .stderr_path = dir / (name + ".err")});
  if (!wait_for_port(port, 10s)) throw std::runtime_error("server did not listen: " + p.describe());
  return p;
}

constexpr int kClientsPerApp = 4;
constexpr int kRequestsPerClient = 10;

std::string call_id(const GoApp& app, int client, int request) {
  return app.label() + "-c" + std::to_string(client) + "-" + std::to_string(request);
}

}  // namespace

TEST_CASE("Go: a handler's outgoing call is the child of the request it serves, by goroutine",
          "[e2e][go-probes][go-linking]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto apps = go_apps();
  REQUIRE(apps.size() >= 3);
  const auto dir = fresh_dir("go_linking");
  std::vector<CallPair> pairs;
  std::vector<int> ports;
  for (size_t i = 0; i < apps.size(); ++i) {
    CallPair pair{apps[i], reserve_port(24500 + 2 * static_cast<int>(i)),
                  reserve_port(24501 + 2 * static_cast<int>(i)), nullptr, nullptr};
    pair.callee = std::make_unique<Process>(
        start_goapp(dir, pair.app, pair.callee_port, "callee-" + pair.app.label()));
    pair.caller = std::make_unique<Process>(
        start_goapp(dir, pair.app, pair.caller_port, "caller-" + pair.app.label(),
                    {{"GOAPP_NEXT", url(pair.callee_port, "")}}));
    ports.push_back(pair.caller_port);
    ports.push_back(pair.callee_port);
    pairs.push_back(std::move(pair));
  }
  Agent agent(dir, {.ports = ports});

  // Concurrent clients per build, all builds at once: goroutines of many requests interleave.
  std::vector<Process> clients;
  for (const auto& pair : pairs) {
    for (int c = 0; c < kClientsPerApp; ++c) {
      std::vector<std::string> argv = {pair.app.path.string(), "client", "-delay", "700ms"};
      for (int r = 0; r < kRequestsPerClient; ++r) {
        argv.push_back(url(pair.caller_port, "/call/" + call_id(pair.app, c, r)));
      }
      const std::string name = "client-" + pair.app.label() + "-" + std::to_string(c);
      clients.emplace_back(ProcessOptions{.argv = argv,
                                          .stdout_path = dir / (name + ".out"),
                                          .stderr_path = dir / (name + ".err")});
    }
  }
  for (auto& client : clients) {
    const auto exit = client.wait_exit(60s);
    ZTRACE_E2E_REQUIRE_PEER((exit && *exit == 0), client.describe());
  }
  std::vector<Span> spans = stop_and_collect(agent);
  const std::string log = agent.log();
  INFO("agent log:\n" << agent.log_tail());

  const size_t requests = pairs.size() * kClientsPerApp * kRequestsPerClient;
  size_t linked = 0;
  std::vector<std::string> problems;
  for (const auto& pair : pairs) {
    for (int c = 0; c < kClientsPerApp; ++c) {
      for (int r = 0; r < kRequestsPerClient; ++r) {
        const std::string id = call_id(pair.app, c, r);
        INFO("request " << id);
        auto served = expect_one(spans, "SERVER", {"GET", "/call/" + id, 200, pair.caller_port});
        auto call = expect_one(spans, "CLIENT", {"GET", "/ok/next-" + id, 200, pair.callee_port});
        auto callee = expect_one(spans, "SERVER", {"GET", "/ok/next-" + id, 200, pair.callee_port});
        if (!served || !call || !callee) continue;
        CHECK(served->pid() == pair.caller->pid());
        CHECK(call->pid() == pair.caller->pid());
        if (call->parent_span_id != served->span_id || call->trace_id != served->trace_id) {
          problems.push_back(id + ": the call's parent is '" + call->parent_span_id +
                             "', not its request " + served->span_id);
        } else {
          ++linked;
        }
        // The agent's traceparent carried the call's context to the callee.
        if (callee->parent_span_id != call->span_id || callee->trace_id != call->trace_id) {
          problems.push_back(id + ": the callee's parent is '" + callee->parent_span_id +
                             "', not the call " + call->span_id);
        }
      }
    }
  }
  INFO("problems:\n" << chain::join_problems(problems));
  CHECK(problems.empty());
  CHECK(linked == requests);
  // The outcome is reported as goroutine linking, not as another rule that happened to agree.
  CHECK(log.find("by_goroutine=" + std::to_string(requests) + " ") != std::string::npos);
}

}  // namespace ztrace::e2e
