// Injection never writes into a body (issue 21): a traceparent goes only into a request that
// starts at a message boundary the kernel knows. A server that records every byte and echoes
// request bodies (peers/python/framing_http.py) gets bodies that look like requests, written
// in the shapes that took them for requests before: Content-Length and chunked bodies, a body
// in a later write than its head, in many writes, HTTP/1.0, pipelining, "Expect:
// 100-continue" (curl, as in the issue, and a raw client), sendmsg buffers, a body through a
// dup of the socket, by sendfile, in partial non-blocking writes; and a seeded random
// sequence of ten thousand requests. What the server received must be what the client
// sent plus, at most, one traceparent line right after a request line.
#include <catch2/catch_test_macros.hpp>
#include <cstdlib>
#include <map>

#include "tests/e2e/harness.h"
#include "tests/e2e/inject_wire.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

// "00-<trace>-<span>-<flags>" -> span id.
std::string span_of(const std::string& traceparent) { return traceparent.substr(36, 16); }
std::string trace_of(const std::string& traceparent) { return traceparent.substr(3, 32); }

// At most `max` lines, and how many more there were.
std::string join_lines(const std::vector<std::string>& lines, size_t max = 20) {
  std::string out;
  for (size_t i = 0; i < lines.size() && i < max; ++i) out += lines[i] + "\n";
  if (lines.size() > max) out += "(" + std::to_string(lines.size() - max) + " more)\n";
  return out;
}

std::string describe_counters(const std::string& log) {
  const size_t at = log.rfind("injection: done=");
  return at == std::string::npos ? "(no injection line)" : log.substr(at, log.find('\n', at) - at);
}

}  // namespace

TEST_CASE(
    "injection framing: the byte comparison takes one traceparent line after a marked request "
    "line and nothing else",
    "[e2e][peers][h1-framing]") {
  // Two requests: a POST whose body is a request, then a GET.
  const std::string body = "GET /inner HTTP/1.1\r\nHost: y\r\n\r\n";
  const std::string post =
      "POST /a HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::string sent = post + "GET /b HTTP/1.1\r\n\r\n";
  const std::vector<HeadMark> heads = {{0, 18, "/a", "any"},
                                       {post.size(), post.size() + 17, "/b", "any"}};
  const std::string line =
      "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n";
  const auto insert = [&](size_t at) { return std::string(sent).insert(at, line); };

  const FramedComparison same = compare_framed(sent, sent, heads);
  CHECK(same.problems.empty());
  REQUIRE(same.requests.size() == 2);
  CHECK(same.requests[0].traceparent.empty());

  const FramedComparison both =
      compare_framed(sent, insert(post.size() + 17).insert(18, line), heads);
  CHECK(both.problems.empty());
  REQUIRE(both.requests.size() == 2);
  CHECK(both.requests[0].traceparent == line.substr(13, 55));
  CHECK(both.requests[1].traceparent == line.substr(13, 55));

  // Caught: a line in the body (after the body's own request line), elsewhere in a head, a
  // changed byte, a byte missing, bytes added at the end.
  const size_t in_body = post.size() - body.size() + 21;
  CHECK_FALSE(compare_framed(sent, insert(in_body), heads).problems.empty());
  CHECK_FALSE(compare_framed(sent, insert(post.size() - body.size() - 2), heads).problems.empty());
  std::string changed = sent;
  changed[post.size() - 3] ^= 1;
  CHECK_FALSE(compare_framed(sent, changed, heads).problems.empty());
  CHECK_FALSE(compare_framed(sent, sent.substr(0, sent.size() - 1), heads).problems.empty());
  CHECK_FALSE(compare_framed(sent, sent + "x", heads).problems.empty());
}

