// Injection never corrupts a request (issue 4): a raw-socket client (peers/python/raw_http.py)
// writes requests in several send calls, pipelined, over 1 KiB and over 64 KiB, HTTP/1.0 and
// with "Expect: 100-continue"; the server records every byte it reads. What it received must
// be what the client sent plus exactly one "traceparent: 00-<trace>-<span>-01\r\n" line per
// request (anywhere after the request line), carrying the client's CLIENT span; with
// --no-inject, exactly what the client sent.
//
// Hidden ([.]) and DISABLED in ctest until the agent injects: run with
//   ztrace_e2e_tests "[chain]"
#include <catch2/catch_test_macros.hpp>
#include <set>

#include "tests/e2e/chain.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e::chain {
namespace {

const std::vector<std::string> kScenarios = {"split", "pipelined", "large",
                                             "huge",  "http10",    "continue"};
constexpr size_t kRequests = 19;

// Requests the agent leaves unchanged by design: a header goes only into a request that
// starts at a message boundary the kernel knows, with its head whole in the send's first
// buffer (bpf/http1_framing.bpf.h); after a head it could not frame, no boundary on that
// connection is known any more.
// - split/1 sends its head in pieces: not whole, so neither it nor split/2-4 after it;
// - pipelined/2 and /3 follow another request in the same send, and after that send the
//   connection's boundaries are not followed (pipelined/4, /5);
// - large/3 has 20 KiB of headers, more than the 2 KiB the kernel scans.
// They must still arrive byte for byte, and they are traced (unlinked to the next hop).
const std::set<std::string> kNotInjected = {
    "/bytes/split/1",     "/bytes/split/2",     "/bytes/split/3",
    "/bytes/split/4",     "/bytes/pipelined/2", "/bytes/pipelined/3",
    "/bytes/pipelined/4", "/bytes/pipelined/5", "/bytes/large/3"};
constexpr size_t kConnections = 8;

struct RawRun {
  std::vector<RawConnection> conns;
  std::vector<std::string> paths;
  pid_t client_pid = -1;
};

RawRun run_raw_client(const fs::path& dir, int port, const fs::path& wire) {
  CommandResult r = run_command(dir, raw_http_client(port, wire, kScenarios), 60s);
  ZTRACE_E2E_REQUIRE_PEER(r.exit_code == 0, r.describe);
  RawRun run;
  run.conns = parse_raw_client_output(r.out);
  run.paths = raw_client_paths(r.out);
  run.client_pid = r.pid;
  ZTRACE_E2E_REQUIRE_PEER(run.conns.size() == kConnections, r.describe);
  ZTRACE_E2E_REQUIRE_PEER(run.paths.size() == kRequests, r.describe);
  for (const auto& c : run.conns) {
    ZTRACE_E2E_REQUIRE_PEER(c.statuses == std::vector<int>(c.requests, 200), r.describe);
  }
  return run;
}

}  // namespace

TEST_CASE(
    "injection: the server receives the client's bytes plus exactly one traceparent line "
    "per request (split; pipelined; over 1 KiB; over 64 KiB; HTTP/1.0; 100-continue)",
    "[.][chain][chain-inject]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24490);
  const auto dir = fresh_dir("chain_inject_bytes");
  const fs::path wire = dir / "wire";
  Process server = start_raw_http_server(dir, port, wire);
  Agent agent(dir, {.ports = {port}});
  const RawRun run = run_raw_client(dir, port, wire);
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));

  const WireComparison cmp = compare_raw_run(wire, run.conns, 1, kNotInjected);
  {
    INFO("bytes (sent-*.bin vs recv-*.bin in " << wire.string() << "):\n"
                                               << join_problems(cmp.problems));
    CHECK(cmp.problems.empty());
  }
  CHECK(cmp.requests.size() == kRequests);

  // Each request: one CLIENT span (the raw client) and one SERVER span; the added header is
  // the CLIENT span's context and the SERVER span its child.
  CHECK(spans.size() == 2 * kRequests);
  {
    const auto duplicates = duplicate_span_ids(spans);
    INFO("span ids used more than once:\n" << join_problems(duplicates));
    CHECK(duplicates.empty());
  }
  std::set<std::string> traces;
  for (const auto& wr : cmp.requests) {
    INFO("request " << wr.path);
    const auto client = with_path(of_pid(of_kind(spans, "CLIENT"), run.client_pid), wr.path);
    const auto srv = with_path(of_pid(of_kind(spans, "SERVER"), server.pid()), wr.path);
    CHECK(client.size() == 1);
    CHECK(srv.size() == 1);
    if (client.size() != 1 || srv.size() != 1) continue;
    INFO("client: " << client[0].describe() << "\nserver: " << srv[0].describe());
    if (kNotInjected.count(wr.path)) {
      CHECK(wr.traceparent.empty());
      CHECK(srv[0].parent_span_id != client[0].span_id);
      traces.insert(client[0].trace_id);
      continue;
    }
    CHECK(wr.traceparent == traceparent_of(client[0]));
    CHECK(srv[0].parent_span_id == client[0].span_id);
    CHECK(srv[0].trace_id == client[0].trace_id);
    CHECK(client[0].parent_span_id.empty());
    traces.insert(client[0].trace_id);
  }
  CHECK(traces.size() == kRequests);
}

TEST_CASE("injection off (--no-inject): the server receives exactly the client's bytes",
          "[.][chain][chain-inject]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24491);
  const auto dir = fresh_dir("chain_inject_bytes_off");
  const fs::path wire = dir / "wire";
  Process server = start_raw_http_server(dir, port, wire);
  Agent agent(dir, {.ports = {port}, .extra_args = {"--no-inject"}});
  const RawRun run = run_raw_client(dir, port, wire);
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));

  const WireComparison cmp = compare_raw_run(wire, run.conns, 0);
  {
    INFO("bytes:\n" << join_problems(cmp.problems));
    CHECK(cmp.problems.empty());
  }
  CHECK(cmp.requests.size() == kRequests);
  CHECK(spans.size() == 2 * kRequests);
  for (const auto& path : run.paths) {
    INFO("request " << path);
    const auto srv = with_path(of_pid(of_kind(spans, "SERVER"), server.pid()), path);
    CHECK(srv.size() == 1);
    CHECK(with_path(of_pid(of_kind(spans, "CLIENT"), run.client_pid), path).size() == 1);
    if (srv.size() == 1) CHECK(srv[0].parent_span_id.empty());
  }
}

}  // namespace ztrace::e2e::chain
