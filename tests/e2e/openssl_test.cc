// OpenSSL plaintext (bpf/openssl_probes.bpf.c): curl -> nginx over TLS (HTTP/1.1 and h2 by
// ALPN) and Python's ssl module on both sides. Both servers start before the agent (their
// libssl is probed from the startup scan), the clients after it. Every exchange must give
// exactly one SERVER and one CLIENT span with url.scheme https on the server side, and the
// secrets in Authorization and Cookie must appear nowhere the agent writes.
#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"
#include "tests/e2e/tls_peers.h"

namespace ztrace::e2e {
namespace {

void check_scheme(const Span& span, std::string_view scheme) {
  CHECK(span.attr_str("url.scheme") == std::optional<std::string>(scheme));
}

}  // namespace

TEST_CASE("curl to nginx over TLS: HTTP/1.1 and h2 give exact SERVER and CLIENT spans",
          "[e2e][tls][openssl][nginx][curl]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24800);
  const auto dir = fresh_dir("openssl_curl_nginx");
  Process nginx = start_nginx_tls(dir, port);
  Agent agent(dir, {.ports = {port}});

  const std::vector<std::string> secrets = {"-H",
                                            "Authorization: Bearer " + std::string(kSecretToken),
                                            "-H", "Cookie: session=" + std::string(kSecretCookie)};
  auto h1 = [&](std::string_view path, std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"--http1.1", "-k"});
    return CurlRequest{.url = https_url_of(port, path), .extra_args = extra};
  };
  auto h2 = [&](std::string_view path) {
    return CurlRequest{.url = https_url_of(port, path), .extra_args = {"--http2", "-k"}};
  };
  // One connection each: four HTTP/1.1 requests (keep-alive), then two h2 streams.
  CommandResult c1 =
      run_command(dir, curl_command({h1("/static/index.html", secrets), h1("/static/big.bin"),
                                     h1("/static/missing.html"), h1("/boom")}));
  CommandResult c2 =
      run_command(dir, curl_command({h2("/static/head.html"), h2("/static/missing-h2.html")}));
  const std::string traffic = c1.describe + "\n" + c2.describe;
  ZTRACE_E2E_REQUIRE_PEER((c1.exit_code == 0 && c2.exit_code == 0), traffic);
  const auto l1 = parse_curl_output(c1.out);
  const auto l2 = parse_curl_output(c2.out);
  ZTRACE_E2E_REQUIRE_PEER((l1.size() == 4 && l2.size() == 2), traffic);
  ZTRACE_E2E_REQUIRE_PEER((l1[1].connects == 0 && l1[3].connects == 0), traffic);
  const std::vector<pid_t> workers = children_of(nginx.pid());
  ZTRACE_E2E_REQUIRE_PEER(workers.size() == 1, traffic);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  INFO("agent log:\n" << agent.log_tail());
  CHECK(of_kind(spans, "SERVER").size() == 6);
  CHECK(of_kind(spans, "CLIENT").size() == 6);
  CHECK(spans.size() == 12);

  struct Row {
    HttpExpect e;
    pid_t curl_pid;
  };
  const Row rows[] = {
      {{"GET", "/static/index.html", 200, port}, c1.pid},
      {{"GET", "/static/big.bin", 200, port}, c1.pid},
      {{"GET", "/static/missing.html", 404, port}, c1.pid},
      {{"GET", "/boom", 500, port}, c1.pid},
      {{"GET", "/static/head.html", 200, port, "2"}, c2.pid},
      {{"GET", "/static/missing-h2.html", 404, port, "2"}, c2.pid},
  };
  for (const auto& row : rows) {
    INFO("request " << row.e.path);
    auto server_span = expect_one(spans, "SERVER", row.e);
    auto client_span = expect_one(spans, "CLIENT", row.e);
    if (server_span) {
      check_scheme(*server_span, "https");
      check_resource(*server_span, workers[0], "nginx", "", "nginx");
    }
    if (client_span) check_resource(*client_span, row.curl_pid, "curl", "", "curl");
    if (server_span && client_span) check_encloses(*client_span, *server_span);
  }
  check_secrets_absent(agent);
  CHECK(agent.log().find("OpenSSL probes: ") != std::string::npos);
}