TEST_CASE(
    "injection framing: bodies that look like requests arrive unchanged, requests at known "
    "boundaries get one traceparent (Content-Length, chunked, later write, many writes, "
    "HTTP/1.0, pipelining, 100-continue, sendmsg, dup, sendfile, partial writes)",
    "[e2e][inject][h1-framing]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24580);
  const auto dir = fresh_dir("inject_framing_shapes");
  const fs::path wire = dir / "wire";
  Process server = start_framing_http_server(dir, port, wire);
  Agent agent(dir, {.ports = {port}});
  const CommandResult client =
      run_command(dir,
                  framing_http_client(port, wire,
                                      {"length", "chunked", "later", "many", "http10", "pipelined",
                                       "continue", "vectored", "dup", "sendfile", "partial"}),
                  120s);
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("client:\n" << client.describe);
  INFO(describe_counters(agent.log()));
  CHECK(client.exit_code == 0);

  const std::vector<FramedConnection> conns = parse_framed_client_output(client.out);
  CHECK(conns.size() == 14);
  for (const auto& c : conns) CHECK(c.echo_errors == 0);
  const FramedComparison cmp = compare_framed_run(wire, conns);
  {
    INFO("bytes (sent-*.bin vs recv-*.bin in " << wire.string() << "):\n"
                                               << join_lines(cmp.problems));
    CHECK(cmp.problems.empty());
  }
  CHECK(cmp.requests.size() == 37);
  size_t injected = 0;
  for (const FramedRequest& r : cmp.requests) {
    INFO(r.connection << " " << r.head.path << ": expected " << r.head.expect << ", traceparent \""
                      << r.traceparent << "\"");
    CHECK(r.traceparent.empty() == (r.head.expect == "keep"));
    if (r.traceparent.empty()) continue;
    ++injected;
    // The injected context is the client's CLIENT span and the server span's parent.
    const auto server_spans =
        with_path(of_pid(of_kind(spans, "SERVER"), server.pid()), r.head.path);
    REQUIRE(server_spans.size() == 1);
    CHECK(server_spans[0].parent_span_id == span_of(r.traceparent));
    CHECK(server_spans[0].trace_id == trace_of(r.traceparent));
  }
  CHECK(injected == 28);
  const std::string log = agent.log();
  CHECK(injection_counter(log, "done") == static_cast<long>(injected));
  // Every body write that starts like a request was known to be in a message: 1 (length), 2
  // (chunked), 2 (later), 6 and the pieces that begin "GET " (many), 2 (http10), 1
  // (pipelined), 2 (continue).
  CHECK(injection_counter(log, "h1_in_message") >= 16);
  CHECK(injection_counter(log, "h1_chunked") == 0);
  CHECK(injection_counter(log, "h1_bad_length") == 1);
  CHECK(injection_counter(log, "h1_pipelined") == 2);
  CHECK(injection_counter(log, "h1_head_split") == 1);
  CHECK(injection_counter(log, "h1_unseen_bytes") == 1);  // dup
  CHECK(injection_counter(log, "h1_concurrent_writes") == 0);
}

