// gRPC with Go on both sides (Debian grpc-go): unary, server streaming and bidi calls, OK and
// error statuses (trailers and trailers-only), and a connection opened before the agent.
#include <catch2/catch_test_macros.hpp>
#include <map>
#include <set>
#include <thread>

#include "tests/e2e/grpc_peers.h"
#include "tests/e2e/harness.h"

namespace ztrace::e2e {

TEST_CASE("gRPC Go client to Go server: unary, streaming, statuses", "[e2e][http2][grpc][go]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24530);
  const auto dir = fresh_dir("grpc_go_go");
  Process server = start_grpc_server(dir, "grpc-go-server", port, grpc_go_server(port));
  Agent agent(dir, {.ports = {port}});

  CommandResult c = run_command(
      dir, grpc_go_client(port, {"unary:ok:a", "unary:fail:5:missing", "unary:fail:13:broken",
                                 "stream:4", "stream:2:fail:14", "bidi:3", "unary:fail:2"}));
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  const auto lines = parse_grpc_calls(c.out);
  ZTRACE_E2E_REQUIRE_PEER(lines.size() == 7, c.describe);
  const int codes[] = {0, 5, 13, 0, 14, 0, 2};
  const int msgs[] = {1, 0, 0, 4, 2, 3, 0};
  for (int i = 0; i < 7; ++i) {
    ZTRACE_E2E_REQUIRE_PEER((lines[i].code == codes[i] && lines[i].msgs == msgs[i]), c.describe);
  }

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == 14);
  const std::vector<GrpcExpect> calls = {{"Unary", 0},        {"Unary", 5},         {"Unary", 13},
                                         {"ServerStream", 0}, {"ServerStream", 14}, {"Bidi", 0},
                                         {"Unary", 2}};
  auto servers = expect_grpc_calls(spans, "SERVER", server.pid(), port, calls);
  auto clients = expect_grpc_calls(spans, "CLIENT", c.pid, port, calls);
  if (servers.size() == calls.size() && clients.size() == calls.size()) {
    for (size_t i = 0; i < calls.size(); ++i) {
      check_encloses(clients[i], servers[i]);
      CHECK(servers[i].attr_str("client.address") == std::optional<std::string>("127.0.0.1"));
      CHECK(servers[i].res_str("process.runtime.name") == std::optional<std::string>("go"));
    }
    // A stream lasts as long as its messages: 4 sent 5 ms apart.
    CHECK(servers[3].end_ns - servers[3].start_ns >= 15'000'000);
    CHECK((servers[0].end_ns - servers[0].start_ns < servers[3].end_ns - servers[3].start_ns));
  }
}

TEST_CASE("gRPC traceparent metadata names the server span's parent",
          "[e2e][http2][grpc][go][context]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24532);
  const auto dir = fresh_dir("grpc_go_traceparent");
  Process server = start_grpc_server(dir, "grpc-go-server", port, grpc_go_server(port));
  Agent agent(dir, {.ports = {port}});
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string parent_id = "00f067aa0ba902b7";
  CommandResult c =
      run_command(dir, grpc_go_client(port, {"unary:ok:plain",
                                             "traceparent:00-" + trace_id + "-" + parent_id + "-01",
                                             "unary:ok:traced", "stream:2"}));
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  ZTRACE_E2E_REQUIRE_PEER(parse_grpc_calls(c.out).size() == 3, c.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  const std::vector<GrpcExpect> calls = {{"Unary", 0}, {"Unary", 0}, {"ServerStream", 0}};
  auto servers = expect_grpc_calls(spans, "SERVER", server.pid(), port, calls);
  auto clients = expect_grpc_calls(spans, "CLIENT", c.pid, port, calls);
  REQUIRE(servers.size() == 3);
  REQUIRE(clients.size() == 3);
  // The first call had no context of its own: the agent injected its client span's.
  CHECK(servers[0].trace_id != trace_id);
  check_children({clients[0]}, {servers[0]});
  for (int i = 1; i < 3; ++i) {
    CHECK(servers[i].trace_id == trace_id);
    CHECK(servers[i].parent_span_id == parent_id);
    CHECK(clients[i].trace_id == trace_id);
  }
}

TEST_CASE("gRPC Go connection opened before the agent: no method or path is guessed",
          "[e2e][http2][grpc][go][midstream]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24531);
  const auto dir = fresh_dir("grpc_go_midstream");
  Process server = start_grpc_server(dir, "grpc-go-server", port, grpc_go_server(port));
  const fs::path go_on = dir / "go-on";
  // Before the agent: calls that fill both HPACK tables (path, content-type, grpc-status).
  const fs::path client_out = dir / "client.stdout";
  ProcessOptions o;
  // The client stays until told to go: a process running before the agent has no exec event
  // to describe it, and one that exits within milliseconds of its calls is gone before the
  // agent reads /proc for its resource (README, known limits).
  const fs::path go_off = dir / "go-off";
  o.argv = grpc_go_client(
      port, {"unary:ok:before", "stream:1", "wait:" + go_on.string(), "unary:ok:after", "stream:2",
             "bidi:2", "unary:fail:13", "wait:" + go_off.string()});
  o.cwd = dir;
  o.stdout_path = dir / "client.stdout";
  o.stderr_path = dir / "client.stderr";
  Process client(std::move(o));
  const bool waiting =
      wait_until([&] { return read_file(client_out).find("waiting") != std::string::npos; }, 60s);
  ZTRACE_E2E_REQUIRE_PEER(waiting, client.describe());
  Agent agent(dir, {.ports = {port}});
  write_file(go_on, "");
  const bool called =
      wait_until([&] { return parse_grpc_calls(read_file(client_out)).size() == 6; }, 60s);
  ZTRACE_E2E_REQUIRE_PEER(called, client.describe());
  std::this_thread::sleep_for(300ms);  // the agent's intake sees the calls (20 ms polls)
  write_file(go_off, "");
  ZTRACE_E2E_REQUIRE_PEER(client.wait_exit(60s) == std::optional<int>(0), client.describe());
  const auto lines = parse_grpc_calls(read_file(client_out));
  ZTRACE_E2E_REQUIRE_PEER(lines.size() == 6, client.describe());

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  // Every span names a call that really happened after the agent started, with its real
  // method; a call whose path came from an unseen table entry has no span.
  const std::set<std::string> after = {"/ztrace.e2e.Echo/Unary", "/ztrace.e2e.Echo/ServerStream",
                                       "/ztrace.e2e.Echo/Bidi"};
  std::map<std::string, int> per_path;
  for (const Span& s : spans) {
    INFO(s.describe());
    const std::string path =
        s.attr_str("rpc.system") ? "/" + s.name : s.attr_str("url.path").value_or("<none>");
    CHECK(after.count(path) == 1);
    CHECK((s.method() == "POST" || s.method().empty()));
    CHECK((s.pid() == server.pid() || s.pid() == client.pid()));
    ++per_path[path + " " + s.kind];
  }
  CHECK(spans.size() <= 8);
  // Bidi is a path neither table held before the agent: both sides must report it.
  CHECK(per_path["/ztrace.e2e.Echo/Bidi SERVER"] == 1);
  CHECK(per_path["/ztrace.e2e.Echo/Bidi CLIENT"] == 1);
  // ServerStream was indexed before the agent: a span for it would be a guess.
  CHECK(per_path["/ztrace.e2e.Echo/ServerStream SERVER"] == 0);
  CHECK(per_path["/ztrace.e2e.Echo/ServerStream CLIENT"] == 0);
}

}  // namespace ztrace::e2e
