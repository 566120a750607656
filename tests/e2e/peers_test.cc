// The peers alone, without the agent: when these fail, the agent tests below them say
// nothing about the agent.
#include "tests/e2e/peers.h"

#include <catch2/catch_test_macros.hpp>
#include <sstream>

#include "tests/e2e/harness.h"

namespace ztrace::e2e {
namespace {

std::vector<int> client_codes(const std::string& out) {
  std::vector<int> codes;
  for (const auto& l : parse_client_output(out)) codes.push_back(l.code);
  return codes;
}

// The first three requests of a client run share one connection: one client port.
void check_one_connection(const std::string& out) {
  auto lines = parse_client_output(out);
  REQUIRE(lines.size() >= 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(lines[i].port > 0);
    CHECK(lines[i].port == lines[0].port);
  }
}

const std::vector<int> kExpectedCodes = {200, 404, 500, 200};

std::vector<std::string> route_urls(int port) {
  return {url(port, "/ok/1"), url(port, "/notfound/2"), url(port, "/error/3")};
}

}  // namespace

TEST_CASE("peer: python http.server answers HTTP/1.1 keep-alive", "[e2e][peers]") {
  const int port = reserve_port(24100);
  auto dir = fresh_dir("peer_python");
  Process server = start_python_server(dir, port);
  auto out =
      must_run(dir, curl_command({{url(port, "/ok/1")},
                                  {url(port, "/notfound/2")},
                                  {url(port, "/error/3")},
                                  {.url = url(port, "/echo/4"), .method = "POST", .body = "abc"},
                                  {.url = url(port, "/ok/5"), .method = "HEAD"}}));
  auto lines = parse_curl_output(out);
  REQUIRE(lines.size() == 5);
  const int codes[] = {200, 404, 500, 200, 200};
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO("request " << i << ": " << out);
    CHECK(lines[i].code == codes[i]);
    CHECK(lines[i].connects == (i == 0 ? 1 : 0));
    CHECK(lines[i].local_port == lines[0].local_port);
  }
}

TEST_CASE("peer: Go server and client", "[e2e][peers][go]") {
  const int port = reserve_port(24101);
  auto dir = fresh_dir("peer_go");
  Process server = start_go_server(dir, port);
  auto args = route_urls(port);
  auto out = must_run(dir, go_client(args));
  check_one_connection(out);
  out += must_run(dir, go_client({"-method", "POST", "-body", "x", url(port, "/echo/4")}));
  INFO(out);
  CHECK(client_codes(out) == kExpectedCodes);
  CHECK(parse_client_output(out).at(2).reused == "true");
}

TEST_CASE("peer: Java server and HttpURLConnection client", "[e2e][peers][java]") {
  const int port = reserve_port(24102);
  auto dir = fresh_dir("peer_java");
  Process server = start_java_server(dir, port);
  auto out = must_run(dir, java_client(route_urls(port)));
  check_one_connection(out);
  out += must_run(dir, java_client({"--method", "POST", "--body", "x", url(port, "/echo/4")}));
  INFO(out);
  CHECK(client_codes(out) == kExpectedCodes);
}

TEST_CASE("peer: Node server and client", "[e2e][peers][node]") {
  const int port = reserve_port(24103);
  auto dir = fresh_dir("peer_node");
  Process server = start_node_server(dir, port);
  auto out = must_run(dir, node_client(route_urls(port)));
  check_one_connection(out);
  out += must_run(dir, node_client({"--method", "POST", "--body", "x", url(port, "/echo/4")}));
  INFO(out);
  CHECK(client_codes(out) == kExpectedCodes);
  CHECK(parse_client_output(out).at(2).reused == "true");
}

TEST_CASE("peer: nginx static files and 404 and 500 and HEAD", "[e2e][peers][nginx]") {
  const int port = reserve_port(24104);
  auto dir = fresh_dir("peer_nginx");
  Process server = start_nginx(dir, port);
  auto out = must_run(dir, curl_command({{url(port, "/static/index.html")},
                                         {url(port, "/static/big.bin")},
                                         {url(port, "/static/missing.html")},
                                         {.url = url(port, "/static/head.html"), .method = "HEAD"},
                                         {url(port, "/boom")}}));
  auto lines = parse_curl_output(out);
  INFO(out);
  REQUIRE(lines.size() == 5);
  const int codes[] = {200, 200, 404, 200, 500};
  for (size_t i = 0; i < lines.size(); ++i) {
    CHECK(lines[i].code == codes[i]);
    CHECK(lines[i].connects == (i == 0 ? 1 : 0));
  }
}

TEST_CASE("peer: Go ticker holds one keep-alive connection", "[e2e][peers][go]") {
  const int port = reserve_port(24105);
  auto dir = fresh_dir("peer_ticker");
  Process server = start_python_server(dir, port);
  Process ticker({.argv = {go_peer().string(), "ticker", "-interval", "50ms", url(port, "/slow/")},
                  .stdout_path = dir / "ticker.stdout",
                  .stderr_path = dir / "ticker.stderr"});
  REQUIRE(wait_until([&] { return count_lines(ticker.stdout_text()) >= 3; }, 10s));
  ticker.signal(SIGTERM);
  auto code = ticker.wait_exit(5s);
  INFO(ticker.describe());
  REQUIRE(code == std::optional<int>(0));
  const std::string out = ticker.stdout_text();
  CHECK(out.rfind("1 200 port=", 0) == 0);
  CHECK(out.find(" reused=false\n") != std::string::npos);
  CHECK(out.find("3 200 port=") != std::string::npos);
}

}  // namespace ztrace::e2e
