// In-process linking in Go (issues 4 and 5): a handler's outgoing HTTP call is written by
// another goroutine (the connection's writeLoop), on whatever thread runs it, so neither the
// thread rules nor the forwarded-line rule can link it: the /call/ route sends a different
// request line than it received. Only following goroutines (the request head's reader,
// persistConn.roundTrip, Request.write) links it. Every Go build (4 versions, plain, stripped,
// PIE), concurrent clients: every call must be the child of exactly the request it serves,
// over plaintext and over TLS (Go's crypto/tls plaintext).
#include <catch2/catch_test_macros.hpp>
#include <map>
#include <set>
#include <sstream>

#include "tests/e2e/chain.h"
#include "tests/e2e/go_apps.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

std::string base_url(bool tls, int port) {
  return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port);
}

// A caller (A, /call/ handler) and its callee (B), both of one Go build.
struct CallPair {
  GoApp app;
  bool caller_tls, callee_tls;
  int caller_port, callee_port;
  std::unique_ptr<Process> caller, callee;
};

constexpr int kClientsPerApp = 4;
constexpr int kRequestsPerClient = 10;

std::string call_id(const GoApp& app, int client, int request) {
  return app.label() + "-c" + std::to_string(client) + "-" + std::to_string(request);
}

// Starts a caller/callee pair per Go build (TLS as `tls_of` says for build i), runs
// concurrent clients against every caller at once (goroutines of many requests interleave),
// and checks every call's parent; `first_port` reserves 2 ports per build.
void check_calls_linked(const std::string& name, int first_port,
                        const std::function<std::pair<bool, bool>(size_t)>& tls_of) {
  const auto apps = go_apps();
  REQUIRE(apps.size() >= 3);
  const auto dir = fresh_dir(name);
  std::vector<CallPair> pairs;
  std::vector<int> ports;
  for (size_t i = 0; i < apps.size(); ++i) {
    const auto [caller_tls, callee_tls] = tls_of(i);
    CallPair pair{apps[i],
                  caller_tls,
                  callee_tls,
                  reserve_port(first_port + 2 * static_cast<int>(i)),
                  reserve_port(first_port + 1 + 2 * static_cast<int>(i)),
                  nullptr,
                  nullptr};
    pair.callee = std::make_unique<Process>(start_goapp_server(
        dir, pair.app.path, pair.callee_port, callee_tls, "callee-" + pair.app.label()));
    pair.caller = std::make_unique<Process>(start_goapp_server(
        dir, pair.app.path, pair.caller_port, caller_tls, "caller-" + pair.app.label(),
        {{"GOAPP_NEXT", base_url(callee_tls, pair.callee_port)}}));
    ports.push_back(pair.caller_port);
    ports.push_back(pair.callee_port);
    pairs.push_back(std::move(pair));
  }
  Agent agent(dir, {.ports = ports});

  std::vector<Process> clients;
  for (const auto& pair : pairs) {
    for (int c = 0; c < kClientsPerApp; ++c) {
      std::vector<std::string> argv = {pair.app.path.string(), "client", "-delay", "700ms"};
      for (int r = 0; r < kRequestsPerClient; ++r) {
        argv.push_back(base_url(pair.caller_tls, pair.caller_port) + "/call/" +
                       call_id(pair.app, c, r));
      }
      const std::string client = "client-" + pair.app.label() + "-" + std::to_string(c);
      clients.emplace_back(ProcessOptions{.argv = argv,
                                          .stdout_path = dir / (client + ".out"),
                                          .stderr_path = dir / (client + ".err")});
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
        if (pair.callee_tls) {
          // The agent cannot add a header inside TLS: the callee starts its own trace.
          if (!callee->parent_span_id.empty()) {
            problems.push_back(id + ": a TLS callee has parent " + callee->parent_span_id);
          }
        } else if (callee->parent_span_id != call->span_id || callee->trace_id != call->trace_id) {
          // The agent's traceparent carried the call's context to the callee.
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

}  // namespace

TEST_CASE("Go: a handler's outgoing call is the child of the request it serves, by goroutine",
          "[e2e][go-probes][go-linking]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  check_calls_linked("go_linking", 24600, [](size_t) { return std::pair{false, false}; });
}

TEST_CASE("Go HTTPS: calls are linked by goroutine through TLS plaintext, HTTPS and HTTP callees",
          "[e2e][go-probes][go-linking]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  // HTTPS callers; the callee is HTTPS for every other build, plaintext for the rest.
  check_calls_linked("go_linking_tls", 24630, [](size_t i) { return std::pair{true, i % 2 == 0}; });
}

// A request head split across reads ("G", then the rest; "GET", then the rest) still gets
// its context in the kernel: the incoming traceparent is its parent, and the call its handler
// makes is its child.
TEST_CASE("Go: request heads split across reads still start the goroutine's request",
          "[e2e][go-probes][go-linking]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto apps = go_apps();
  REQUIRE(!apps.empty());
  const GoApp& app = apps.back();
  const auto dir = fresh_dir("go_linking_split_head");
  const int caller_port = reserve_port(24660), callee_port = reserve_port(24661);
  Process callee = start_goapp_server(dir, app.path, callee_port, false, "callee");
  Process caller = start_goapp_server(dir, app.path, caller_port, false, "caller",
                                      {{"GOAPP_NEXT", base_url(false, callee_port)}});
  Agent agent(dir, {.ports = {caller_port, callee_port}});
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string parent_id = "00f067aa0ba902b7";
  // Two requests on one keep-alive connection, each written in two sends with a pause.
  std::ostringstream script;
  script << "import socket, time\n"
         << "s = socket.create_connection(('127.0.0.1', " << caller_port << "))\n"
         << "for cut, path in ((1, '/call/split-1'), (3, '/call/split-2')):\n"
         << "    head = ('GET ' + path + ' HTTP/1.1\\r\\nHost: 127.0.0.1:" << caller_port
         << "\\r\\ntraceparent: 00-" << trace_id << "-" << parent_id
         << "-01\\r\\n\\r\\n').encode()\n"
         << "    s.sendall(head[:cut]); time.sleep(0.2); s.sendall(head[cut:])\n"
         << "    reply = b''\n"
         << "    while not reply.endswith(b'called\\n'):\n"
         << "        chunk = s.recv(4096)\n"
         << "        if not chunk: raise SystemExit('closed')\n"
         << "        reply += chunk\n"
         << "    print(reply.split(b' ')[1].decode())\n";
  CommandResult client = run_command(dir, {"python3", "-c", script.str()}, 30s);
  ZTRACE_E2E_REQUIRE_PEER((client.exit_code == 0 && client.out == "200\n200\n"), client.describe);
  std::vector<Span> spans = stop_and_collect(agent);
  INFO("agent log:\n" << agent.log_tail());
  INFO("spans:\n" << describe(spans));
  for (const std::string id : {"split-1", "split-2"}) {
    INFO("request " << id);
    auto served = expect_one(spans, "SERVER", {"GET", "/call/" + id, 200, caller_port});
    auto call = expect_one(spans, "CLIENT", {"GET", "/ok/next-" + id, 200, callee_port});
    if (!served || !call) continue;
    CHECK(served->trace_id == trace_id);
    CHECK(served->parent_span_id == parent_id);
    CHECK(call->trace_id == trace_id);
    CHECK(call->parent_span_id == served->span_id);
  }
  CHECK(agent.log().find("by_goroutine=2 ") != std::string::npos);
}

// Go HTTPS servers speak HTTP/2 to clients that offer it (ALPN). net/http's HTTP/2 server
// reads frames in one goroutine, decodes headers in another and runs each handler in a third:
// its streams are followed by their own probes (processHeaders, runHandler, handlerDone), so
// a handler's calls are its stream's children. h2load sends one request line for all its
// streams, so only the stream probes can tell which stream a call belongs to.
TEST_CASE("Go HTTPS over HTTP/2: a handler's calls are its stream's children",
          "[e2e][go-probes][go-linking][http2]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  // Every Go version, plain (offsets from DWARF), and a stripped build (the tables).
  std::vector<GoApp> apps;
  for (const GoApp& app : go_apps()) {
    if (app.variant == "plain" || (app.variant == "stripped" && app.version == "1.21")) {
      apps.push_back(app);
    }
  }
  REQUIRE(apps.size() >= 3);
  const auto dir = fresh_dir("go_linking_h2");
  std::vector<CallPair> pairs;
  std::vector<int> ports;
  for (size_t i = 0; i < apps.size(); ++i) {
    CallPair pair{apps[i],
                  true,
                  false,
                  reserve_port(24680 + 2 * static_cast<int>(i)),
                  reserve_port(24681 + 2 * static_cast<int>(i)),
                  nullptr,
                  nullptr};
    pair.callee = std::make_unique<Process>(start_goapp_server(
        dir, pair.app.path, pair.callee_port, false, "callee-" + pair.app.label()));
    pair.caller = std::make_unique<Process>(
        start_goapp_server(dir, pair.app.path, pair.caller_port, true, "caller-" + pair.app.label(),
                           {{"GOAPP_NEXT", base_url(false, pair.callee_port)}}));
    ports.push_back(pair.caller_port);
    ports.push_back(pair.callee_port);
    pairs.push_back(std::move(pair));
  }
  Agent agent(dir, {.ports = ports});
  constexpr int kStreams = 64;
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string parent_id = "00f067aa0ba902b7";
  for (const auto& pair : pairs) {
    const std::string url = base_url(true, pair.caller_port) + "/call/";
    CommandResult load = run_command(dir, {"h2load", "-c2", "-m8", "-n" + std::to_string(kStreams),
                                           url + "h2-" + pair.app.label()});
    ZTRACE_E2E_REQUIRE_PEER(
        load.out.find(std::to_string(kStreams) + " succeeded, 0 failed") != std::string::npos,
        load.describe);
    CommandResult curl = run_command(
        dir, {"curl", "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
              "-H", "traceparent: 00-" + trace_id + "-" + parent_id + "-01",
              url + "curl-" + pair.app.label()});
    ZTRACE_E2E_REQUIRE_PEER(curl.out == "2 200", curl.describe);
  }
  std::vector<Span> spans = stop_and_collect(agent);
  INFO("agent log:\n" << agent.log_tail());

  for (const auto& pair : pairs) {
    INFO("Go " << pair.app.label());
    std::map<std::string, const Span*> streams;  // the caller's h2load SERVER spans by id
    std::vector<const Span*> calls, answers;
    for (const Span& s : spans) {
      if (s.kind == "SERVER" && s.path() == "/call/h2-" + pair.app.label()) {
        CHECK(s.pid() == pair.caller->pid());
        CHECK(s.attr_str("network.protocol.version") == "2");
        streams[s.span_id] = &s;
      } else if (s.kind == "CLIENT" && s.path() == "/ok/next-h2-" + pair.app.label()) {
        calls.push_back(&s);
      } else if (s.kind == "SERVER" && s.path() == "/ok/next-h2-" + pair.app.label()) {
        answers.push_back(&s);
      }
    }
    CHECK(streams.size() == kStreams);
    CHECK(calls.size() == kStreams);
    CHECK(answers.size() == kStreams);
    std::set<std::string> parents, call_ids;
    for (const Span* call : calls) {
      auto stream = streams.find(call->parent_span_id);
      if (stream == streams.end() || stream->second->trace_id != call->trace_id) continue;
      parents.insert(call->parent_span_id);
      call_ids.insert(call->span_id);
    }
    CHECK(parents.size() == kStreams);  // every call is the child of its own stream
    size_t answered = 0;
    for (const Span* answer : answers) answered += call_ids.count(answer->parent_span_id);
    CHECK(answered == kStreams);
    // The incoming traceparent of an HTTP/2 stream is its parent, and its call's trace.
    auto served = expect_one(spans, "SERVER",
                             {"GET", "/call/curl-" + pair.app.label(), 200, pair.caller_port, "2"});
    auto call = expect_one(spans, "CLIENT",
                           {"GET", "/ok/next-curl-" + pair.app.label(), 200, pair.callee_port});
    if (!served || !call) continue;
    CHECK(served->trace_id == trace_id);
    CHECK(served->parent_span_id == parent_id);
    CHECK(call->parent_span_id == served->span_id);
    CHECK(call->trace_id == trace_id);
  }
  CHECK(agent.log().find("h2_streams_without_connection=0") != std::string::npos);
}

}  // namespace ztrace::e2e