TEST_CASE("Python urllib to Python http.server over TLS (SSL_read_ex/SSL_write_ex)",
          "[e2e][tls][openssl][python]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24810);
  const auto dir = fresh_dir("openssl_python");
  Process server = start_python_tls_server(dir, port);
  Agent agent(dir, {.ports = {port}});

  const std::vector<std::string> urls = {https_url_of(port, "/ok/1"), https_url_of(port, "/ok/2"),
                                         https_url_of(port, "/missing/3")};
  CommandResult client = run_command(dir, python_tls_client(urls));
  ZTRACE_E2E_REQUIRE_PEER(client.exit_code == 0, client.describe);
  ZTRACE_E2E_REQUIRE_PEER(count_lines(client.out) == 3, client.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  INFO("agent log:\n" << agent.log_tail());
  CHECK(of_kind(spans, "SERVER").size() == 3);
  CHECK(of_kind(spans, "CLIENT").size() == 3);
  const HttpExpect expects[] = {
      {"GET", "/ok/1", 200, port}, {"GET", "/ok/2", 200, port}, {"GET", "/missing/3", 404, port}};
  for (const auto& e : expects) {
    INFO("request " << e.path);
    auto server_span = expect_one(spans, "SERVER", e);
    auto client_span = expect_one(spans, "CLIENT", e);
    if (server_span) {
      check_scheme(*server_span, "https");
      check_resource(*server_span, server.pid(), "", "", "");
    }
    if (client_span) check_resource(*client_span, client.pid, "", "", "");
    if (server_span && client_span) check_encloses(*client_span, *server_span);
  }
}

// In-process linking across a TLS hop (OpenSSL): a Python https service whose handler
// thread calls another Python https service. Each call is the child of the request its
// thread serves; the callee starts its own trace, since nothing can be injected into TLS.
TEST_CASE("A Python HTTPS service calling another over HTTPS is linked in-process (OpenSSL)",
          "[e2e][tls][openssl][python][tls-link]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int front_port = reserve_port(24812);
  const int back_port = reserve_port(24813);
  const auto dir = fresh_dir("openssl_python_link");
  Process front = start_python_tls_server(dir, front_port);
  Process back = start_python_tls_server(dir, back_port);
  Agent agent(dir, {.ports = {front_port, back_port}});

  constexpr int kCalls = 3;
  std::vector<std::string> urls;
  for (int i = 1; i <= kCalls; ++i) {
    const std::string downstream = https_url_of(back_port, "/ok/d" + std::to_string(i));
    urls.push_back(https_url_of(front_port, "/call?to=" + downstream));
  }
  CommandResult client = run_command(dir, python_tls_client(urls));
  ZTRACE_E2E_REQUIRE_PEER(client.exit_code == 0, client.describe);
  ZTRACE_E2E_REQUIRE_PEER(count_lines(client.out) == kCalls, client.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  INFO("agent log:\n" << agent.log_tail());
  for (int i = 1; i <= kCalls; ++i) {
    const std::string path = "/ok/d" + std::to_string(i);
    INFO("call " << path);
    auto call = expect_one(spans, "CLIENT", {"GET", path, 200, back_port});
    auto callee = expect_one(spans, "SERVER", {"GET", path, 200, back_port});
    REQUIRE(call);
    CHECK(call->pid() == front.pid());
    std::optional<Span> served;
    for (const Span& s : of_kind(spans, "SERVER")) {
      if (s.span_id == call->parent_span_id) served = s;
    }
    REQUIRE(served);
    CHECK(served->trace_id == call->trace_id);
    CHECK(served->pid() == front.pid());
    CHECK(served->attr_str("url.path") == std::optional<std::string>("/call"));
    check_scheme(*served, "https");
    check_encloses(*served, *call);
    if (callee) {
      CHECK(callee->pid() == back.pid());
      CHECK(callee->trace_id != call->trace_id);  // nothing crosses the TLS hop
    }
  }
}

}  // namespace ztrace::e2e

namespace ztrace::e2e {
namespace {

// `client_mode` requests to a Node TLS server in `server_mode`: 2 x 200 and a 404, each one
// SERVER span (the server's pid) and one CLIENT span (the client's), `version` on both.
void node_round(const std::string& server_mode, const std::string& client_mode,
                const std::string& version, int preferred_port) {
  const int port = reserve_port(preferred_port);
  const auto dir = fresh_dir("openssl_node_" + server_mode + "_" + client_mode);
  Process server = start_node_tls_server(dir, port, server_mode);
  Agent agent(dir, {.ports = {port}});
  const std::vector<std::string> urls = {https_url_of(port, "/ok/1"), https_url_of(port, "/ok/2"),
                                         https_url_of(port, "/missing/3")};
  CommandResult client = run_command(dir, node_tls_client(client_mode, urls));
  ZTRACE_E2E_REQUIRE_PEER(client.exit_code == 0, client.describe);
  ZTRACE_E2E_REQUIRE_PEER(count_lines(client.out) == 3, client.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  INFO("agent log:\n" << agent.log_tail());
  CHECK(of_kind(spans, "SERVER").size() == 3);
  CHECK(of_kind(spans, "CLIENT").size() == 3);
  const HttpExpect expects[] = {{"GET", "/ok/1", 200, port, version},
                                {"GET", "/ok/2", 200, port, version},
                                {"GET", "/missing/3", 404, port, version}};
  for (const auto& e : expects) {
    INFO("request " << e.path);
    auto server_span = expect_one(spans, "SERVER", e);
    auto client_span = expect_one(spans, "CLIENT", e);
    if (server_span) {
      check_scheme(*server_span, "https");
      CHECK(server_span->pid() == server.pid());
    }
    if (client_span) CHECK(client_span->pid() == client.pid);
    if (server_span && client_span) check_encloses(*client_span, *server_span);
  }
}

}  // namespace

TEST_CASE("Node https client to a Node https server (OpenSSL inside node, memory BIOs)",
          "[e2e][tls][openssl][node]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  node_round("https-server", "https-client", "1.1", 24820);
}

TEST_CASE("Node fetch to a Node https server", "[e2e][tls][openssl][node]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  node_round("https-server", "fetch-client", "1.1", 24830);
}

TEST_CASE("Node http2 client to a Node http2 secure server (h2 by ALPN)",
          "[e2e][tls][openssl][node]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  node_round("h2-server", "h2-client", "2", 24840);
}

}  // namespace ztrace::e2e

namespace ztrace::e2e {

// Bad input: an executable named like node whose OpenSSL symbols are missing (here a copy of
// python3, which has none) is logged once with the reason, for a process started before the
// agent and one started after it, and both stay traced at the syscall layer.
TEST_CASE(
    "a node-like executable without OpenSSL symbols: logged once, traced at the syscall layer",
    "[e2e][tls][openssl]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port1 = reserve_port(24850), port2 = reserve_port(24851);
  const auto dir = fresh_dir("openssl_no_symbols");
  const fs::path fake = dir / "node-nossl";
  fs::copy_file(python3(), fake);
  fs::permissions(fake, fs::perms::owner_all, fs::perm_options::add);
  auto start = [&](int port) {
    ProcessOptions o;
    o.argv = {fake.string(), (peers_dir() / "python" / "http_server.py").string(),
              std::to_string(port)};
    o.cwd = dir;
    Process p(std::move(o));
    REQUIRE(wait_for_port(port, 30s));
    return p;
  };
  Process before = start(port1);
  Agent agent(dir, {.ports = {port1, port2}});
  Process after = start(port2);
  CommandResult c = run_command(dir, curl_command({{url(port1, "/ok/a")}, {url(port2, "/ok/b")}}));
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  const std::string log = agent.log();
  INFO("agent log:\n" << agent.log_tail());
  const std::string line =
      "OpenSSL probes off for " + fs::canonical(fake).string() +
      ": no SSL_read symbol (no OpenSSL, or its symbols are stripped or local)";
  const size_t first = log.find(line);
  CHECK(first != std::string::npos);
  CHECK(log.find(line, first + 1) == std::string::npos);
  expect_one(spans, "SERVER", {"GET", "/ok/a", 200, port1});
  expect_one(spans, "SERVER", {"GET", "/ok/b", 200, port2});
}

}  // namespace ztrace::e2e
