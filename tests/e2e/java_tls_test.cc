// Java (JSSE) plaintext from ztrace's Java agent (probes/java), loaded at run time through the
// HotSpot attach protocol: JDK HttpsServer (SSLEngine) <- HttpsURLConnection (SSLSocket) and
// java.net.http.HttpClient (SSLEngine), HTTP/1.1 and h2 (against Node's http2 secure server:
// the JDK's HttpsServer has no h2). JVMs started before the agent and after it. Every exchange
// gives exactly one SERVER and one CLIENT span, url.scheme https on the server side, and the
// Authorization and Cookie secrets appear nowhere the agent writes.
#include <catch2/catch_test_macros.hpp>
#include <map>

#include "tests/e2e/harness.h"
#include "tests/e2e/pg_peers.h"
#include "tests/e2e/tls_peers.h"

namespace ztrace::e2e {
namespace {

// A client JVM started after the agent waits this long for it (TlsPeer.java, ZT_WAIT_AGENT).
const std::vector<std::pair<std::string, std::string>> kWaitForAgent = {{"ZT_WAIT_AGENT", "20"}};

std::string loaded_line(pid_t pid) {
  return "java: TLS agent loaded into pid " + std::to_string(pid);
}

bool wait_for_java_agent(const Agent& agent, pid_t pid) {
  return wait_until([&] { return agent.log().find(loaded_line(pid)) != std::string::npos; }, 30s);
}

void check_exchange(const std::vector<Span>& spans, const HttpExpect& e, pid_t server_pid,
                    pid_t client_pid) {
  INFO("request " << e.path << " (client pid " << client_pid << ")");
  auto server_span = expect_one(spans, "SERVER", e);
  auto client_span = expect_one(spans, "CLIENT", e);
  if (server_span) {
    CHECK(server_span->attr_str("url.scheme") == std::optional<std::string>("https"));
    CHECK(server_span->pid() == server_pid);
  }
  if (client_span) CHECK(client_span->pid() == client_pid);
  if (server_span && client_span) check_encloses(*client_span, *server_span);
}

}  // namespace

TEST_CASE("Java HttpsServer <- HttpsURLConnection and HttpClient (HTTP/1.1) over JSSE",
          "[e2e][tls][java-tls]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24950);
  const int late_port = reserve_port(24951);
  const auto dir = fresh_dir("java_tls_h1");
  Process before = start_java_tls_server(dir, port);  // a JVM running before the agent
  Agent agent(dir, {.ports = {port, late_port}});
  REQUIRE(wait_for_java_agent(agent, before.pid()));
  fs::create_directories(dir / "late");
  Process after = start_java_tls_server(dir / "late", late_port);  // one started after it
  REQUIRE(wait_for_java_agent(agent, after.pid()));

  CommandResult c1 =
      run_command(dir,
                  java_tls_client("urlconnection", {https_url_of(port, "/hello-urlconn"),
                                                    https_url_of(port, "/missing-urlconn")}),
                  60s, kWaitForAgent);
  CommandResult c2 = run_command(
      dir,
      java_tls_client("httpclient-h1", {https_url_of(late_port, "/hello-httpclient"),
                                        https_url_of(late_port, "/missing-httpclient")}),
      60s, kWaitForAgent);
  const std::string traffic = c1.describe + "\n" + c2.describe;
  ZTRACE_E2E_REQUIRE_PEER((c1.exit_code == 0 && c2.exit_code == 0), traffic);
  ZTRACE_E2E_REQUIRE_PEER((count_lines(c1.out) == 2 && count_lines(c2.out) == 2), traffic);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  INFO("agent log:\n" << agent.log_tail());
  CHECK(of_kind(spans, "SERVER").size() == 4);
  CHECK(of_kind(spans, "CLIENT").size() == 4);
  check_exchange(spans, {"GET", "/hello-urlconn", 200, port}, before.pid(), c1.pid);
  check_exchange(spans, {"GET", "/missing-urlconn", 404, port}, before.pid(), c1.pid);
  check_exchange(spans, {"GET", "/hello-httpclient", 200, late_port}, after.pid(), c2.pid);
  check_exchange(spans, {"GET", "/missing-httpclient", 404, late_port}, after.pid(), c2.pid);
  check_secrets_absent(agent);
}

TEST_CASE("Java HttpClient h2 to a Node http2 secure server", "[e2e][tls][java-tls]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24952);
  const auto dir = fresh_dir("java_tls_h2");
  Process server = start_node_tls_server(dir, port, "h2-server");
  Agent agent(dir, {.ports = {port}});
  CommandResult c = run_command(
      dir,
      java_tls_client("httpclient-h2", {https_url_of(port, "/ok/1"), https_url_of(port, "/ok/2"),
                                        https_url_of(port, "/missing/3")}),
      60s, kWaitForAgent);
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  ZTRACE_E2E_REQUIRE_PEER(count_lines(c.out) == 3, c.describe);
  ZTRACE_E2E_REQUIRE_PEER(c.out.find("HTTP_2") != std::string::npos, c.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  INFO("agent log:\n" << agent.log_tail());
  CHECK(of_kind(spans, "SERVER").size() == 3);
  CHECK(of_kind(spans, "CLIENT").size() == 3);
  for (const HttpExpect& e :
       {HttpExpect{"GET", "/ok/1", 200, port, "2"}, HttpExpect{"GET", "/ok/2", 200, port, "2"},
        HttpExpect{"GET", "/missing/3", 404, port, "2"}}) {
    check_exchange(spans, e, server.pid(), c.pid);
  }
  check_secrets_absent(agent);
}

// In-process linking across a TLS hop: the Java server's HTTPS call to a Node https server,
// made while it serves a request, is that request's child (same thread).
TEST_CASE("Java service calling a Node service over HTTPS is linked in-process",
          "[e2e][tls][java-tls]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int java_port = reserve_port(24953);
  const int node_port = reserve_port(24954);
  const auto dir = fresh_dir("java_tls_link");
  Process java = start_java_tls_server(dir, java_port);
  Process node = start_node_tls_server(dir, node_port, "https-server");
  Agent agent(dir, {.ports = {java_port, node_port}});
  REQUIRE(wait_for_java_agent(agent, java.pid()));
  const std::string downstream = https_url_of(node_port, "/ok/downstream");
  CommandResult c = run_command(dir, {"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}\n",
                                      https_url_of(java_port, "/call?to=" + downstream)});
  ZTRACE_E2E_REQUIRE_PEER((c.exit_code == 0 && c.out == "200\n"), c.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  INFO("agent log:\n" << agent.log_tail());
  auto java_server = expect_one(spans, "SERVER", {"GET", "/call", 200, java_port});
  auto java_client = expect_one(spans, "CLIENT", {"GET", "/ok/downstream", 200, node_port});
  auto node_server = expect_one(spans, "SERVER", {"GET", "/ok/downstream", 200, node_port});
  REQUIRE(java_server);
  REQUIRE(java_client);
  CHECK(java_server->pid() == java.pid());
  CHECK(java_client->pid() == java.pid());
  CHECK(java_client->trace_id == java_server->trace_id);
  CHECK(java_client->parent_span_id == java_server->span_id);
  if (node_server) CHECK(node_server->pid() == node.pid());
}

// The per-process switch: a JVM started with ZTRACE_JAVA=off gets no agent, which the agent
// logs once with the reason.
TEST_CASE("A JVM with ZTRACE_JAVA=off gets no Java agent", "[e2e][tls][java-tls]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24955);
  const auto dir = fresh_dir("java_tls_off");
  Process server = start_node_tls_server(dir, port, "https-server");
  Agent agent(dir, {.ports = {port}});
  CommandResult c =
      run_command(dir, java_tls_client("urlconnection", {https_url_of(port, "/ok/1")}), 60s,
                  {{"ZTRACE_JAVA", "off"}, {"ZT_WAIT_AGENT", "3"}});
  // The client waited for an agent that must not come.
  CHECK(c.exit_code == 3);
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("agent log:\n" << agent.log_tail());
  const std::string log = agent.log();
  const std::string off =
      "java: no TLS agent in pid " + std::to_string(c.pid) + " (off in this JVM";
  CHECK(log.find(off) != std::string::npos);
  CHECK(log.find(off, log.find(off) + 1) == std::string::npos);  // once
}

// Bad input: a JVM that refuses attach is logged once with the reason and is not signalled
// (SIGQUIT would print a thread dump on its stdout); it keeps serving, traced at the syscall
// layer (its HTTPS is ciphertext there: no span).
TEST_CASE("A JVM that refuses attach is logged once and left alone", "[e2e][tls][java-tls]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24957);
  const auto dir = fresh_dir("java_tls_refuses");
  Agent agent(dir, {.ports = {port}});
  Process server = start_java_tls_server(dir, port, {"-XX:+DisableAttachMechanism"});
  const std::string refused = "java: no TLS agent in pid " + std::to_string(server.pid()) +
                              " (the JVM refuses attach (-XX:+DisableAttachMechanism))";
  REQUIRE(wait_until([&] { return agent.log().find(refused) != std::string::npos; }, 30s));
  CommandResult c = run_command(dir, {"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}\n",
                                      https_url_of(port, "/hello")});
  CHECK(c.out == "200\n");
  const std::vector<Span> spans = stop_and_collect(agent);
  const std::string log = agent.log();
  CHECK(log.find(refused, log.find(refused) + 1) == std::string::npos);  // once
  CHECK(read_file(dir / "java-tls-server.stdout").find("Full thread dump") == std::string::npos);
}

// Bad input: a JVM that cannot answer the attach (stopped here) is given up after the attach
// timeout and logged once. When it resumes it serves as before, without a thread dump on its
// stdout (the trigger file is left so its pending SIGQUIT opens the listener instead), and a
// JVM started later is still attached.
TEST_CASE("An attach that times out is logged once; the JVM and the agent carry on",
          "[e2e][tls][java-tls][java-attach-timeout]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int stalled_port = reserve_port(24958);
  const int late_port = reserve_port(24959);
  const auto dir = fresh_dir("java_tls_attach_timeout");
  Process stalled = start_java_tls_server(dir, stalled_port);
  REQUIRE(stalled.signal(SIGSTOP));
  Agent agent(dir,
              {.ports = {stalled_port, late_port}, .extra_args = {"--java-attach-timeout", "2s"}});
  const std::string timed_out = "java: no TLS agent in pid " + std::to_string(stalled.pid()) +
                                " (no attach listener within 2000 ms";
  REQUIRE(wait_until([&] { return agent.log().find(timed_out) != std::string::npos; }, 30s));
  REQUIRE(stalled.signal(SIGCONT));
  CommandResult c = run_command(dir, {"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}\n",
                                      https_url_of(stalled_port, "/hello-stalled")});
  CHECK(c.out == "200\n");

  fs::create_directories(dir / "late");
  Process late = start_java_tls_server(dir / "late", late_port);
  REQUIRE(wait_for_java_agent(agent, late.pid()));
  CommandResult l = run_command(dir, {"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}\n",
                                      https_url_of(late_port, "/hello-late")});
  CHECK(l.out == "200\n");

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  INFO("agent log:\n" << agent.log_tail());
  const std::string log = agent.log();
  CHECK(log.find(timed_out, log.find(timed_out) + 1) == std::string::npos);  // once
  // The JVM's side is ciphertext at the syscall layer (curl's side is seen through OpenSSL).
  CHECK(with_path(of_kind(spans, "SERVER"), "/hello-stalled").empty());
  CHECK(with_path(of_kind(spans, "CLIENT"), "/hello-stalled").size() == 1);
  auto late_span = expect_one(spans, "SERVER", {"GET", "/hello-late", 200, late_port});
  if (late_span) CHECK(late_span->pid() == late.pid());
  CHECK(read_file(dir / "java-tls-server.stdout").find("Full thread dump") == std::string::npos);
}

// The agent stops promptly while an attach waits on a JVM that cannot answer (stopped here),
// instead of waiting out the attach timeout (30 s by default): a short-lived JVM, such as a
// client that exits, held the agent's stop for 20 s in a CI run. The trigger file stays, so
// the resumed JVM opens its listener instead of printing a thread dump.
TEST_CASE("Stopping the agent abandons an attach under way; the JVM carries on",
          "[e2e][tls][java-tls][java-attach-timeout]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24961);
  const auto dir = fresh_dir("java_tls_attach_stop");
  Process stalled = start_java_tls_server(dir, port);
  const fs::path trigger = "/tmp/.attach_pid" + std::to_string(stalled.pid());
  REQUIRE(stalled.signal(SIGSTOP));
  Agent agent(dir, {.ports = {port}});  // the default attach timeout: 30 s
  REQUIRE(wait_until([&] { return fs::exists(trigger); }, 30s));  // the attach waits now
  const auto stop_started = std::chrono::steady_clock::now();
  CHECK(agent.stop() == 0);
  const auto stop_took = std::chrono::steady_clock::now() - stop_started;
  INFO("agent log:\n" << agent.log_tail());
  CHECK(stop_took < 10s);
  CHECK(agent.log().find("attach abandoned: the agent is stopping") != std::string::npos);
  REQUIRE(stalled.signal(SIGCONT));
  CommandResult c = run_command(dir, {"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}\n",
                                      https_url_of(port, "/hello-after-stop")});
  CHECK(c.out == "200\n");
  CHECK(read_file(dir / "java-tls-server.stdout").find("Full thread dump") == std::string::npos);
}

// A JVM in a container's namespaces: its own mount namespace with a private /tmp, and its own
// pid namespace (it is pid 1 there). The agent's files are staged in that /tmp through
// /proc/PID/root, and the attach files carry the JVM's pid in its namespace.
TEST_CASE("A JVM in its own mount and pid namespaces (a container) gets the Java agent",
          "[e2e][tls][java-tls][java-container]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24960);
  const auto dir = fresh_dir("java_tls_container");
  Process box = start_java_tls_server(
      dir, port, {},
      {"unshare", "--pid", "--fork", "--mount-proc", "--propagation", "private", "sh", "-c",
       "mount -t tmpfs ztrace-test-tmp /tmp && exec \"$@\"", "sh"});
  std::vector<pid_t> inside;
  REQUIRE(wait_until([&] { return !(inside = children_of(box.pid())).empty(); }, 10s));
  const pid_t jvm = inside.front();
  const std::string status = read_file("/proc/" + std::to_string(jvm) + "/status");
  INFO(status);
  REQUIRE(status.find("NSpid:\t" + std::to_string(jvm) + "\t1\n") != std::string::npos);

  Agent agent(dir, {.ports = {port}});
  REQUIRE(wait_for_java_agent(agent, jvm));
  CommandResult c = run_command(dir, {"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}\n",
                                      https_url_of(port, "/hello-container")});
  CHECK(c.out == "200\n");
  // Staged in the container's own /tmp, not the host's.
  CHECK(fs::exists("/proc/" + std::to_string(jvm) + "/root/tmp/.java_pid1"));

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  INFO("agent log:\n" << agent.log_tail());
  auto server_span = expect_one(spans, "SERVER", {"GET", "/hello-container", 200, port});
  if (server_span) {
    CHECK(server_span->attr_str("url.scheme") == std::optional<std::string>("https"));
    CHECK(server_span->pid() == jvm);
  }
}

}  // namespace ztrace::e2e

namespace ztrace::e2e {

// pgjdbc with sslmode=require: a layered SSLSocket over the socket that sent the SSLRequest;
// its plaintext reaches the PostgreSQL parser through the agent, as libpq's does through the
// OpenSSL probes (the scenario of postgresql_test.cc's JDBC case).
TEST_CASE("JDBC to PostgreSQL with sslmode=require: query spans from the Java agent",
          "[e2e][tls][java-tls][postgresql]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24956);
  const auto dir = fresh_dir("java_tls_jdbc");
  Process server = start_postgres(dir, port, /*tls=*/true);
  const auto java = pg_java_command({"queries", jdbc_url(port) + "&sslmode=require"});
  Agent agent(dir, {.ports = {port}});
  CommandResult r = run_command(dir, java, 120s, kWaitForAgent);
  ZTRACE_E2E_REQUIRE_PEER(r.exit_code == 0, r.describe);
  ZTRACE_E2E_REQUIRE_PEER(r.out.find("rows 3") != std::string::npos, r.describe);
  ZTRACE_E2E_REQUIRE_PEER(r.out.find("sqlstate 23505") != std::string::npos, r.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  INFO("agent log:\n" << agent.log_tail());
  std::map<std::string, int> names;
  for (const Span& s : of_pid(spans, r.pid)) {
    if (s.attr_str("db.system.name") == std::optional<std::string>("postgresql"))
      names[s.name] += 1;
  }
  CHECK(names["CREATE TABLE jitems"] == 1);
  CHECK(names["INSERT jitems"] == 8);  // 7 prepared, then the unique violation
  CHECK(names["BATCH INSERT jitems"] == 1);
  CHECK(names["SELECT jitems"] == 1);
  CHECK(read_file(agent.jsonl_path()).find("duplicate") == std::string::npos);
}

}  // namespace ztrace::e2e
