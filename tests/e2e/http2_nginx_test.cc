// HTTP/2 over cleartext (h2c, prior knowledge): curl and h2load against nginx. Both sides of
// every stream become spans with the HTTP conventions and network.protocol.version "2".
#include <catch2/catch_test_macros.hpp>
#include <map>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {

TEST_CASE("curl to nginx over h2c: statuses, a large body and HEAD", "[e2e][http2][nginx][curl]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24520);
  const auto dir = fresh_dir("http2_curl_nginx");
  Process nginx = start_nginx_h2c(dir, port);
  Agent agent(dir, {.ports = {port}});

  // One curl per request: curl 7.88 fails to reuse a prior-knowledge h2c connection
  // ("Error in the HTTP2 framing layer" on the second request, with or without the agent).
  const std::vector<std::string> h2 = {"--http2-prior-knowledge"};
  struct Row {
    HttpExpect e;
    CurlRequest request;
    CommandResult result;
    CurlLine line;
  };
  std::vector<Row> rows = {
      {{"GET", "/static/index.html", 200, port, "2"}, {.url = url(port, "/static/index.html")}},
      {{"GET", "/static/missing.html", 404, port, "2"}, {.url = url(port, "/static/missing.html")}},
      {{"GET", "/boom", 500, port, "2"}, {.url = url(port, "/boom")}},
      {{"GET", "/static/big.bin", 200, port, "2"}, {.url = url(port, "/static/big.bin")}},
      {{"HEAD", "/static/head.html", 200, port, "2"},
       {.url = url(port, "/static/head.html"), .method = "HEAD"}},
  };
  for (auto& row : rows) {
    row.request.extra_args = h2;
    row.result = run_command(dir, curl_command({row.request}));
    ZTRACE_E2E_REQUIRE_PEER(row.result.exit_code == 0, row.result.describe);
    auto lines = parse_curl_output(row.result.out);
    ZTRACE_E2E_REQUIRE_PEER(lines.size() == 1, row.result.describe);
    ZTRACE_E2E_REQUIRE_PEER(lines[0].code == row.e.status, row.result.describe);
    row.line = lines[0];
  }
  const std::vector<pid_t> workers = children_of(nginx.pid());
  ZTRACE_E2E_REQUIRE_PEER(workers.size() == 1, "nginx workers");

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == 10);
  CHECK(of_kind(spans, "SERVER").size() == 5);
  CHECK(of_kind(spans, "CLIENT").size() == 5);
  for (const auto& row : rows) {
    INFO("request " << row.e.method << " " << row.e.path);
    auto server_span = expect_one(spans, "SERVER", row.e);
    auto client_span = expect_one(spans, "CLIENT", row.e);
    if (server_span) {
      CHECK(server_span->attr_int("client.port") == std::optional<int64_t>(row.line.local_port));
      CHECK(server_span->attr_str("url.scheme") == std::optional<std::string>("http"));
      CHECK(server_span->attr_str("rpc.system") == std::nullopt);
      check_resource(*server_span, workers[0], "nginx", "", "nginx");
    }
    if (client_span) check_resource(*client_span, row.result.pid, "curl", "", "curl");
    if (server_span && client_span) check_encloses(*client_span, *server_span);
  }
}

TEST_CASE("h2load to nginx over h2c: hundreds of concurrent streams, exact span counts",
          "[e2e][http2][nginx][h2load]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24521);
  const auto dir = fresh_dir("http2_h2load_nginx");
  Process nginx = start_nginx_h2c(dir, port);
  Agent agent(dir, {.ports = {port}});

  // 3 connections, up to 100 streams in flight on each.
  constexpr int kRequests = 600;
  CommandResult h = run_command(
      dir,
      {"h2load", "-n", std::to_string(kRequests), "-c", "3", "-m", "100", url(port, "/echo/load")},
      120s);
  ZTRACE_E2E_REQUIRE_PEER(h.exit_code == 0, h.describe);
  ZTRACE_E2E_REQUIRE_PEER(
      h.out.find("requests: " + std::to_string(kRequests) + " total, " + std::to_string(kRequests) +
                 " started, " + std::to_string(kRequests) + " done, " + std::to_string(kRequests) +
                 " succeeded") != std::string::npos,
      h.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  const std::vector<Span> servers = of_kind(spans, "SERVER");
  const std::vector<Span> clients = of_kind(spans, "CLIENT");
  INFO(spans.size() << " spans; agent log:\n" << agent.log_tail());
  CHECK(servers.size() == kRequests);
  CHECK(clients.size() == kRequests);
  std::map<std::string, int> problems;
  for (const auto& s : spans) {
    if (s.path() != "/echo/load") ++problems["path " + s.path()];
    if (s.method() != "GET") ++problems["method " + s.method()];
    if (s.status() != 200) ++problems["status " + std::to_string(s.status())];
    if (s.attr_str("network.protocol.version") != std::optional<std::string>("2")) {
      ++problems["version"];
    }
    if (s.kind == "CLIENT" && s.pid() != h.pid) ++problems["client pid"];
  }
  // One message for all problems: an INFO inside the loop would end with each pass.
  std::string summary;
  for (const auto& [what, n] : problems) summary += what + ": " + std::to_string(n) + " spans\n";
  INFO(summary);
  CHECK(problems.empty());

  // Injection (several HEADERS per write, up to a bound per write): every server span with a
  // parent is the child of an h2load CLIENT span of the same trace, and there is one such
  // span per injected stream.
  std::map<std::string, const Span*> client_by_id;
  for (const Span& s : clients) client_by_id[s.span_id] = &s;
  int linked = 0;
  for (const Span& s : servers) {
    if (s.parent_span_id.empty()) continue;
    auto it = client_by_id.find(s.parent_span_id);
    INFO(s.describe());
    REQUIRE(it != client_by_id.end());
    CHECK(it->second->trace_id == s.trace_id);
    ++linked;
  }
  const std::string log = agent.log();
  const size_t at = log.find("injection: done=");
  REQUIRE(at != std::string::npos);
  const int done = std::stoi(log.substr(at + 16));
  CHECK(done == linked);
  CHECK(linked > 0);
}

}  // namespace ztrace::e2e
