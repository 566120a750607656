// Hostile but fair traffic and operations (issue 21, items 2 to 6): fds closed with
// close_range(2) and reused by files, signals, a full disk, agent restarts under keep-alive
// connections whose bodies look like requests, and junk after complete requests. Test names
// start with "robust:" (ctest -R 'e2e:.*robust').
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <catch2/catch_test_macros.hpp>
#include <csignal>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"
#include "tests/e2e/raw_connection.h"

namespace ztrace::e2e {
namespace {

// The value of `name=N` in the last `line_prefix` line of the agent's log (the final
// counters, once it stopped).
std::optional<uint64_t> last_counter(const std::string& log, std::string_view line_prefix,
                                     std::string_view name) {
  const size_t line_start = log.rfind(std::string(line_prefix));
  if (line_start == std::string::npos) return std::nullopt;
  const std::string line = log.substr(line_start, log.find('\n', line_start) - line_start);
  const std::string pattern = "[ ;:]" + std::string(name) + "=(\\d+)";
  std::smatch m;
  if (!std::regex_search(line, m, std::regex(pattern))) return std::nullopt;
  return std::stoull(m[1]);
}

// The value of `name=N` in the `group` part ("; group a=1 b=2") of the last `line_prefix` line.
std::optional<uint64_t> group_counter(const std::string& log, std::string_view line_prefix,
                                      std::string_view group, std::string_view name) {
  const size_t line_start = log.rfind(std::string(line_prefix));
  if (line_start == std::string::npos) return std::nullopt;
  const std::string line = log.substr(line_start, log.find('\n', line_start) - line_start);
  std::smatch m;
  const std::string pattern =
      "; " + std::string(group) + " [^;]*\\b" + std::string(name) + "=(\\d+)";
  if (!std::regex_search(line, m, std::regex(pattern))) return std::nullopt;
  return std::stoull(m[1]);
}

// The `output` part of the last "outputs:" line: "jsonl accepted=A write_failed=F ...".
std::optional<uint64_t> output_counter(const std::string& log, std::string_view output,
                                       std::string_view name) {
  return group_counter(log, "outputs: ", output, name);
}

std::string last_bytes(const std::string& text, size_t n) {
  return text.substr(text.size() > n ? text.size() - n : 0);
}

// A tmpfs of `bytes` mounted at `dir` while it lives.
class SmallDisk {
 public:
  SmallDisk(const fs::path& dir, size_t bytes) : dir_(dir) {
    fs::create_directories(dir_);
    umount2(dir_.c_str(), MNT_DETACH);  // a leftover of an interrupted run
    const std::string options = "size=" + std::to_string(bytes);
    REQUIRE(mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0);
  }
  ~SmallDisk() { umount2(dir_.c_str(), MNT_DETACH); }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  size_t free_bytes() const {
    struct statvfs st {};
    REQUIRE(statvfs(dir_.c_str(), &st) == 0);
    return static_cast<size_t>(st.f_bavail) * st.f_frsize;
  }

