// HTTP/2 over TLS (h2, negotiated by ALPN) to Go HTTPS servers (tests/go_apps/goapp: net/http
// turns h2 on by itself for TLS). The Go crypto/tls probes see the servers' plaintext, the
// OpenSSL probes (openssl_test.cc) that of curl and h2load: every exchange is one SERVER span
// of a goapp and one CLIENT span of the client. Two builds: the newest Go with DWARF and the oldest
// stripped one (offsets from the tables). curl sends sequential requests on one connection, h2load
// concurrent GETs and POSTs on a few connections; the span counts are exact and the run drops
// nothing.
#include <catch2/catch_test_macros.hpp>
#include <map>
#include <set>

#include "tests/e2e/go_apps.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

std::vector<GoApp> newest_plain_and_oldest_stripped() {
  std::optional<GoApp> plain, stripped;
  for (const GoApp& app : go_apps()) {  // in ascending Go version
    if (app.variant == "plain") plain = app;
    if (app.variant == "stripped" && !stripped) stripped = app;
  }
  REQUIRE(plain);
  REQUIRE(stripped);
  return {*plain, *stripped};
}

// Nothing lost between the probes and the spans: no event (the Go probes' TLS pieces, the
// syscall layer's), no byte of a stream, no HTTP/2 stream or framing.
void check_no_drops(const std::string& log) {
  CHECK(log.find("ring_full=0 ") != std::string::npos);
  CHECK(log.find("kernel drops data=0 control=0 inflight=0 conn_table=0; intake queue drops=0;") !=
        std::string::npos);
  CHECK(log.find(" lost_bytes=0 ") != std::string::npos);
  CHECK(log.find(" lost_sync=0 orphan_streams=0 dropped_streams=0 no_path=0") != std::string::npos);
}

}  // namespace

TEST_CASE("curl to Go HTTPS servers over h2: statuses and HEAD on one connection",
          "[e2e][http2][go-probes][tls][curl]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto apps = newest_plain_and_oldest_stripped();
  const auto dir = fresh_dir("http2_tls_go_curl");
  std::vector<int> ports;
  std::vector<Process> servers;
  for (size_t i = 0; i < apps.size(); ++i) {
    ports.push_back(reserve_port(24580 + static_cast<int>(i)));
    servers.push_back(
        start_goapp_server(dir, apps[i].path, ports[i], true, "server-" + apps[i].label()));
  }
  Agent agent(dir, {.ports = ports});

  struct Row {
    HttpExpect e;
    CurlRequest request;
  };
  std::vector<std::vector<Row>> rows_of_app;
  std::vector<std::vector<CurlLine>> lines_of_app;
  for (size_t i = 0; i < apps.size(); ++i) {
    const std::string p = "/" + apps[i].label();
    const int port = ports[i];
    // No request body here: Go resets a stream whose body the handler left unread (NO_ERROR,
    // after the response), and curl 7.88 fails such a request; h2load's POSTs cover that.
    std::vector<Row> rows = {
        {{"GET", "/ok" + p + "/1", 200, port, "2"}, {.url = https_url(port, "/ok" + p + "/1")}},
        {{"GET", "/missing" + p + "/2", 404, port, "2"},
         {.url = https_url(port, "/missing" + p + "/2")}},
        {{"GET", "/error" + p + "/3", 500, port, "2"},
         {.url = https_url(port, "/error" + p + "/3")}},
        {{"HEAD", "/ok" + p + "/4", 200, port, "2"},
         {.url = https_url(port, "/ok" + p + "/4"), .method = "HEAD"}},
    };
    std::vector<CurlRequest> requests;
    for (auto& row : rows) {
      row.request.extra_args = {"--http2", "-k"};
      requests.push_back(row.request);
    }
    // One curl for all: the requests are streams 1, 3, 5... of one connection.
    CommandResult result = run_command(dir, curl_command(requests));
    ZTRACE_E2E_REQUIRE_PEER(result.exit_code == 0, result.describe);
    const auto lines = parse_curl_output(result.out);
    ZTRACE_E2E_REQUIRE_PEER(lines.size() == rows.size(), result.describe);
    for (size_t r = 0; r < rows.size(); ++r) {
      ZTRACE_E2E_REQUIRE_PEER(lines[r].code == rows[r].e.status, result.describe);
      ZTRACE_E2E_REQUIRE_PEER(lines[r].connects == (r == 0 ? 1 : 0), result.describe);
    }
    rows_of_app.push_back(std::move(rows));
    lines_of_app.push_back(lines);
  }

  const std::vector<Span> spans = stop_and_collect(agent);
  const std::string log = agent.log();
  INFO("agent log:\n" << agent.log_tail());
  INFO("spans:\n" << describe(spans));
  check_no_drops(log);
  CHECK(spans.size() == 2 * 4 * apps.size());
  CHECK(of_kind(spans, "SERVER").size() == 4 * apps.size());
  CHECK(of_kind(spans, "CLIENT").size() == 4 * apps.size());
  for (size_t i = 0; i < apps.size(); ++i) {
    INFO("Go " << apps[i].label());
    CHECK(of_pid(spans, servers[i].pid()).size() == rows_of_app[i].size());
    for (const Row& row : rows_of_app[i]) {
      INFO("request " << row.e.method << " " << row.e.path);
      auto client = expect_one(spans, "CLIENT", row.e);
      auto span = expect_one(spans, "SERVER", row.e);
      if (client && span) check_encloses(*client, *span);
      if (!span) continue;
      check_resource(*span, servers[i].pid(), "", "go", apps[i].path.filename().string());
      CHECK(span->attr_int("client.port") == std::optional<int64_t>(lines_of_app[i][0].local_port));
      CHECK(span->attr_str("url.scheme") == std::optional<std::string>("https"));
      CHECK(span->attr_str("user_agent.original") == std::optional<std::string>(curl_user_agent()));
    }
  }
}