TEST_CASE(
    "injection framing: curl with 'Expect: 100-continue' posts a body that is a request, "
    "the server echoes it unchanged (issue 21)",
    "[e2e][inject][h1-framing]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24581);
  const auto dir = fresh_dir("inject_framing_curl_continue");
  const fs::path wire = dir / "wire";
  const std::string body = "GET /inner HTTP/1.1\r\nHost: y\r\n\r\nbody\n";
  write_file(dir / "body.txt", body);
  Process server = start_framing_http_server(dir, port, wire);
  Agent agent(dir, {.ports = {port}});
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  const CommandResult curl = run_command(dir,
                                         {"curl",
                                          "-sS",
                                          "--max-time",
                                          "20",
                                          "-H",
                                          "Expect: 100-continue",
                                          "--data-binary",
                                          "@" + (dir / "body.txt").string(),
                                          "-o",
                                          (dir / "echo.bin").string(),
                                          "-w",
                                          "%{http_code} %{num_connects}\\n",
                                          base + "/upload",
                                          "--next",
                                          "-sS",
                                          "--max-time",
                                          "20",
                                          "-o",
                                          (dir / "after.bin").string(),
                                          "-w",
                                          "%{http_code} %{num_connects}\\n",
                                          base + "/after"},
                                         60s);
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("curl:\n" << curl.describe);
  INFO(describe_counters(agent.log()));
  CHECK(curl.exit_code == 0);
  CHECK(curl.out == "200 1\n200 0\n");  // both on one keep-alive connection
  CHECK(read_file(dir / "echo.bin") == body);

  // The server received two heads, each with one added traceparent line, and the body as
  // curl sent it.
  std::vector<std::string> recordings;
  for (const auto& entry : fs::directory_iterator(wire)) recordings.push_back(entry.path());
  REQUIRE(recordings.size() == 1);
  std::string received = read_file(recordings[0]);
  INFO("received: " << received);
  std::vector<std::string> heads;
  for (int i = 0; i < 2; ++i) {
    const size_t end = received.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    std::string head = received.substr(0, end + 4);
    received.erase(0, end + 4);
    size_t traceparents = 0;
    for (size_t at = head.find("\r\ntraceparent: 00-"); at != std::string::npos;
         at = head.find("\r\ntraceparent: 00-", at + 1)) {
      ++traceparents;
    }
    CHECK(traceparents == 1);
    heads.push_back(head);
    if (i == 0) {
      CHECK(head.find("Content-Length: " + std::to_string(body.size()) + "\r\n") !=
            std::string::npos);
      REQUIRE(received.size() >= body.size());
      CHECK(received.substr(0, body.size()) == body);
      received.erase(0, body.size());
    }
  }
  CHECK(received.empty());
  CHECK(heads[0].rfind("POST /upload HTTP/1.1\r\n", 0) == 0);
  CHECK(heads[1].rfind("GET /after HTTP/1.1\r\n", 0) == 0);
  CHECK(injection_counter(agent.log(), "h1_in_message") == 1);
  CHECK(of_kind(spans, "SERVER").size() == 2);
}

TEST_CASE(
    "injection framing: ten thousand random requests (bodies with request lines, chunked, "
    "pipelined, 100-continue, random write splits) arrive byte for byte, plus traceparent "
    "lines in request heads only",
    "[e2e][inject][h1-framing]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const char* env_seed = std::getenv("ZTRACE_E2E_FUZZ_SEED");
  const unsigned seed = env_seed ? static_cast<unsigned>(std::atoi(env_seed)) : 21;
  constexpr int kRequests = 10000;
  constexpr int kWorkers = 4;
  const int port = reserve_port(24582);
  const auto dir = fresh_dir("inject_framing_fuzz");
  const fs::path wire = dir / "wire";
  Process server = start_framing_http_server(dir, port, wire);
  Agent agent(dir, {.ports = {port}});
  const auto started = std::chrono::steady_clock::now();
  const CommandResult client =
      run_command(dir, framing_http_fuzz(port, wire, seed, kRequests, kWorkers), 120s);
  const double took_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  agent.stop();
  INFO("seed " << seed << " (ZTRACE_E2E_FUZZ_SEED), " << took_s << " s");
  INFO("client:\n" << client.describe);
  INFO(describe_counters(agent.log()));
  CHECK(client.exit_code == 0);

  const std::vector<FramedConnection> conns = parse_framed_client_output(client.out);
  const FramedComparison cmp = compare_framed_run(wire, conns);
  {
    INFO("bytes (sent-*.bin vs recv-*.bin in " << wire.string() << "):\n"
                                               << join_lines(cmp.problems));
    CHECK(cmp.problems.empty());
  }
  CHECK(cmp.requests.size() == kRequests);
  size_t injected = 0;
  for (const auto& r : cmp.requests) injected += !r.traceparent.empty();
  const long done = injection_counter(agent.log(), "done");
  WARN("fuzz: " << injected << " of " << cmp.requests.size() << " requests injected over "
                << conns.size() << " connections in " << took_s << " s; "
                << describe_counters(agent.log()));
  CHECK(done == static_cast<long>(injected));
  // Injection goes on until a connection's boundaries are lost (pipelining, heads split
  // across writes, chunk lines it cannot take for sure).
  CHECK(injected * 5 >= cmp.requests.size() * 2);
  CHECK(injection_counter(agent.log(), "h1_in_message") > 0);
  CHECK(injection_counter(agent.log(), "h1_unseen_bytes") == 0);
  CHECK(injection_counter(agent.log(), "h1_concurrent_writes") == 0);
}

}  // namespace ztrace::e2e
