// Behaviour of the HTTP/1 connection parser beyond the exchange table: extracted fields,
// memory bounds, failure handling, role inference, and the emission contract.

#include <catch2/catch_test_macros.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/http1_test_support.h"

namespace ztrace::http1::testing {
namespace {

constexpr Direction kIn = Direction::kIngress;
constexpr Direction kOut = Direction::kEgress;

TEST_CASE("http1 extracts fields case-insensitively with optional whitespace", "[http1]") {
  const RunResult got =
      run(Role::kServer, false,
          {rx("GET /p?q=1 HTTP/1.1\n"
              "hOsT:   api.example:8080  \n"
              "USER-AGENT:curl/8.5.0\n"
              "Host: second.example\n"
              "TraceParent: \t00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n"
              "tracestate: congo=t61rcWkgMzE\n\n"),
           tx("HTTP/1.0 200 OK\nContent-Length: 0\n\n")},
          false);
  REQUIRE(got.exchanges.size() == 1);
  const Request& q = got.exchanges[0].request;
  CHECK(q.method == "GET");
  CHECK(q.target == "/p?q=1");
  CHECK(q.host == "api.example:8080");
  CHECK(q.user_agent == "curl/8.5.0");
  CHECK(q.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  CHECK(q.tracestate == "congo=t61rcWkgMzE");
  CHECK_FALSE(q.truncated);
  CHECK_FALSE(q.target_truncated);
  CHECK(got.exchanges[0].response->version_minor == 0);
}

TEST_CASE("http1 bounds kept values", "[http1]") {
  const std::string long_target = "/" + std::string(20000, 'a');
  const RunResult got =
      run(Role::kServer, false,
          {rx("GET " + long_target + " HTTP/1.1\nUser-Agent: " + std::string(2000, 'u') +
              "\ntraceparent: " + std::string(300, '0') + "\n\n"),
           tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
          false);
  REQUIRE(got.exchanges.size() == 1);
  const Request& q = got.exchanges[0].request;
  CHECK(q.target == long_target.substr(0, 8192));
  CHECK(q.target_truncated);
  CHECK_FALSE(q.truncated);  // the framing was followed exactly
  CHECK(q.user_agent == std::string(512, 'u'));
  CHECK(q.traceparent.empty());  // a cut traceparent would be invalid
}

TEST_CASE("http1 head over 128 KiB is truncated and counted, then parsing resyncs", "[http1]") {
  std::string huge = crlf("GET /huge HTTP/1.1\n");
  while (huge.size() < 140 * 1024) huge += "X-Pad: " + std::string(1000, 'p') + "\r\n";
  huge += "\r\n";
  const RunResult got =
      run(Role::kServer, false,
          {raw(kIn, huge), tx("HTTP/1.1 431 Too Large\nContent-Length: 0\n\n"),
           rx("GET /small HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
          false);
  CHECK(describe(got.exchanges) ==
        std::vector<std::string>{"GET /huge 1.1 @10-10 b0 T -> 431 1.1 @20-20 b0",
                                 "GET /small 1.1 @30-30 b0 -> 200 1.1 @40-40 b0"});
  CHECK(got.stats.truncated_messages == 1);
  CHECK_FALSE(got.failed);
}

TEST_CASE("http1 chunk framing is bounded", "[http1]") {
  const std::string head = crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n");
  SECTION("a chunk-size line over 4 KiB fails the connection") {
    const RunResult got =
        run(Role::kServer, false,
            {rx("GET / HTTP/1.1\n\n"), raw(kOut, head + "5;" + std::string(5000, 'e') + "\r\n")},
            false);
    CHECK(got.failure_reason == "chunk-size line too long");
  }
  SECTION("trailers over 128 KiB lose sync; the response ends truncated") {
    std::string trailers;
    while (trailers.size() < 130 * 1024) trailers += "X-T: " + std::string(1000, 't') + "\r\n";
    const RunResult got =
        run(Role::kServer, false,
            {rx("GET / HTTP/1.1\n\n"), raw(kOut, head + "1\r\nx\r\n0\r\n" + trailers),
             rx("GET /2 HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
            false);
    CHECK(describe(got.exchanges) ==
          std::vector<std::string>{"GET / 1.1 @10-10 b0 -> 200 1.1 @20-20 b1 T",
                                   "GET /2 1.1 @30-30 b0 -> 200 1.1 @40-40 b0"});
    CHECK(got.stats.lost_sync_messages == 1);
    CHECK_FALSE(got.failed);
  }
}

TEST_CASE("http1 pending requests are bounded", "[http1]") {
  std::string many;
  for (int i = 0; i < 100; ++i) many += crlf("GET /" + std::to_string(i) + " HTTP/1.1\n\n");
  const RunResult got = run(Role::kServer, false, {raw(kIn, many)}, true);
  REQUIRE(got.exchanges.size() == 64);
  CHECK(got.exchanges.front().request.target == "/36");
  CHECK(got.exchanges.back().request.target == "/99");
  CHECK_FALSE(got.exchanges.back().response);
  CHECK(got.stats.dropped_exchanges == 36);
}

TEST_CASE("http1 exchanges are emitted as soon as they complete", "[http1]") {
  ConnectionParser parser(Role::kServer, false);
  parser.on_data(kIn, crlf("GET /1 HTTP/1.1\n\nGET /2 HTTP/1.1\n\n"), 0, 1, true);
  CHECK(parser.take_exchanges().empty());
  parser.on_data(kOut, crlf("HTTP/1.1 200 OK\nContent-Length: 2\n\no"), 0, 2, true);
  CHECK(parser.take_exchanges().empty());
  parser.on_data(kOut, "k", 0, 3, false);
  std::vector<Exchange> first = parser.take_exchanges();
  REQUIRE(first.size() == 1);
  CHECK(describe(first[0]) == "GET /1 1.1 @1-1 b0 -> 200 1.1 @2-3 b2");
  CHECK(parser.take_exchanges().empty());  // taken once
  parser.on_close(4);
  std::vector<Exchange> rest = parser.take_exchanges();
  REQUIRE(rest.size() == 1);
  CHECK(describe(rest[0]) == "GET /2 1.1 @1-1 b0 -> none");
  parser.on_data(kIn, crlf("GET /3 HTTP/1.1\n\n"), 0, 5, true);  // after close: ignored
  parser.on_close(6);
  CHECK(parser.take_exchanges().empty());
}

TEST_CASE("http1 junk after whole messages is skipped; the stream resyncs", "[http1]") {
  ConnectionParser parser(Role::kServer, false);
  parser.on_data(kIn, crlf("GET /ok HTTP/1.1\n\n"), 0, 1, true);
  parser.on_data(kOut, crlf("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), 0, 2, true);
  REQUIRE(parser.take_exchanges().size() == 1);
  parser.on_data(kIn, std::string("\x00\x01\x02junk", 7), 0, 3, true);
  CHECK_FALSE(parser.failed());
  CHECK(parser.stats().junk_skips == 1);
  parser.on_data(kIn, "more junk in the same call", 0, 3, false);
  parser.on_data(kIn, crlf("GET /later HTTP/1.1\n\n"), 0, 4, true);
  parser.on_data(kOut, crlf("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), 0, 5, true);
  parser.on_close(6);
  CHECK(describe(parser.take_exchanges()) ==
        std::vector<std::string>{"GET /later 1.1 @4-4 b0 -> 200 1.1 @5-5 b0"});
  CHECK(parser.stats().junk_skips == 1);
  CHECK(parser.stats().invalid_streams == 0);
}

TEST_CASE("http1 junk in the same write after a whole request: the request still gets a span",
          "[http1]") {
  // Issue 21 item 6: request + a TLS-like record in one write, then the answer.
  const std::string tls_record("\x16\x03\x01\x00\x20\x01\x00\x00\x1c", 9);
  for (Role role : {Role::kServer, Role::kClient}) {
    const Direction request_dir = role == Role::kServer ? kIn : kOut;
    const Direction response_dir = role == Role::kServer ? kOut : kIn;
    INFO(to_string(role));
    const RunResult got =
        run(role, false,
            {raw(request_dir, crlf("POST /r HTTP/1.1\nContent-Length: 2\n\nhi") + tls_record),
             raw(response_dir, crlf("HTTP/1.1 201 Created\nContent-Length: 0\n\n") +
                                   crlf("HTTP/1.1 400 Bad Request\nContent-Length: 0\n\n"))},
            true);
    CHECK_FALSE(got.failed);
    CHECK(describe(got.exchanges) ==
          std::vector<std::string>{"POST /r 1.1 @10-10 b2 -> 201 1.1 @20-20 b0"});
    CHECK(got.stats.junk_skips == 1);
    CHECK(got.stats.orphan_responses == 1);  // the answer to the junk
  }
}

TEST_CASE("http1 a body taken for a request when joined mid-stream is withdrawn, not fatal",
          "[http1]") {
  // Issue 21 item 5: the agent joins a keep-alive connection between a POST's head (with
  // Expect: 100-continue) and its body, and the body begins with a request line.
  const std::string body = "GET /inner HTTP/1.1\r\nHost: y\r\n\r\nbody\n";
  const std::string next_head =
      "POST /upload/2 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  const RunResult got = run(Role::kUnknown, true,
                            {tx("HTTP/1.1 100 Continue\n\n"), raw(kIn, body),
                             tx("HTTP/1.1 200 OK\nContent-Length: 3\n\nok1"), raw(kIn, next_head),
                             tx("HTTP/1.1 100 Continue\n\n"), raw(kIn, body),
                             tx("HTTP/1.1 200 OK\nContent-Length: 3\n\nok2")},
                            true);
  CHECK_FALSE(got.failed);
  CHECK(got.role == Role::kServer);
  // Nothing made of the body; the next request whole.
  CHECK(describe(got.exchanges) ==
        std::vector<std::string>{"POST /upload/2 1.1 @40-60 b" + std::to_string(body.size()) +
                                 " -> 200 1.1 @70-70 b3"});
  CHECK(got.stats.junk_skips == 1);
  CHECK(got.stats.invalid_streams == 0);
}

TEST_CASE("http1 failure reasons", "[http1]") {
  const auto reason = [](Role role, std::vector<Chunk> chunks) {
    return run(role, false, chunks, false).failure_reason;
  };
  CHECK(reason(Role::kServer, {rx("GET / HTTP/1.1\nbad line\n\n")}) == "invalid header field");
  CHECK(reason(Role::kServer, {rx("GET / HTTP/1.1\nContent-Length: x\n\n")}) ==
        "invalid Content-Length");
  CHECK(reason(Role::kServer, {rx("GET / HTTP/1.1\n\n"), tx("SSH-2.0-x\n")}) ==
        "invalid status line");
  CHECK(reason(Role::kServer, {rx("GET / HTTP/1.1\n\n"),
                               tx("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhelloXX")}) ==
        "invalid chunked framing");
  CHECK(reason(Role::kUnknown, {rx("HTTP/1.1 200 OK\n\n")}) ==
        "stream does not start with an HTTP/1 request");
}

TEST_CASE("http1 junk skipped before sync never fails a mid-stream connection", "[http1]") {
  const RunResult got =
      run(Role::kClient, true,
          {raw(kOut, std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, '\xee')),
           raw(kIn, std::string(64, '\0')), raw(kOut, "{\"json\": true}"),
           tx("POST /rpc HTTP/1.1\nContent-Length: 2\n\n{}"),
           rx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
          false);
  CHECK_FALSE(got.failed);
  CHECK(describe(got.exchanges) ==
        std::vector<std::string>{"POST /rpc 1.1 @40-40 b2 -> 200 1.1 @50-50 b0"});
}

TEST_CASE("http1 role inference", "[http1]") {
  ConnectionParser parser(Role::kUnknown, true);
  CHECK(parser.role() == Role::kUnknown);
  parser.on_data(kOut, crlf("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), 0, 1, true);
  CHECK(parser.role() == Role::kUnknown);  // responses do not infer a role
  parser.on_data(kIn, "GET /x HTTP/1.", 0, 2, true);
  CHECK(parser.role() == Role::kUnknown);  // a request line prefix is not enough
  parser.on_data(kIn, crlf("1\n\n"), 0, 3, false);
  CHECK(parser.role() == Role::kServer);
  parser.on_data(kOut, crlf("HTTP/1.1 204 No Content\n\n"), 0, 4, true);
  const std::vector<Exchange> got = parser.take_exchanges();
  REQUIRE(got.size() == 1);
  CHECK(describe(got[0]) == "GET /x 1.1 @2-3 b0 -> 204 1.1 @4-4 b0");
  CHECK_FALSE(parser.failed());
}

TEST_CASE("http1 pipelined requests cut by the capture limit", "[http1]") {
  // Ten pipelined requests in one write; only the first 3.5 were captured.
  std::string all;
  for (int i = 0; i < 10; ++i) {
    all += crlf("GET /" + std::to_string(i) + " HTTP/1.1\nX-Pad: " + std::string(50, 'p') + "\n\n");
  }
  const size_t captured = all.size() * 35 / 100;
  std::string responses;
  for (int i = 0; i < 10; ++i) responses += crlf("HTTP/1.1 200 OK\nContent-Length: 0\n\n");
  const RunResult got =
      run(Role::kServer, false,
          {raw(kIn, all.substr(0, captured), all.size() - captured), raw(kOut, responses)}, false);
  CHECK(describe(got.exchanges) ==
        std::vector<std::string>{"GET /0 1.1 @10-10 b0 -> 200 1.1 @20-20 b0",
                                 "GET /1 1.1 @10-10 b0 -> 200 1.1 @20-20 b0",
                                 "GET /2 1.1 @10-10 b0 -> 200 1.1 @20-20 b0",
                                 "GET /3 1.1 @10-10 b0 T -> 200 1.1 @20-20 b0"});
  // The fifth response has no request left; the rest of that write is not followed.
  CHECK(got.stats.orphan_responses == 1);
  CHECK(got.stats.truncated_messages == 1);
}

TEST_CASE("http1 request start lost in a gap keeps responses aligned", "[http1]") {
  const RunResult got =
      run(Role::kServer, false,
          {rx("POST /a HTTP/1.1\nContent-Length: 4\n\nabcd", 30),
           tx("HTTP/1.1 201 Created\nContent-Length: 0\n\n"
              "HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
           rx("GET /c HTTP/1.1\n\n"), tx("HTTP/1.1 202 Accepted\nContent-Length: 0\n\n")},
          false);
  CHECK(describe(got.exchanges) ==
        std::vector<std::string>{"POST /a 1.1 @10-10 b4 -> 201 1.1 @20-20 b0",
                                 "  1.1 @10-10 b0 T -> 200 1.1 @20-20 b0",
                                 "GET /c 1.1 @30-30 b0 -> 202 1.1 @40-40 b0"});
  CHECK(got.stats.truncated_messages == 1);
}

TEST_CASE("http1 response that began before its request is an orphan", "[http1]") {
  const RunResult got = run(Role::kServer, false,
                            {tx("HTTP/1.1 2"), rx("GET / HTTP/1.1\n\n"),
                             raw(kOut, crlf("00 OK\nContent-Length: 0\n\n"), 0)},
                            true);
  CHECK(describe(got.exchanges) == std::vector<std::string>{"GET / 1.1 @20-20 b0 -> none"});
  CHECK(got.stats.orphan_responses == 1);
}

TEST_CASE("http1 parser is movable", "[http1]") {
  ConnectionParser a(Role::kServer, false);
  a.on_data(kIn, crlf("GET /m HTTP/1.1\n\n"), 0, 1, true);
  ConnectionParser b = std::move(a);
  b.on_data(kOut, crlf("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), 0, 2, true);
  const std::vector<Exchange> got = b.take_exchanges();
  REQUIRE(got.size() == 1);
  CHECK(got[0].request.target == "/m");
}

}  // namespace
}  // namespace ztrace::http1::testing
