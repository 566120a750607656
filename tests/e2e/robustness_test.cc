// Traffic that is hard on a tracer: connections opened before the agent, 64 KiB of request
// headers, and bytes that are not HTTP at all on a traced port.
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <map>
#include <random>
#include <regex>
#include <set>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"
#include "tests/e2e/raw_connection.h"

namespace ztrace::e2e {
namespace {

std::string random_bytes(std::mt19937& rng, size_t n, char first) {
  std::string s(n, '\0');
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& c : s) c = static_cast<char>(byte(rng));
  s[0] = first;  // no HTTP method or version starts with it
  return s;
}

}  // namespace

TEST_CASE("agent started while keep-alive connections are open: only complete and exact spans",
          "[e2e][keepalive][go][python]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24160);
  const auto dir = fresh_dir("preexisting_keepalive");
  const fs::path ticker_bin = go_peer();
  Process server = start_python_server(dir, port);
  // GET /slow/<seq> every 200 ms on one connection; the server answers after 150 ms, so the
  // agent is likely to attach in the middle of an exchange.
  Process ticker(
      {.argv = {ticker_bin.string(), "ticker", "-interval", "200ms", url(port, "/slow/")},
       .stdout_path = dir / "ticker.stdout",
       .stderr_path = dir / "ticker.stderr"});
  REQUIRE(wait_until([&] { return count_lines(ticker.stdout_text()) >= 3; }, 20s));
  Agent agent(dir, {.ports = {port}});
  const size_t done_before_ready = count_lines(ticker.stdout_text());
  REQUIRE(
      wait_until([&] { return count_lines(ticker.stdout_text()) >= done_before_ready + 8; }, 30s));
  ticker.signal(SIGTERM);  // it stops after the request in flight
  REQUIRE(ticker.wait_exit(10s) == std::optional<int>(0));

  // What the client did: every request 200 on one connection.
  std::map<int, int> client_port_of_seq;
  int last_seq = 0;
  {
    std::istringstream in(ticker.stdout_text());
    std::string line;
    const std::regex line_re(R"((\d+) (\d+) port=(\d+) reused=(true|false))");
    while (std::getline(in, line)) {
      std::smatch m;
      INFO("ticker line: " << line);
      REQUIRE(std::regex_match(line, m, line_re));
      const int seq = std::stoi(m[1]);
      REQUIRE(seq == last_seq + 1);
      REQUIRE(m[2] == "200");
      REQUIRE(m[4] == (seq == 1 ? "false" : "true"));
      client_port_of_seq[seq] = std::stoi(m[3]);
      last_seq = seq;
    }
  }
  const int first_after_ready = static_cast<int>(done_before_ready) + 2;  // surely sent after
  INFO("requests 1.." << last_seq << "; " << done_before_ready
                      << " were answered before the agent was ready");

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  // No garbage: every span is one of the ticker's requests, whole and exact.
  const std::regex path_re(R"(/slow/(\d+))");
  std::set<std::pair<std::string, int>> seen;
  for (const auto& s : spans) {
    INFO("span: " << s.describe());
    CHECK((s.kind == "SERVER" || s.kind == "CLIENT"));
    CHECK(s.name == "GET");
    CHECK(s.method() == "GET");
    CHECK(s.status() == 200);
    CHECK(s.status_code == "UNSET");
    CHECK(s.server_port() == port);
    CHECK(s.attr_str("network.protocol.version") == std::optional<std::string>("1.1"));
    CHECK(s.attr_str("user_agent.original") == std::optional<std::string>("Go-http-client/1.1"));
    CHECK(s.pid() == (s.kind == "SERVER" ? server.pid() : ticker.pid()));
    std::smatch m;
    const std::string path = s.path();
    CHECK(std::regex_match(path, m, path_re));
    if (!std::regex_match(path, m, path_re)) continue;
    const int seq = std::stoi(m[1]);
    CHECK(seq >= 1);
    CHECK(seq <= last_seq);
    CHECK(seen.insert({s.kind, seq}).second);  // no duplicates
    if (s.kind == "SERVER" && client_port_of_seq.count(seq)) {
      CHECK(s.attr_int("client.port") == std::optional<int64_t>(client_port_of_seq[seq]));
    }
  }
  // Complete: every request sent after the agent was ready is traced on both sides, although
  // both ends of the connection were set up before the agent started.
  for (int seq = first_after_ready; seq <= last_seq; ++seq) {
    INFO("request /slow/" << seq << " (sent after the agent logged ready)");
    CHECK(seen.count({"SERVER", seq}) == 1);
    CHECK(seen.count({"CLIENT", seq}) == 1);
  }
}

