// A gRPC chain across languages is one trace: Node and C++ clients call a Go relay, which
// calls a second Go relay (stripped), which calls a Java server. Between processes the agent
// injects the context (sk_msg); inside each Go relay the gRPC probes link the stream a handler
// serves to the call it makes (bpf/goroutine_maps.bpf.h).
#include <catch2/catch_test_macros.hpp>
#include <map>

#include "tests/e2e/grpc_peers.h"
#include "tests/e2e/harness.h"

namespace ztrace::e2e {
namespace {

// The spans of one kind made by one process.
std::vector<Span> spans_of(const std::vector<Span>& spans, std::string_view kind, pid_t pid) {
  return of_pid(of_kind(spans, kind), pid);
}

// Children by parent span id; a parent with two children maps to none (a wrong link).
std::map<std::string, const Span*> only_child_by_parent(const std::vector<Span>& spans) {
  std::map<std::string, const Span*> out;
  std::map<std::string, int> seen;
  for (const Span& s : spans) {
    if (s.parent_span_id.empty()) continue;
    if (++seen[s.parent_span_id] == 1) {
      out[s.parent_span_id] = &s;
    } else {
      out.erase(s.parent_span_id);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("gRPC chain across languages is one trace: Node, C++ -> Go -> Go (stripped) -> Java",
          "[e2e][http2][grpc][go][context]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int java_port = reserve_port(24570);
  const int b_port = reserve_port(24571);
  const int a_port = reserve_port(24572);
  const auto dir = fresh_dir("grpc_chain");
  // The relays dial their next hop at their first call, after the agent started: the agent
  // only injects into connections whose start it saw.
  Process java = start_grpc_server(dir, "grpc-java-server", java_port, grpc_java_server(java_port));
  Process b = start_grpc_server(dir, "grpc-go-relay-b", b_port,
                                grpc_go_relay(b_port, java_port, /*stripped=*/true));
  Process a = start_grpc_server(dir, "grpc-go-relay-a", a_port,
                                grpc_go_relay(a_port, b_port, /*stripped=*/false));
  Agent agent(dir, {.ports = {a_port, b_port, java_port}});

  constexpr int kCallsPerClient = 20;
  const std::vector<std::string> languages = {"node", "node", "cpp", "cpp"};
  std::vector<Process> clients;
  for (size_t c = 0; c < languages.size(); ++c) {
    std::vector<std::string> steps;
    for (int i = 0; i < kCallsPerClient; ++i) {
      steps.push_back("unary:relay:relay:ok:" + std::to_string(c) + "-" + std::to_string(i));
    }
    const std::string name = "client-" + languages[c] + "-" + std::to_string(c);
    clients.emplace_back(ProcessOptions{.argv = languages[c] == "node"
                                                    ? grpc_node_client(a_port, steps)
                                                    : grpc_cpp_client(a_port, steps),
                                        .stdout_path = dir / (name + ".out"),
                                        .stderr_path = dir / (name + ".err")});
  }
  for (auto& client : clients) {
    const auto exit = client.wait_exit(90s);
    ZTRACE_E2E_REQUIRE_PEER((exit && *exit == 0), client.describe());
    const auto lines = parse_grpc_calls(client.stdout_text());
    ZTRACE_E2E_REQUIRE_PEER(lines.size() == kCallsPerClient, client.describe());
    for (const auto& line : lines) {
      ZTRACE_E2E_REQUIRE_PEER((line.code == 0 && line.msgs == 1), client.describe());
    }
  }

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("agent log:\n" << agent.log_tail());
  const size_t calls = languages.size() * kCallsPerClient;
  std::vector<Span> starts;
  for (const auto& client : clients) {
    for (const Span& s : spans_of(spans, "CLIENT", client.pid())) starts.push_back(s);
  }
  // Each hop, in order: its spans, and who they must be children of.
  const std::vector<std::pair<std::string, std::vector<Span>>> hops = {
      {"Go relay SERVER", spans_of(spans, "SERVER", a.pid())},
      {"Go relay CLIENT", spans_of(spans, "CLIENT", a.pid())},
      {"stripped Go relay SERVER", spans_of(spans, "SERVER", b.pid())},
      {"stripped Go relay CLIENT", spans_of(spans, "CLIENT", b.pid())},
      {"Java SERVER", spans_of(spans, "SERVER", java.pid())}};
  CHECK(starts.size() == calls);
  for (const auto& [name, hop] : hops) {
    INFO(name);
    CHECK(hop.size() == calls);
  }
  std::vector<std::map<std::string, const Span*>> children;
  for (const auto& hop : hops) children.push_back(only_child_by_parent(hop.second));

  size_t whole = 0;
  std::vector<std::string> broken;
  for (const Span& start : starts) {
    const Span* at = &start;
    size_t depth = 0;
    for (; depth < hops.size(); ++depth) {
      auto next = children[depth].find(at->span_id);
      if (next == children[depth].end() || next->second->trace_id != start.trace_id) break;
      at = next->second;
    }
    if (depth == hops.size()) {
      ++whole;
    } else if (broken.size() < 5) {
      broken.push_back(start.describe() + ": the chain ends before the " + hops[depth].first);
    }
  }
  INFO("broken chains (first 5):\n"
       << [&] {
            std::string out;
            for (const auto& b : broken) out += b + "\n";
            return out;
          }());
  CHECK(whole == calls);
  const std::string log = agent.log();
  CHECK(log.find("h2_streams_without_connection=0") != std::string::npos);
}

TEST_CASE("gRPC over TLS (Go crypto/tls): a TLS server stream's calls are its children",
          "[e2e][http2][grpc][go][tls][context]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int java_port = reserve_port(24573);
  const int relay_port = reserve_port(24574);
  const auto dir = fresh_dir("grpc_tls_relay");
  const CommandResult cert = run_command(
      dir, {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", (dir / "key.pem").string(), "-out", (dir / "cert.pem").string(),
            "-days", "1", "-subj", "/CN=localhost"});
  REQUIRE(cert.exit_code == 0);
  Process java = start_grpc_server(dir, "grpc-java-server", java_port, grpc_java_server(java_port));
  Process relay = start_grpc_server(dir, "grpc-go-tls-relay", relay_port,
                                    grpc_go_relay(relay_port, java_port, false),
                                    {{"GRPC_PEER_TLS_CERT", (dir / "cert.pem").string()},
                                     {"GRPC_PEER_TLS_KEY", (dir / "key.pem").string()}});
  Agent agent(dir, {.ports = {relay_port, java_port}});

  constexpr int kCalls = 15;
  std::vector<std::string> steps;
  for (int i = 0; i < kCalls; ++i) steps.push_back("unary:relay:ok:" + std::to_string(i));
  const CommandResult c =
      run_command(dir, grpc_go_client(relay_port, steps), 60s, {{"GRPC_PEER_TLS", "1"}});
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  const auto lines = parse_grpc_calls(c.out);
  ZTRACE_E2E_REQUIRE_PEER(lines.size() == kCalls, c.describe);
  for (int i = 0; i < kCalls; ++i) {
    ZTRACE_E2E_REQUIRE_PEER(lines[i].reply == "relayed_echo_" + std::to_string(i), c.describe);
  }

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << agent.log_tail());
  const std::vector<GrpcExpect> unary(kCalls, {"Unary", 0});
  // The TLS side (HTTP/2 in the plaintext the crypto/tls probes see; the ciphertext gives
  // no span): both ends are Go.
  const auto served = expect_grpc_calls(spans, "SERVER", relay.pid(), relay_port, unary);
  const auto tls_calls = expect_grpc_calls(spans, "CLIENT", c.pid, relay_port, unary);
  // The plaintext side: the relay's calls and the Java server's spans.
  const auto calls = expect_grpc_calls(spans, "CLIENT", relay.pid(), java_port, unary);
  const auto answered = expect_grpc_calls(spans, "SERVER", java.pid(), java_port, unary);
  REQUIRE(served.size() == kCalls);
  REQUIRE(calls.size() == kCalls);
  check_children(served, calls);
  check_children(calls, answered);
  // The TLS hop cannot carry the agent's context: the relay's streams start their traces.
  for (const Span& s : served) CHECK(s.parent_span_id.empty());
}

}  // namespace ztrace::e2e