 private:
  fs::path dir_;
};

}  // namespace

TEST_CASE("robust: close_range ends a connection; a response written to a file is no response",
          "[e2e][robust][python]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24600);
  const auto dir = fresh_dir("robust_close_range");
  Process server = start_fd_reuse_server(dir, port);
  Agent agent(dir, {.ports = {port}});
  constexpr int kConnections = 6;
  for (int i = 0; i < kConnections; ++i) {
    RawConnection c(port);
    c.send_all("GET /reuse/" + std::to_string(i) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    // The server closes with close_range(2) and answers nothing (into a file, every second
    // connection, under the socket's old fd number).
    ZTRACE_E2E_REQUIRE_PEER(c.read_some().empty(), server.describe());
  }
  REQUIRE(wait_until([&] { return count_lines(server.stdout_text()) >= kConnections + 1; }, 10s));
  const std::string server_out = server.stdout_text();
  ZTRACE_E2E_REQUIRE_PEER(server_out.find("not reused") == std::string::npos, server_out);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  for (int i = 0; i < kConnections; ++i) {
    const std::string path = "/reuse/" + std::to_string(i);
    INFO(path << (i % 2 == 0 ? " (a file took its fd)" : " (fd left closed)"));
    for (const char* kind : {"SERVER", "CLIENT"}) {
      INFO(kind);
      const std::vector<Span> matching = of_kind(with_path(spans, path), kind);
      REQUIRE(matching.size() == 1);
      const Span& span = matching[0];
      // Never the 200 the server wrote into a file: no response at all.
      CHECK(span.status() == -1);
      CHECK(span.status_code == "ERROR");
      CHECK(span.attr_str("error.type") == std::optional<std::string>("ztrace.no_response"));
      CHECK(span.pid() == (std::string(kind) == "SERVER" ? server.pid() : getpid()));
    }
  }
}

TEST_CASE("robust: SIGHUP, SIGUSR1 and SIGUSR2 keep the agent running; every stop signal flushes",
          "[e2e][robust][signals][python]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24601);
  const auto dir = fresh_dir("robust_signals");
  Process server = start_python_server(dir, port);
  {
    Agent agent(dir, {.ports = {port}});
    must_run(dir, curl_command({{url(port, "/ok/before-signals")}}));
    agent.signal(SIGHUP);
    CHECK(
        wait_until([&] { return agent.log().find("reload requested") != std::string::npos; }, 10s));
    agent.signal(SIGUSR1);
    CHECK(wait_until([&] { return agent.log().find("outputs: ") != std::string::npos; }, 10s));
    CHECK(agent.log().find("counters: ") != std::string::npos);
    agent.signal(SIGUSR2);
    CHECK(
        wait_until([&] { return agent.log().find("SIGUSR2 from pid") != std::string::npos; }, 10s));
    REQUIRE(agent.running());
    must_run(dir, curl_command({{url(port, "/ok/after-signals")}}));
    const std::vector<Span> spans = stop_and_collect(agent);
    CHECK(with_path(spans, "/ok/before-signals").size() == 2);
    CHECK(with_path(spans, "/ok/after-signals").size() == 2);
  }
  // Signals whose default would end the agent on the spot: each drains and flushes instead.
  // SIGSEGV stands for the fault signals sent by another process.
  for (int sig : {SIGQUIT, SIGTERM, SIGALRM, SIGXCPU, SIGPWR, SIGRTMIN + 3, SIGSEGV}) {
    const auto run_dir = fresh_dir("robust_signals/" + std::to_string(sig));
    Agent agent(run_dir, {.ports = {port}});
    const std::string path = "/ok/stopped-by-" + std::to_string(sig);
    must_run(run_dir, curl_command({{url(port, path)}}));
    INFO("signal " << sig << "; agent log:\n" << agent.log_tail());
    CHECK(agent.stop(20s, sig) == 0);
    std::vector<std::string> problems;
    const std::vector<Span> spans = agent.spans(problems);
    CHECK(problems.empty());
    CHECK(with_path(spans, path).size() == 2);
    CHECK(agent.log().find("counters: ") != std::string::npos);  // the final ones
    CHECK(agent.log().find("stopped") != std::string::npos);
  }
}

TEST_CASE("robust: a full disk keeps the JSON lines whole, logs and counts the loss",
          "[e2e][robust][python]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24602);
  const auto dir = fresh_dir("robust_full_disk");
  SmallDisk disk(dir / "disk", 1 << 20);
  // Leave room for a few dozen spans only.
  const fs::path filler = dir / "disk" / "filler";
  {
    std::ofstream out(filler, std::ios::binary);
    out << std::string(disk.free_bytes() - 24 * 1024, 'f');
  }
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port}, .jsonl_path = dir / "disk" / "spans.jsonl"});

  std::vector<CurlRequest> burst;
  for (int i = 0; i < 150; ++i) burst.push_back({url(port, "/ok/full-" + std::to_string(i))});
  must_run(dir, curl_command(burst));
  CHECK(wait_until([&] { return agent.log().find("write failed") != std::string::npos; }, 20s));
  // Space again: what comes next must be whole lines after whole lines.
  fs::remove(filler);
  std::vector<CurlRequest> after;
  for (int i = 0; i < 20; ++i) after.push_back({url(port, "/ok/after-" + std::to_string(i))});
  must_run(dir, curl_command(after));

  REQUIRE(agent.stop() == 0);
  const std::string log = agent.log();
  INFO("agent log (tail):\n" << agent.log_tail());
  std::vector<std::string> problems;
  const std::vector<Span> spans = agent.spans(problems);
  const std::string text = read_file(agent.jsonl_path());
  CHECK(problems.empty());  // every line is a whole span
  CHECK((text.empty() || text.back() == '\n'));
  // Logged once (rate-limited), not once per failed batch.
  CHECK(log.find("JSONL output " + agent.jsonl_path().string() +
                 ": write failed (No space left on device)") != std::string::npos);
  // Counted under its own reason, and the file holds exactly what was counted as written.
  const auto accepted = output_counter(log, "jsonl", "accepted");
  const auto write_failed = output_counter(log, "jsonl", "write_failed");
  REQUIRE(accepted);
  REQUIRE(write_failed);
  CHECK(*accepted == spans.size());
  CHECK(*write_failed > 0);
  CHECK(*accepted + *write_failed == last_counter(log, "counters: ", "built"));
  for (int i = 0; i < 20; ++i) {
    INFO("/ok/after-" << i);
    CHECK(with_path(spans, "/ok/after-" + std::to_string(i)).size() == 2);
  }
}