TEST_CASE("64 KiB of request headers: the span is still produced with the right values",
          "[e2e][python][curl][headers]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24170);
  const auto dir = fresh_dir("big_headers");
  // 512 header lines of 128 bytes each ("X-Filler-NNN: " + value + CRLF) = 64 KiB.
  std::string headers;
  for (int i = 0; i < 512; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "X-Filler-%03d: ", i);
    std::string line = name;
    line += std::string(128 - 2 - line.size(), static_cast<char>('a' + i % 26));
    headers += line + "\n";
  }
  write_file(dir / "headers.txt", headers);
  REQUIRE(headers.size() == 512 * 127);  // + CR each on the wire = 65536

  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port}});
  // The big request, then a small one on the same connection: the agent must not lose its
  // place in the stream after the big one.
  auto out =
      must_run(dir, curl_command({{.url = url(port, "/ok/big-headers"),
                                   .extra_args = {"-H", "@" + (dir / "headers.txt").string()}},
                                  {url(port, "/ok/after-big")}}));
  auto lines = parse_curl_output(out);
  REQUIRE(lines.size() == 2);
  REQUIRE(lines[0].code == 200);
  REQUIRE(lines[1].code == 200);
  REQUIRE(lines[1].connects == 0);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == 4);
  if (spans.empty()) FAIL("the agent wrote no spans");
  const std::string ua = curl_user_agent();
  for (const char* path : {"/ok/big-headers", "/ok/after-big"}) {
    INFO(path);
    for (const char* kind : {"SERVER", "CLIENT"}) {
      auto span = expect_one(spans, kind, {"GET", path, 200, port});
      if (!span) continue;
      CHECK(span->attr_str("user_agent.original") == std::optional<std::string>(ua));
      if (std::string(kind) == "SERVER") {
        CHECK(span->attr_int("client.port") == std::optional<int64_t>(lines[0].local_port));
      }
    }
  }
}

TEST_CASE("binary junk on traced ports: no spans from it and the agent keeps tracing",
          "[e2e][python][junk]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int http_port = reserve_port(24180);
  const int junk_port = reserve_port(24181);
  const auto dir = fresh_dir("junk");
  Process http_server = start_python_server(dir, http_port);
  Process junk_server = start_junk_server(dir, junk_port);
  Agent agent(dir, {.ports = {http_port, junk_port}});
  std::mt19937 rng(20240521);

  // 1. Random bytes to the HTTP server, then half-close (it answers with an error page).
  {
    RawConnection c(http_port);
    c.send_all(random_bytes(rng, 4096, '\x00'));
    c.shutdown_write();
    c.read_some();
  }
  // 2. Something like a TLS ClientHello, then close without reading.
  {
    RawConnection c(http_port);
    const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    c.send_all(hello + random_bytes(rng, 500, '\x7f'));
  }
  // 3. Junk with HTTP-looking pieces inside (a status line, a header, CRLFCRLF).
  {
    RawConnection c(http_port);
    c.send_all(std::string("\x01\x02\x03 HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello") +
               random_bytes(rng, 300, '\x00') + "\r\n\r\n");
    c.shutdown_write();
    c.read_some();
  }
  // 4. A valid request, then junk on the same connection.
  {
    RawConnection c(http_port);
    c.send_all("GET /ok/before-junk HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: e2e-raw\r\n\r\n");
    REQUIRE(c.read_some("ok /ok/before-junk\n").find("HTTP/1.1 200 OK") == 0);
    c.send_all(random_bytes(rng, 2000, '\x00'));
    c.shutdown_write();
    c.read_some();
  }
  // 5. Junk both ways: the junk server answers junk with junk.
  for (int i = 0; i < 3; ++i) {
    RawConnection c(junk_port);
    c.send_all(random_bytes(rng, 1000 + 1000 * i, '\x00'));
    c.shutdown_write();  // the junk server closes on EOF
    c.read_some();
  }
  REQUIRE(agent.running());

  // Then an ordinary request on the same port is traced as usual.
  auto out = must_run(dir, curl_command({{url(http_port, "/ok/after-junk")}}));
  auto lines = parse_curl_output(out);
  REQUIRE(lines.size() == 1);
  REQUIRE(lines[0].code == 200);
  CHECK(agent.running());

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  // Exactly: both sides of /ok/before-junk (the client is this test process) and both
  // sides of /ok/after-junk. Nothing from the junk.
  CHECK(spans.size() == 4);
  if (spans.empty()) FAIL("the agent wrote no spans");
  for (const auto& s : spans) {
    INFO("span: " << s.describe());
    CHECK(s.pid() != junk_server.pid());
    CHECK((s.path() == "/ok/before-junk" || s.path() == "/ok/after-junk"));
  }
  auto before_server = expect_one(spans, "SERVER", {"GET", "/ok/before-junk", 200, http_port});
  auto before_client = expect_one(spans, "CLIENT", {"GET", "/ok/before-junk", 200, http_port});
  if (before_client) {
    CHECK(before_client->pid() == getpid());
    CHECK(before_client->attr_str("user_agent.original") == std::optional<std::string>("e2e-raw"));
  }
  auto after_server = expect_one(spans, "SERVER", {"GET", "/ok/after-junk", 200, http_port});
  auto after_client = expect_one(spans, "CLIENT", {"GET", "/ok/after-junk", 200, http_port});
  if (after_server) {
    CHECK(after_server->pid() == http_server.pid());
    CHECK(after_server->attr_int("client.port") == std::optional<int64_t>(lines[0].local_port));
  }
  if (after_server && after_client) check_encloses(*after_client, *after_server);
}

}  // namespace ztrace::e2e
