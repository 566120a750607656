// curl -> nginx: static files sent with sendfile(2), 404, 500 (return), HEAD, HTTP/1.0.
#include <algorithm>
#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {

TEST_CASE("curl to nginx: sendfile and 404 and 500 and HEAD and HTTP/1.0 on keep-alive connections",
          "[e2e][nginx][curl]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24120);
  const auto dir = fresh_dir("curl_nginx");
  Process nginx = start_nginx(dir, port);
  Agent agent(dir, {.ports = {port}});

  // One connection for five requests (nginx closes it after the 500, so that one is last).
  // The HEAD answer carries a Content-Length but no body: the request after it must still
  // be seen as a new request.
  CommandResult c1 =
      run_command(dir, curl_command({{url(port, "/static/index.html")},
                                     {url(port, "/static/big.bin")},
                                     {url(port, "/static/missing.html")},
                                     {.url = url(port, "/static/head.html"), .method = "HEAD"},
                                     {url(port, "/boom")}}));
  CommandResult c2 = run_command(
      dir, curl_command({{.url = url(port, "/static/v10.html"), .extra_args = {"--http1.0"}}}));
  const std::string traffic = c1.describe + "\n" + c2.describe;
  ZTRACE_E2E_REQUIRE_PEER(c1.exit_code == 0, traffic);
  ZTRACE_E2E_REQUIRE_PEER(c2.exit_code == 0, traffic);
  auto l1 = parse_curl_output(c1.out);
  auto l2 = parse_curl_output(c2.out);
  ZTRACE_E2E_REQUIRE_PEER(l1.size() == 5, traffic);
  ZTRACE_E2E_REQUIRE_PEER(l2.size() == 1, traffic);
  const int codes[] = {200, 200, 404, 200, 500};
  for (int i = 0; i < 5; ++i) {
    ZTRACE_E2E_REQUIRE_PEER(l1[i].code == codes[i], traffic);
    ZTRACE_E2E_REQUIRE_PEER(l1[i].connects == (i == 0 ? 1 : 0), traffic);
  }
  ZTRACE_E2E_REQUIRE_PEER(l2[0].code == 200, traffic);
  const std::vector<pid_t> workers = children_of(nginx.pid());
  ZTRACE_E2E_REQUIRE_PEER(workers.size() == 1, traffic);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == 12);
  if (spans.empty()) FAIL("the agent wrote no spans");
  CHECK(of_kind(spans, "SERVER").size() == 6);
  CHECK(of_kind(spans, "CLIENT").size() == 6);

  struct Row {
    HttpExpect e;
    pid_t curl_pid;
    int curl_port;
  };
  const Row rows[] = {
      {{"GET", "/static/index.html", 200, port}, c1.pid, l1[0].local_port},
      {{"GET", "/static/big.bin", 200, port}, c1.pid, l1[0].local_port},
      {{"GET", "/static/missing.html", 404, port}, c1.pid, l1[0].local_port},
      {{"HEAD", "/static/head.html", 200, port}, c1.pid, l1[0].local_port},
      {{"GET", "/boom", 500, port}, c1.pid, l1[0].local_port},
      {{"GET", "/static/v10.html", 200, port, "1.0"}, c2.pid, l2[0].local_port},
  };
  const std::string ua = curl_user_agent();
  for (const auto& row : rows) {
    INFO("request " << row.e.method << " " << row.e.path);
    auto server_span = expect_one(spans, "SERVER", row.e);
    auto client_span = expect_one(spans, "CLIENT", row.e);
    if (server_span) {
      CHECK(server_span->attr_int("client.port") == std::optional<int64_t>(row.curl_port));
      CHECK(server_span->attr_str("user_agent.original") == std::optional<std::string>(ua));
      check_resource(*server_span, workers[0], "nginx", "", "nginx");
    }
    if (client_span) check_resource(*client_span, row.curl_pid, "curl", "", "curl");
    if (server_span && client_span) check_encloses(*client_span, *server_span);
  }
}

}  // namespace ztrace::e2e
