// Table-driven tests of the HTTP/1 connection parser: each case is a list of chunks
// (direction, bytes, gap) and the exact exchanges and counters it must produce. Every valid
// case is also replayed split at every byte, byte by byte, and cut at every prefix.

#include <catch2/catch_test_macros.hpp>
#include <string>
#include <vector>

#include "tests/unit/http1_test_support.h"

namespace ztrace::http1::testing {
namespace {

struct Case {
  std::string name;
  Role role = Role::kServer;
  bool joined_midstream = false;
  std::vector<Chunk> chunks;
  bool close_at_end = false;
  std::vector<std::string> expected;
  ParserStats stats{};
  bool expect_failed = false;
  Role expected_role = Role::kUnknown;  // kUnknown: same as `role`
  // Bytes after the last message are ignored (tunnel, junk): a prefix may give everything.
  bool trailing_ignored = false;
};

ParserStats stats_with(uint64_t invalid, uint64_t orphan, uint64_t truncated,
                       uint64_t lost_sync = 0, uint64_t dropped = 0) {
  ParserStats s;
  s.invalid_streams = invalid;
  s.orphan_responses = orphan;
  s.truncated_messages = truncated;
  s.lost_sync_messages = lost_sync;
  s.dropped_exchanges = dropped;
  return s;
}

std::string big_head_request() {
  // 64 KiB of header fields, fully captured, before the fields we extract.
  std::string head = "GET /big?q=1 HTTP/1.1\r\n";
  for (int i = 0; head.size() < 64 * 1024; ++i) {
    head += "X-Filler-" + std::to_string(i) + ": " + std::string(200, 'v') + "\r\n";
  }
  head += "Host: big.example\r\nContent-Length: 3\r\n\r\nabc";
  return head;
}

std::vector<Case> cases() {
  const Direction kIn = Direction::kIngress;
  const Direction kOut = Direction::kEgress;
  std::vector<Case> c;

  c.push_back({.name = "GET with Content-Length response",
               .chunks = {rx("GET /a HTTP/1.1\nHost: x\n\n"),
                          tx("HTTP/1.1 200 OK\nContent-Length: 5\n\nhello")},
               .expected = {"GET /a 1.1 @10-10 b0 -> 200 1.1 @20-20 b5"}});

  c.push_back(
      {.name = "keep-alive: two exchanges",
       .chunks = {rx("GET /1 HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
                  rx("GET /2 HTTP/1.1\n\n"), tx("HTTP/1.1 404 Not Found\ncontent-length: 0\n\n")},
       .expected = {"GET /1 1.1 @10-10 b0 -> 200 1.1 @20-20 b2",
                    "GET /2 1.1 @30-30 b0 -> 404 1.1 @40-40 b0"}});

  c.push_back({.name = "pipelined: many requests and many responses per syscall",
               .chunks = {rx("GET /1 HTTP/1.1\n\nGET /2 HTTP/1.1\n\nHEAD /3 HTTP/1.1\n\n"),
                          tx("HTTP/1.1 200 OK\nContent-Length: 3\n\nabc"
                             "HTTP/1.1 201 Created\nContent-Length: 0\n\n"
                             "HTTP/1.1 200 OK\nContent-Length: 100\n\n")},
               .expected = {"GET /1 1.1 @10-10 b0 -> 200 1.1 @20-20 b3",
                            "GET /2 1.1 @10-10 b0 -> 201 1.1 @20-20 b0",
                            "HEAD /3 1.1 @10-10 b0 -> 200 1.1 @20-20 b0"}});

  c.push_back({.name = "pipelined: responses split across syscalls",
               .chunks = {rx("GET /1 HTTP/1.1\n\nGET /2 HTTP/1.1\n\nGET /3 HTTP/1.1\n\n"),
                          tx("HTTP/1.1 200 OK\nContent-Le"),
                          tx("ngth: 4\n\nabcdHTTP/1.1 200 OK\nContent-Length: 1\n\nx"),
                          tx("HTTP/1.1 500 Oops\nContent-Length: 2\n\nno")},
               .expected = {"GET /1 1.1 @10-10 b0 -> 200 1.1 @20-30 b4",
                            "GET /2 1.1 @10-10 b0 -> 200 1.1 @30-30 b1",
                            "GET /3 1.1 @10-10 b0 -> 500 1.1 @40-40 b2"}});

  c.push_back({.name = "request body over several syscalls",
               .chunks = {rx("POST /up HTTP/1.1\nContent-Length: 10\n\n"), rx("01234"), rx("56789"),
                          tx("HTTP/1.1 201 Created\nContent-Length: 0\n\n")},
               .expected = {"POST /up 1.1 @10-30 b10 -> 201 1.1 @40-40 b0"}});

  c.push_back(
      {.name = "chunked request with extensions and trailers",
       .chunks = {rx("POST /c HTTP/1.1\nTransfer-Encoding: chunked\n\n"
                     "5;name=val\nhello\n6 ; x=\"y\"\n world\n0\nX-Trailer: 1\nX-T2: 2\n\n"),
                  tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
       .expected = {"POST /c 1.1 @10-10 b11 -> 200 1.1 @20-20 b0"}});

  c.push_back(
      {.name = "chunked response over several syscalls",
       .chunks = {rx("GET /w HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"),
                  tx("4\nwiki\n"), tx("5\npedia\nA\n0123456789\n0\n\n"),
                  rx("GET /next HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
       .expected = {"GET /w 1.1 @10-10 b0 -> 200 1.1 @20-40 b19",
                    "GET /next 1.1 @50-50 b0 -> 200 1.1 @60-60 b0"}});

  c.push_back(
      {.name = "Transfer-Encoding chunked wins over Content-Length",
       .chunks = {rx("GET / HTTP/1.1\n\n"),
                  tx("HTTP/1.1 200 OK\nContent-Length: 3\nTransfer-Encoding: gzip, CHUNKED\n\n"
                     "5\nhello\n0\n\n"),
                  rx("GET /2 HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
       .expected = {"GET / 1.1 @10-10 b0 -> 200 1.1 @20-20 b5",
                    "GET /2 1.1 @30-30 b0 -> 200 1.1 @40-40 b0"}});

  c.push_back(
      {.name = "HEAD response has Content-Length but no body",
       .chunks = {rx("HEAD /file HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 1000\n\n"),
                  rx("GET /file HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 2\n\nok")},
       .expected = {"HEAD /file 1.1 @10-10 b0 -> 200 1.1 @20-20 b0",
                    "GET /file 1.1 @30-30 b0 -> 200 1.1 @40-40 b2"}});

  c.push_back({.name = "204 and 304 have no body",
               .chunks = {rx("DELETE /x HTTP/1.1\n\nGET /y HTTP/1.1\n\nGET /z HTTP/1.1\n\n"),
                          tx("HTTP/1.1 204 No Content\n\n"
                             "HTTP/1.1 304 Not Modified\nContent-Length: 100\n\n"
                             "HTTP/1.1 200 OK\nContent-Length: 1\n\nz")},
               .expected = {"DELETE /x 1.1 @10-10 b0 -> 204 1.1 @20-20 b0",
                            "GET /y 1.1 @10-10 b0 -> 304 1.1 @20-20 b0",
                            "GET /z 1.1 @10-10 b0 -> 200 1.1 @20-20 b1"}});

  c.push_back({.name = "100-continue: interim response not paired, body follows it",
               .chunks = {rx("POST /up HTTP/1.1\nContent-Length: 5\nExpect: 100-continue\n\n"),
                          tx("HTTP/1.1 100 Continue\n\n"), rx("hello"),
                          tx("HTTP/1.1 201 Created\nContent-Length: 0\n\n")},
               .expected = {"POST /up 1.1 @10-30 b5 -> 201 1.1 @40-40 b0"}});

  c.push_back({.name = "103 Early Hints before the final response",
               .chunks = {rx("GET /page HTTP/1.1\n\n"),
                          tx("HTTP/1.1 103 Early Hints\nLink: </s.css>; rel=preload\n\n"
                             "HTTP/1.1 200 OK\nContent-Length: 4\n\npage")},
               .expected = {"GET /page 1.1 @10-10 b0 -> 200 1.1 @20-20 b4"}});

  c.push_back({.name = "HTTP/1.0 response delimited by close",
               .chunks = {rx("GET / HTTP/1.0\nUser-Agent: old\n\n"),
                          tx("HTTP/1.0 200 OK\nServer: x\n\nabc"), tx("defg")},
               .close_at_end = true,
               .expected = {"GET / 1.0 @10-10 b0 -> 200 1.0 @20-30 b7"}});

  c.push_back({.name = "HTTP/1.1 response without length is delimited by close",
               .chunks = {rx("GET /s HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\n\nstream"), tx("", 100),
                          tx("more")},
               .close_at_end = true,
               .expected = {"GET /s 1.1 @10-10 b0 -> 200 1.1 @20-40 b110"}});

  c.push_back(
      {.name = "request without response, then close",
       .chunks = {rx("GET /1 HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
                  rx("GET /2 HTTP/1.1\n\n")},
       .close_at_end = true,
       .expected = {"GET /1 1.1 @10-10 b0 -> 200 1.1 @20-20 b0", "GET /2 1.1 @30-30 b0 -> none"}});

  c.push_back(
      {.name = "response cut by close is truncated",
       .chunks = {rx("GET /1 HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 10\n\nabc")},
       .close_at_end = true,
       .expected = {"GET /1 1.1 @10-10 b0 -> 200 1.1 @20-20 b3 T"}});

  c.push_back(
      {.name = "101 Switching Protocols ends HTTP parsing",
       .chunks = {rx("GET /ws HTTP/1.1\nUpgrade: websocket\nConnection: Upgrade\n\n"),
                  raw(kOut, crlf("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n") +
                                std::string("\x81\x05hello", 7)),
                  raw(kIn, std::string("\x81\x85\x01\x02\x03\x04\x00\xff\x10", 9)),
                  raw(kOut, std::string("\x88\x00", 2))},
       .expected = {"GET /ws 1.1 @10-10 b0 -> 101 1.1 @20-20 b0"},
       .trailing_ignored = true});

  c.push_back({.name = "CONNECT 200 ends HTTP parsing (tunnel)",
               .chunks = {rx("CONNECT example.com:443 HTTP/1.1\nHost: example.com:443\n\n"),
                          tx("HTTP/1.1 200 Connection Established\n\n"),
                          raw(kIn, std::string("\x16\x03\x01\x00\x05hello", 10)),
                          raw(kOut, std::string("\x16\x03\x03\x00\x01\x00", 6))},
               .expected = {"CONNECT example.com:443 1.1 @10-10 b0 -> 200 1.1 @20-20 b0"},
               .trailing_ignored = true});

  c.push_back({.name = "CONNECT refused keeps parsing",
               .chunks = {rx("CONNECT example.com:443 HTTP/1.1\n\n"),
                          tx("HTTP/1.1 407 Proxy Authentication Required\nContent-Length: 0\n\n"),
                          rx("GET http://example.com/ HTTP/1.1\n\n"),
                          tx("HTTP/1.1 200 OK\nContent-Length: 1\n\n!")},
               .expected = {"CONNECT example.com:443 1.1 @10-10 b0 -> 407 1.1 @20-20 b0",
                            "GET http://example.com/ 1.1 @30-30 b0 -> 200 1.1 @40-40 b1"}});

  c.push_back({.name = "empty lines before a request are ignored; bare LF line ends",
               .chunks = {raw(kIn, "\r\n\nPUT /lf HTTP/1.1\nContent-Length: 2\n\nhi"),
                          raw(kOut, "HTTP/1.1 200\nContent-Length: 0\n\n")},
               .expected = {"PUT /lf 1.1 @10-10 b2 -> 200 1.1 @20-20 b0"}});

  c.push_back(
      {.name = "64 KiB of headers fully captured parse exactly",
       .chunks = {raw(kIn, big_head_request()), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
       .expected = {"GET /big?q=1 1.1 @10-10 b3 -> 200 1.1 @20-20 b0"}});

  c.push_back(
      {.name = "gap inside a Content-Length body is skipped exactly",
       .chunks = {rx("GET /dl HTTP/1.1\n\n"),
                  tx("HTTP/1.1 200 OK\nContent-Length: 10000\n\n" + std::string(4000, 'x'), 6000),
                  rx("GET /2 HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 2\n\nok")},
       .expected = {"GET /dl 1.1 @10-10 b0 -> 200 1.1 @20-20 b10000",
                    "GET /2 1.1 @30-30 b0 -> 200 1.1 @40-40 b2"}});

  c.push_back(
      {.name = "sendfile body: only a gap, then the next exchange",
       .chunks = {rx("GET /file HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 50000\n\n"),
                  tx("", 30000), tx("", 20000), rx("GET /2 HTTP/1.1\n\n"),
                  tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
       .expected = {"GET /file 1.1 @10-10 b0 -> 200 1.1 @20-40 b50000",
                    "GET /2 1.1 @50-50 b0 -> 200 1.1 @60-60 b0"}});

  c.push_back(
      {.name = "gap inside a request body is skipped exactly",
       .chunks = {rx("POST /up HTTP/1.1\nContent-Length: 9000\n\n" + std::string(1000, 'a'), 7000),
                  rx(std::string(1000, 'b')), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
       .expected = {"POST /up 1.1 @10-20 b9000 -> 200 1.1 @30-30 b0"}});

  c.push_back(
      {.name = "gap inside request headers keeps method and target",
       .chunks = {rx("GET /big HTTP/1.1\nHost: x\nCookie: aaaa", 5000),
                  tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), rx("GET /next HTTP/1.1\n\n"),
                  tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
       .expected = {"GET /big 1.1 @10-10 b0 T -> 200 1.1 @20-20 b0",
                    "GET /next 1.1 @30-30 b0 -> 200 1.1 @40-40 b0"},
       .stats = stats_with(0, 0, 1)});

  c.push_back({.name = "gap inside request headers: the rest of that request is skipped",
               .chunks = {rx("POST /p HTTP/1.1\nX: y", 100), rx("zzz\nContent-Length: 3\n\nabc"),
                          tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
               .expected = {"POST /p 1.1 @10-20 b0 T -> 200 1.1 @30-30 b0"},
               .stats = stats_with(0, 0, 1)});

  c.push_back({.name = "gap inside the request line keeps the method",
               .chunks = {rx("GET /very/lo", 9000), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
               .expected = {"GET  1.1 @10-10 b0 T -> 200 1.1 @20-20 b0"},
               .stats = stats_with(0, 0, 1)});

  c.push_back({.name = "gap inside response headers keeps the status",
               .chunks = {rx("GET /1 HTTP/1.1\n\n"), tx("HTTP/1.1 404 Not Found\nServer: x", 5000),
                          tx("more of it"), rx("GET /2 HTTP/1.1\n\n"),
                          tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
               .expected = {"GET /1 1.1 @10-10 b0 -> 404 1.1 @20-30 b0 T",
                            "GET /2 1.1 @40-40 b0 -> 200 1.1 @50-50 b0"},
               .stats = stats_with(0, 0, 1)});

  c.push_back({.name = "gap in chunked framing: truncated, resync on the next response",
               .chunks = {rx("GET /1 HTTP/1.1\n\n"),
                          tx("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n1000\n" +
                                 std::string(100, 'x'),
                             10000),
                          tx("yyy"), rx("GET /2 HTTP/1.1\n\n"),
                          tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
               .expected = {"GET /1 1.1 @10-10 b0 -> 200 1.1 @20-30 b4101 T",
                            "GET /2 1.1 @40-40 b0 -> 200 1.1 @50-50 b0"},
               .stats = stats_with(0, 0, 0, 1)});

  c.push_back(
      {.name = "gap inside chunk data is skipped exactly",
       .chunks = {rx("GET /1 HTTP/1.1\n\n"),
                  tx("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n1000\n" + std::string(96, 'x'),
                     4000),
                  tx("\n0\n\n")},
       .expected = {"GET /1 1.1 @10-10 b0 -> 200 1.1 @20-30 b4096"}});

  c.push_back({.name = "gap past a body end loses the next response start: pairing stays aligned",
               .chunks = {rx("GET /1 HTTP/1.1\n\nGET /2 HTTP/1.1\n\n"),
                          tx("HTTP/1.1 200 OK\nContent-Length: 10\n\n0123", 5000), tx("tail"),
                          rx("GET /3 HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
               .expected = {"GET /1 1.1 @10-10 b0 -> 200 1.1 @20-20 b10",
                            "GET /2 1.1 @10-10 b0 -> 0 1.1 @20-30 b0 T",
                            "GET /3 1.1 @40-40 b0 -> 200 1.1 @50-50 b0"},
               .stats = stats_with(0, 0, 1)});

  c.push_back({.name = "joined mid-stream inside a request body",
               .joined_midstream = true,
               .chunks = {rx("dy of an upload that started earlier\n"),
                          tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), rx("GET /x HTTP/1.1\n\n"),
                          tx("HTTP/1.1 200 OK\nContent-Length: 2\n\nok")},
               .expected = {"GET /x 1.1 @30-30 b0 -> 200 1.1 @40-40 b2"},
               .stats = stats_with(0, 1, 0)});

  c.push_back({.name = "joined mid-stream inside headers and inside a response body",
               .joined_midstream = true,
               .chunks = {rx("Accept: */*\nX-Request-ID: 7\n\n"), tx("more of the response body"),
                          rx("GET /y HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
               .expected = {"GET /y 1.1 @30-30 b0 -> 200 1.1 @40-40 b0"}});

  c.push_back({.name = "client role: egress carries requests",
               .role = Role::kClient,
               .chunks = {tx("GET /c HTTP/1.1\n\n"), rx("HTTP/1.1 200 OK\nContent-Length: 1\n\n1")},
               .expected = {"GET /c 1.1 @10-10 b0 -> 200 1.1 @20-20 b1"}});

  c.push_back({.name = "unknown role inferred as client from egress request line",
               .role = Role::kUnknown,
               .chunks = {tx("GET /c HTTP/1.1\n\n"), rx("HTTP/1.1 200 OK\nContent-Length: 1\n\n1")},
               .expected = {"GET /c 1.1 @10-10 b0 -> 200 1.1 @20-20 b1"},
               .expected_role = Role::kClient});

  c.push_back({.name = "unknown role, mid-stream: inferred as server, earlier data skipped",
               .role = Role::kUnknown,
               .joined_midstream = true,
               .chunks = {rx("ody bytes"), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
                          rx("GET /s HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n")},
               .expected = {"GET /s 1.1 @30-30 b0 -> 200 1.1 @40-40 b0"},
               .expected_role = Role::kServer});

  c.push_back(
      {.name = "unsolicited 408 is an orphan",
       .chunks = {rx("GET /1 HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
                  tx("HTTP/1.1 408 Request Timeout\nContent-Length: 0\nConnection: close\n\n")},
       .close_at_end = true,
       .expected = {"GET /1 1.1 @10-10 b0 -> 200 1.1 @20-20 b0"},
       .stats = stats_with(0, 1, 0)});

  // Not HTTP/1: the connection fails, nothing is emitted, later data is ignored.
  const auto failing = [&](std::string name, std::vector<Chunk> chunks, Role role = Role::kServer) {
    c.push_back({.name = std::move(name),
                 .role = role,
                 .chunks = std::move(chunks),
                 .close_at_end = true,
                 .stats = stats_with(1, 0, 0),
                 .expect_failed = true});
  };
  failing("binary junk (TLS record)",
          {raw(kIn, std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11)),
           rx("GET / HTTP/1.1\n\n")});
  failing("HTTP/2 preface", {rx("PRI * HTTP/2.0\n\nSM\n\n")});
  failing("lower-case method", {rx("get / HTTP/1.1\n\n")});
  failing("space in target", {rx("GET /a b HTTP/1.1\n\n")});
  failing("HTTP/1.2", {rx("GET / HTTP/1.2\n\n")});
  failing("control byte in target", {raw(kIn, "GET /\x01 HTTP/1.1\r\n\r\n")});
  failing("header line without colon", {rx("GET / HTTP/1.1\nNoColonHere\n\n")});
  failing("space before colon", {rx("GET / HTTP/1.1\nHost : x\n\n")});
  failing("conflicting Content-Length",
          {rx("POST / HTTP/1.1\nContent-Length: 5\nContent-Length: 6\n\nhello")});
  failing("non-numeric Content-Length", {rx("POST / HTTP/1.1\nContent-Length: 5x\n\nhello")});
  failing("binary response",
          {rx("GET / HTTP/1.1\n\n"), raw(kOut, std::string("\x00\x00\x12\x04", 4))});
  failing("status 600", {rx("GET / HTTP/1.1\n\n"), tx("HTTP/1.1 600 Nope\n\n")});
  failing("status with two digits", {rx("GET / HTTP/1.1\n\n"), tx("HTTP/1.1 20 OK\n\n")});
  failing("bad chunk size",
          {rx("GET / HTTP/1.1\n\n"), tx("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\nzz\n")});
  failing("unknown role, not HTTP from the start", {raw(kOut, "SSH-2.0-OpenSSH_9.2\r\n")},
          Role::kUnknown);
  return c;
}

// What one run must match: exchanges, failure, counters, role.
void check(const Case& tc, const RunResult& got, const std::string& variant) {
  INFO(tc.name << " [" << variant << "]");
  CHECK(describe(got.exchanges) == tc.expected);
  CHECK(got.failed == tc.expect_failed);
  CHECK(got.failure_reason.empty() == !tc.expect_failed);
  CHECK(describe(got.stats) == describe(tc.stats));
  CHECK(got.role == (tc.expected_role == Role::kUnknown ? tc.role : tc.expected_role));
}

// Large chunks are split at a sample of points only, to keep the suite fast.
size_t stride_for(size_t size_bytes) { return size_bytes > 4096 ? size_bytes / 256 : 1; }

// Bytes [offset, offset + length) of `whole`, built fresh so that no piece keeps the
// capacity of a large original.
Chunk piece_of(const Chunk& whole, size_t offset, size_t length, uint64_t gap_bytes,
               bool syscall_start) {
  return Chunk{whole.dir, whole.bytes.substr(offset, length), gap_bytes, whole.ts, syscall_start};
}

TEST_CASE("http1 table: one chunk per syscall", "[http1]") {
  for (const Case& tc : cases()) {
    check(tc, run(tc.role, tc.joined_midstream, tc.chunks, tc.close_at_end), "as given");
  }
}

TEST_CASE("http1 table: any split into two pieces gives the same result", "[http1]") {
  for (const Case& tc : cases()) {
    const std::vector<Chunk> chunks = with_timestamps(tc.chunks);
    for (size_t i = 0; i < chunks.size(); ++i) {
      const Chunk& whole = chunks[i];
      for (size_t at = 1; at < whole.bytes.size(); at += stride_for(whole.bytes.size())) {
        for (bool second_starts_syscall : {false, true}) {
          std::vector<Chunk> split(chunks.begin(), chunks.begin() + i);
          split.push_back(piece_of(whole, 0, at, 0, whole.syscall_start));
          split.push_back(
              piece_of(whole, at, whole.bytes.size() - at, whole.gap_bytes, second_starts_syscall));
          split.insert(split.end(), chunks.begin() + i + 1, chunks.end());
          check(tc, run(tc.role, tc.joined_midstream, split, tc.close_at_end),
                "chunk " + std::to_string(i) + " split at " + std::to_string(at) +
                    (second_starts_syscall ? " as two syscalls" : " as one syscall"));
        }
      }
    }
  }
}

TEST_CASE("http1 table: byte-by-byte delivery gives the same result", "[http1]") {
  for (const Case& tc : cases()) {
    for (bool every_byte_a_syscall : {false, true}) {
      std::vector<Chunk> bytes;
      for (const Chunk& whole : with_timestamps(tc.chunks)) {
        if (whole.bytes.empty()) {
          bytes.push_back(whole);
          continue;
        }
        for (size_t k = 0; k < whole.bytes.size(); ++k) {
          bytes.push_back(piece_of(whole, k, 1, k + 1 == whole.bytes.size() ? whole.gap_bytes : 0,
                                   k == 0 ? whole.syscall_start : every_byte_a_syscall));
        }
      }
      check(tc, run(tc.role, tc.joined_midstream, bytes, tc.close_at_end),
            every_byte_a_syscall ? "one syscall per byte" : "one piece per byte");
    }
  }
}

TEST_CASE("http1 table: every truncated prefix gives no wrong exchange and no failure", "[http1]") {
  for (const Case& tc : cases()) {
    if (tc.expect_failed) continue;
    const std::vector<Chunk> chunks = with_timestamps(tc.chunks);
    for (size_t i = 0; i < chunks.size(); ++i) {
      const Chunk& whole = chunks[i];
      // Cut inside chunk i (cut 0: chunk i absent); with a gap, the whole captured part
      // without its gap is a prefix too.
      const size_t cut_limit = whole.bytes.size() + (whole.gap_bytes > 0 ? 1 : 0);
      for (size_t cut = 0; cut < cut_limit; cut += stride_for(whole.bytes.size())) {
        std::vector<Chunk> prefix(chunks.begin(), chunks.begin() + i);
        if (cut > 0) prefix.push_back(piece_of(whole, 0, cut, 0, whole.syscall_start));
        const RunResult got = run(tc.role, tc.joined_midstream, prefix, false);
        INFO(tc.name << " [prefix: chunk " << i << " cut at " << cut << "]");
        CHECK_FALSE(got.failed);
        const std::vector<std::string> seen = describe(got.exchanges);
        REQUIRE(seen.size() <= tc.expected.size());
        if (!tc.trailing_ignored && !tc.close_at_end) CHECK(seen.size() < tc.expected.size());
        for (size_t k = 0; k < seen.size(); ++k) CHECK(seen[k] == tc.expected[k]);
      }
    }
  }
}

}  // namespace
}  // namespace ztrace::http1::testing