TEST_CASE("h2load to Go HTTPS servers over h2: concurrent streams, exact span counts",
          "[e2e][http2][go-probes][tls][h2load]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto apps = newest_plain_and_oldest_stripped();
  const auto dir = fresh_dir("http2_tls_go_h2load");
  std::vector<int> ports;
  std::vector<Process> servers;
  for (size_t i = 0; i < apps.size(); ++i) {
    ports.push_back(reserve_port(24582 + static_cast<int>(i)));
    servers.push_back(
        start_goapp_server(dir, apps[i].path, ports[i], true, "server-" + apps[i].label()));
  }
  // The POSTs' body, which the handler never reads: Go answers, then resets the stream with
  // NO_ERROR when the body has not ended yet (RFC 9113 §8.1). Their spans are no errors.
  const fs::path body = dir / "body.txt";
  write_file(body, "a request body the handler does not read\n");
  Agent agent(dir, {.ports = ports});

  // Per server: GETs, then POSTs, each on 4 connections with up to 10 streams in flight on
  // each (Go allows 250).
  struct Load {
    std::string method;
    std::string path_prefix;
    int requests;
  };
  const Load loads[] = {{"GET", "/ok/get-", 400}, {"POST", "/ok/post-", 200}};
  constexpr int kConnections = 4;
  for (size_t i = 0; i < apps.size(); ++i) {
    for (const Load& load : loads) {
      const std::string n = std::to_string(load.requests);
      std::vector<std::string> argv = {"h2load", "-n", n, "-c", std::to_string(kConnections),
                                       "-m",     "10"};
      if (load.method == "POST") argv.insert(argv.end(), {"-d", body.string()});
      argv.push_back(https_url(ports[i], load.path_prefix + apps[i].label()));
      CommandResult h = run_command(dir, argv, 120s);
      ZTRACE_E2E_REQUIRE_PEER(h.exit_code == 0, h.describe);
      ZTRACE_E2E_REQUIRE_PEER(h.out.find("Application protocol: h2") != std::string::npos,
                              h.describe);
      ZTRACE_E2E_REQUIRE_PEER(h.out.find("requests: " + n + " total, " + n + " started, " + n +
                                         " done, " + n + " succeeded") != std::string::npos,
                              h.describe);
    }
  }

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO(spans.size() << " spans; agent log:\n" << agent.log_tail());
  check_no_drops(agent.log());
  CHECK(spans.size() == 2 * (400 + 200) * apps.size());
  CHECK(of_kind(spans, "CLIENT").size() == (400 + 200) * apps.size());
  for (size_t i = 0; i < apps.size(); ++i) {
    INFO("Go " << apps[i].label());
    const std::vector<Span> served = of_kind(of_pid(spans, servers[i].pid()), "SERVER");
    for (const Load& load : loads) {
      INFO(load.method << " " << load.path_prefix);
      const std::vector<Span> of_load = with_path(served, load.path_prefix + apps[i].label());
      CHECK(of_load.size() == static_cast<size_t>(load.requests));
      CHECK(with_path(of_kind(spans, "CLIENT"), load.path_prefix + apps[i].label()).size() ==
            static_cast<size_t>(load.requests));
      std::map<std::string, int> problems;
      std::set<int64_t> client_ports;
      for (const Span& s : of_load) {
        if (s.method() != load.method) ++problems["method " + s.method()];
        if (s.status() != 200) ++problems["status " + std::to_string(s.status())];
        if (s.server_port() != ports[i]) ++problems["server.port"];
        if (s.attr_str("network.protocol.version") != std::optional<std::string>("2")) {
          ++problems["version"];
        }
        if (s.attr_str("url.scheme") != std::optional<std::string>("https")) ++problems["scheme"];
        if (s.status_code != "UNSET") {
          ++problems["status " + s.status_code + " " + s.attr_str("error.type").value_or("")];
        }
        client_ports.insert(s.attr_int("client.port").value_or(-1));
      }
      std::string summary;  // one INFO: an INFO inside a loop lasts one iteration
      for (const auto& [what, count] : problems) {
        summary += what + ": " + std::to_string(count) + " spans\n";
      }
      INFO(summary);
      CHECK(problems.empty());
      CHECK(client_ports.size() == kConnections);
    }
  }
}

}  // namespace ztrace::e2e