TEST_CASE(
    "robust: keep-alive connections across agent restarts keep their spans when bodies "
    "look like requests",
    "[e2e][robust][python][keepalive]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24603);
  const auto dir = fresh_dir("robust_restarts");
  constexpr int kConnections = 8;
  Process server = start_expect_server(dir, port);
  Process client({.argv = bodies_client(port, dir, kConnections),
                  .stdout_path = dir / "client.stdout",
                  .stderr_path = dir / "client.stderr"});
  std::this_thread::sleep_for(1s);  // every connection open and busy before any agent
  std::vector<std::vector<Span>> runs;
  std::vector<std::string> logs;
  for (int run = 0; run < 3; ++run) {
    const auto run_dir = fresh_dir("robust_restarts/run-" + std::to_string(run));
    // --no-inject: a body that begins with a request line is item 1's (injection) to guard;
    // this test is about parsing what the agent joins.
    Agent agent(run_dir, {.ports = {port}, .extra_args = {"--no-inject"}});
    std::this_thread::sleep_for(4s);
    runs.push_back(stop_and_collect(agent));
    logs.push_back(agent.log());
  }
  write_file(dir / "stop", "");
  REQUIRE(client.wait_exit(30s) == std::optional<int>(0));
  const std::string client_out = client.stdout_text();
  INFO("client:\n" << client_out);
  std::map<int64_t, int> connection_of_port;
  const std::regex line_re(R"(conn (\d+) port=(\d+) requests=(\d+) statuses=200)");
  for (auto it = std::sregex_iterator(client_out.begin(), client_out.end(), line_re);
       it != std::sregex_iterator(); ++it) {
    connection_of_port[std::stoll((*it)[2])] = std::stoi((*it)[1]);
  }
  REQUIRE(connection_of_port.size() == kConnections);

  const std::regex path_re(R"(/upload/(\d+)/(\d+))");
  for (size_t run = 0; run < runs.size(); ++run) {
    INFO("agent run " << run << " (log tail: " << last_bytes(logs[run], 3000) << ")");
    // Not one connection written off as not HTTP.
    CHECK(group_counter(logs[run], "counters: ", "http1", "failed") == std::optional<uint64_t>(0));
    std::map<int, int> server_spans_of_connection;
    for (const Span& span : runs[run]) {
      INFO("span: " << span.describe());
      std::smatch m;
      const std::string path = span.path();
      // Nothing made of a body: every span is one of the POSTs, answered 200.
      CHECK(std::regex_match(path, m, path_re));
      CHECK(span.method() == "POST");
      CHECK(span.status() == 200);
      if (span.kind == "SERVER") {
        const int64_t client_port = span.attr_int("client.port").value_or(-1);
        CHECK(connection_of_port.count(client_port) == 1);
        if (connection_of_port.count(client_port)) {
          CHECK(std::stoi(m[1]) == connection_of_port[client_port]);
          ++server_spans_of_connection[connection_of_port[client_port]];
        }
      }
    }
    for (int k = 1; k <= kConnections; ++k) {
      INFO("connection " << k);
      CHECK(server_spans_of_connection[k] >= 3);
    }
  }
}

TEST_CASE("robust: junk after complete requests in the same write hides no span",
          "[e2e][robust][python][junk]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24604);
  const auto dir = fresh_dir("robust_junk_after");
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port}});
  // A TLS-like record right after each request, in the same send.
  const std::string tls_record("\x16\x03\x01\x00\x2e\x01\x00\x00\x2a\x03\x03junk-junk", 20);
  constexpr int kConnections = 30;
  for (int i = 0; i < kConnections; ++i) {
    RawConnection c(port);
    const std::string path = (i % 3 == 2 ? "/missing/" : "/ok/") + std::to_string(i);
    c.send_all("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: e2e-raw\r\n\r\n" +
               tls_record);
    // The server answers the request (then waits for the rest of the record's "line").
    const std::string answer = c.read_some(i % 3 == 2 ? "not found\n" : "ok " + path + "\n");
    ZTRACE_E2E_REQUIRE_PEER(answer.rfind(i % 3 == 2 ? "HTTP/1.1 404" : "HTTP/1.1 200", 0) == 0,
                            answer);
  }
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans) << "\nagent log (tail):\n" << agent.log_tail());
  CHECK(spans.size() == 2 * kConnections);
  for (int i = 0; i < kConnections; ++i) {
    const std::string path = (i % 3 == 2 ? "/missing/" : "/ok/") + std::to_string(i);
    const int status = i % 3 == 2 ? 404 : 200;
    INFO(path);
    const auto server_span = expect_one(spans, "SERVER", {"GET", path, status, port});
    const auto client_span = expect_one(spans, "CLIENT", {"GET", path, status, port});
    if (server_span) CHECK(server_span->pid() == server.pid());
    if (client_span) CHECK(client_span->pid() == getpid());
  }
  const std::string log = agent.log();
  CHECK(group_counter(log, "counters: ", "http1", "failed") == std::optional<uint64_t>(0));
  CHECK(group_counter(log, "counters: ", "http1", "skipped_junk") >=
        std::optional<uint64_t>(kConnections));
}

}  // namespace ztrace::e2e
