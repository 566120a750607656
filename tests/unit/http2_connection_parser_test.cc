// HTTP/2 connection parser: frames → streams → exchanges. Every split point and every
// truncated prefix of valid traffic, concurrency, padding, CONTINUATION, resets, GOAWAY,
// lost bytes, connections joined mid-way, and bad traffic.

#include <catch2/catch_test_macros.hpp>
#include <string>
#include <vector>

#include "tests/unit/http2_test_support.h"
#include "userspace/protocols/http2/connection_parser.h"
#include "userspace/protocols/http2/frame.h"

namespace ztrace::http2::testing {
namespace {

constexpr Direction kIn = Direction::kIngress;
constexpr Direction kOut = Direction::kEgress;

struct Record {
  Direction dir;
  std::string bytes;
  uint64_t gap_after = 0;
  bool syscall_start = true;
};

struct Result {
  std::vector<Exchange> exchanges;
  bool failed = false;
  std::string reason;
  ParserStats stats;
};

// Replays records (timestamp = 1000 * record number); `limit`: bytes delivered in total.
Result run(Role role, bool midstream, const std::vector<Record>& records, size_t limit = SIZE_MAX,
           bool close = true) {
  ConnectionParser parser(role, midstream);
  Result r;
  uint64_t ts = 0;
  size_t delivered = 0;
  for (const Record& rec : records) {
    ts += 1000;
    std::string_view bytes = rec.bytes;
    if (delivered + bytes.size() > limit) bytes = bytes.substr(0, limit - delivered);
    delivered += bytes.size();
    parser.on_data(rec.dir, bytes, bytes.size() == rec.bytes.size() ? rec.gap_after : 0, ts,
                   rec.syscall_start);
    for (auto& e : parser.take_exchanges()) r.exchanges.push_back(std::move(e));
    if (delivered >= limit) break;
  }
  if (close) parser.on_close(ts + 1000);
  for (auto& e : parser.take_exchanges()) r.exchanges.push_back(std::move(e));
  r.failed = parser.failed();
  r.reason = std::string(parser.failure_reason());
  r.stats = parser.stats();
  return r;
}

std::string field(const HeaderBlock& b, std::string_view name) {
  const std::string* v = b.find(name);
  return v ? *v : "<none>";
}

// A one-line summary that tests compare.
std::string describe(const Exchange& e) {
  std::string s = std::to_string(e.stream_id) + " " + field(e.request.headers, ":method") + " " +
                  field(e.request.headers, ":path") +
                  " req_body=" + std::to_string(e.request.body_bytes) +
                  " status=" + field(e.response.headers, ":status") +
                  " resp_body=" + std::to_string(e.response.body_bytes);
  if (e.response.trailers) s += " grpc-status=" + field(*e.response.trailers, "grpc-status");
  s += " outcome=" + std::to_string(static_cast<int>(e.outcome));
  s += " unknown=" + std::to_string(e.request.headers.unknown_fields);
  if (e.truncated) s += " truncated";
  return s;
}

std::vector<std::string> describe_all(const Result& r) {
  std::vector<std::string> out;
  for (const auto& e : r.exchanges) out.push_back(describe(e));
  return out;
}

std::string preface() { return std::string(kClientPreface); }

std::string grpc_request_headers(std::string_view path) {
  return indexed(3) /* POST */ + indexed(6) /* http */ + literal(":path", path) +
         literal(":authority", "localhost:50051") + literal("content-type", "application/grpc") +
         literal("te", "trailers");
}

// A unary gRPC call seen from the client, with the server's frames on ingress.
std::vector<Record> unary_client_call() {
  const std::string req_headers =
      frame(FrameType::kHeaders, kFlagEndHeaders, 1, grpc_request_headers("/pkg.Svc/Get"));
  const std::string req_data = frame(FrameType::kData, kFlagEndStream, 1, std::string(12, 'm'));
  const std::string resp_headers = frame(FrameType::kHeaders, kFlagEndHeaders, 1,
                                         indexed(8) + literal("content-type", "application/grpc"));
  const std::string resp_data = frame(FrameType::kData, 0, 1, std::string(20, 'r'));
  const std::string trailers = frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                                     literal("grpc-status", "0") + literal("grpc-message", ""));
  return {
      {kOut, preface() + settings({{kSettingsHeaderTableSize, 4096}})},
      {kIn,
       settings({{kSettingsMaxFrameSize, 16384}}) + frame(FrameType::kSettings, kFlagAck, 0, "")},
      {kOut, frame(FrameType::kSettings, kFlagAck, 0, "") + req_headers + req_data},
      {kIn, frame(FrameType::kWindowUpdate, 0, 0, u32(1000)) +
                frame(FrameType::kPing, 0, 0, std::string(8, 'p')) + resp_headers},
      {kIn, resp_data + trailers},
  };
}

const std::string kUnaryExpected =
    "1 POST /pkg.Svc/Get req_body=12 status=200 resp_body=20 grpc-status=0 outcome=0 unknown=0";

TEST_CASE("http2 unary gRPC call from the client side", "[http2]") {
  const Result r = run(Role::kClient, false, unary_client_call());
  REQUIRE_FALSE(r.failed);
  REQUIRE(describe_all(r) == std::vector<std::string>{kUnaryExpected});
  const Exchange& e = r.exchanges[0];
  CHECK(e.request.start_ns == 3000);
  CHECK(e.request.end_ns == 3000);
  CHECK(e.response.start_ns == 4000);
  CHECK(e.response.end_ns == 5000);
  CHECK(field(e.request.headers, "content-type") == "application/grpc");
  CHECK(field(e.request.headers, ":authority") == "localhost:50051");
  CHECK(field(e.request.headers, "te") == "<none>");  // not kept
}

TEST_CASE("http2 server side: requests are ingress, role inferred from the preface", "[http2]") {
  std::vector<Record> records = unary_client_call();
  for (auto& rec : records) rec.dir = rec.dir == kIn ? kOut : kIn;
  for (Role role : {Role::kServer, Role::kUnknown}) {
    ConnectionParser parser(role, false);
    uint64_t ts = 0;
    for (const auto& rec : records) parser.on_data(rec.dir, rec.bytes, 0, ts += 1000, true);
    CHECK(parser.role() == Role::kServer);
    auto got = parser.take_exchanges();
    REQUIRE(got.size() == 1);
    CHECK(describe(got[0]) == kUnaryExpected);
  }
}

TEST_CASE("http2 gives the same exchanges at every split point", "[http2]") {
  const std::vector<Record> records = unary_client_call();
  const auto whole = describe_all(run(Role::kClient, false, records));
  for (size_t r = 0; r < records.size(); ++r) {
    for (size_t at = 1; at < records[r].bytes.size(); ++at) {
      std::vector<Record> split;
      for (size_t i = 0; i < records.size(); ++i) {
        if (i != r) {
          split.push_back(records[i]);
          continue;
        }
        split.push_back({records[i].dir, records[i].bytes.substr(0, at)});
        split.push_back({records[i].dir, records[i].bytes.substr(at), 0, false});
      }
      INFO("record " << r << " split at " << at);
      const Result got = run(Role::kClient, false, split);
      CHECK_FALSE(got.failed);
      // Timestamps shift with the extra record; the exchange itself must not change.
      CHECK(describe_all(got) == whole);
    }
  }
}

TEST_CASE("http2 every truncated prefix needs more data and never gives a wrong record",
          "[http2]") {
  const std::vector<Record> records = unary_client_call();
  size_t total = 0;
  for (const auto& r : records) total += r.bytes.size();
  for (size_t limit = 0; limit < total; ++limit) {
    INFO("prefix of " << limit << " bytes");
    // Without close: nothing is complete before the last byte.
    const Result open = run(Role::kClient, false, records, limit, false);
    CHECK_FALSE(open.failed);
    CHECK(open.exchanges.empty());
    // With close: at most the one stream, never with invented fields.
    const Result closed = run(Role::kClient, false, records, limit, true);
    CHECK_FALSE(closed.failed);
    REQUIRE(closed.exchanges.size() <= 1);
    for (const auto& e : closed.exchanges) {
      CHECK(e.outcome == StreamOutcome::kConnectionClosed);
      CHECK(field(e.request.headers, ":path") == "/pkg.Svc/Get");
      CHECK(e.request.body_bytes <= 12);
      CHECK(e.response.body_bytes <= 20);
    }
  }
  // The frame parser alone: every prefix of a frame needs more data.
  const std::string f = frame(FrameType::kHeaders, kFlagEndHeaders, 1, grpc_request_headers("/a"));
  for (size_t n = 0; n < f.size(); ++n) {
    FrameHeader h;
    std::string_view payload;
    CHECK(parse_frame(std::string_view(f).substr(0, n), &h, &payload) ==
          ParseState::kNeedsMoreData);
  }
}

TEST_CASE("http2 CONTINUATION, padding and priority", "[http2]") {
  const std::string block = grpc_request_headers("/pkg.Svc/Padded");
  std::string padded_headers;
  padded_headers.push_back(3);                        // pad length
  padded_headers += u32(0) + std::string(1, '\x10');  // priority: dependency, weight
  padded_headers += block.substr(0, 10) + std::string(3, '\0');
  std::string padded_data;
  padded_data.push_back(5);
  padded_data += std::string(7, 'd') + std::string(5, '\0');
  const std::vector<Record> records = {
      {kOut, preface() +
                 frame(FrameType::kHeaders, kFlagPadded | kFlagPriority, 1, padded_headers) +
                 frame(FrameType::kContinuation, 0, 1, block.substr(10, 15)) +
                 frame(FrameType::kContinuation, kFlagEndHeaders, 1, block.substr(25)) +
                 frame(FrameType::kPriority, 0, 1, u32(0) + "\x20") +
                 frame(FrameType::kData, kFlagPadded | kFlagEndStream, 1, padded_data)},
      {kIn, frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                  indexed(8) + literal("grpc-status", "5"))},
  };
  const Result r = run(Role::kClient, false, records);
  REQUIRE_FALSE(r.failed);
  REQUIRE(r.exchanges.size() == 1);
  CHECK(describe(r.exchanges[0]) ==
        "1 POST /pkg.Svc/Padded req_body=7 status=200 resp_body=0 outcome=0 unknown=0");
  // Trailers-only response: grpc-status is in the (only) header block.
  CHECK(field(r.exchanges[0].response.headers, "grpc-status") == "5");
}

TEST_CASE("http2 many concurrent streams interleaved", "[http2]") {
  constexpr uint32_t kStreams = 300;
  std::string out = preface();
  std::string in;
  for (uint32_t i = 0; i < kStreams; ++i) {
    const uint32_t id = 2 * i + 1;
    out += frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, id,
                 indexed(2) + indexed(6) + literal(":path", "/item/" + std::to_string(id)));
  }
  for (uint32_t i = kStreams; i-- > 0;) {  // answered in reverse order
    const uint32_t id = 2 * i + 1;
    in += frame(FrameType::kHeaders, kFlagEndHeaders, id, indexed(8));
    in += frame(FrameType::kData, kFlagEndStream, id, std::string(id % 50, 'x'));
  }
  const Result r = run(Role::kClient, false, {{kOut, out}, {kIn, in}});
  REQUIRE_FALSE(r.failed);
  REQUIRE(r.exchanges.size() == kStreams);
  for (uint32_t i = 0; i < kStreams; ++i) {
    const Exchange& e = r.exchanges[i];
    const uint32_t id = 2 * (kStreams - 1 - i) + 1;
    CHECK(e.stream_id == id);
    CHECK(field(e.request.headers, ":path") == "/item/" + std::to_string(id));
    CHECK(e.response.body_bytes == id % 50);
  }
}

TEST_CASE("http2 RST_STREAM, GOAWAY and close end streams with their outcome", "[http2]") {
  auto req = [](uint32_t id, std::string path) {
    return frame(FrameType::kHeaders, kFlagEndHeaders, id,
                 indexed(3) + indexed(6) + literal(":path", path));
  };
  const std::vector<Record> records = {
      {kOut, preface() + req(1, "/a") + req(3, "/b") + req(5, "/c") + req(7, "/d")},
      {kIn, frame(FrameType::kRstStream, 0, 1, u32(8))},  // CANCEL
      {kIn, frame(FrameType::kHeaders, kFlagEndHeaders, 3, indexed(8))},
      {kIn, frame(FrameType::kGoaway, 0, 0, u32(3) + u32(0))},
  };
  const Result r = run(Role::kClient, false, records);
  REQUIRE_FALSE(r.failed);
  REQUIRE(describe_all(r) ==
          std::vector<std::string>{
              "1 POST /a req_body=0 status=<none> resp_body=0 outcome=1 unknown=0",
              "5 POST /c req_body=0 status=<none> resp_body=0 outcome=2 unknown=0",
              "7 POST /d req_body=0 status=<none> resp_body=0 outcome=2 unknown=0",
              "3 POST /b req_body=0 status=200 resp_body=0 outcome=3 unknown=0",
          });
  CHECK(r.exchanges[0].error_code == 8);
}

TEST_CASE("http2 RST_STREAM NO_ERROR after a complete response completes the exchange", "[http2]") {
  // RFC 9113 §8.1: a server that answered before the request body ended may stop the body
  // with RST_STREAM NO_ERROR. Before the response ends, or with an error code, it is a reset.
  auto req = [](uint32_t id, std::string path) {
    return frame(FrameType::kHeaders, kFlagEndHeaders, id,
                 indexed(3) + indexed(6) + literal(":path", path)) +
           frame(FrameType::kData, 0, id, std::string(10, 'b'));
  };
  auto answer = [](uint32_t id) {
    return frame(FrameType::kHeaders, kFlagEndHeaders, id, indexed(8)) +
           frame(FrameType::kData, kFlagEndStream, id, std::string(3, 'r'));
  };
  const std::vector<Record> records = {
      {kIn, preface() + req(1, "/no-error") + req(3, "/cancel") + req(5, "/early")},
      {kOut, answer(1) + frame(FrameType::kRstStream, 0, 1, u32(0))},
      {kOut, answer(3) + frame(FrameType::kRstStream, 0, 3, u32(8))},
      {kOut, frame(FrameType::kHeaders, kFlagEndHeaders, 5, indexed(8)) +
                 frame(FrameType::kRstStream, 0, 5, u32(0))},
  };
  const Result r = run(Role::kServer, false, records);
  REQUIRE_FALSE(r.failed);
  REQUIRE(describe_all(r) ==
          std::vector<std::string>{
              "1 POST /no-error req_body=10 status=200 resp_body=3 outcome=0 unknown=0",
              "3 POST /cancel req_body=10 status=200 resp_body=3 outcome=1 unknown=0",
              "5 POST /early req_body=10 status=200 resp_body=0 outcome=1 unknown=0",
          });
  CHECK(r.exchanges[1].error_code == 8);
}

TEST_CASE("http2 joined mid-way never guesses a path from unseen table entries", "[http2]") {
  // The server's view of a connection opened before the agent: the client's earlier
  // requests put :path and content-type into the dynamic table.
  const std::vector<Record> records = {
      // A syscall starting inside a frame: skipped until a plausible frame header.
      {kIn, std::string("\x01\x02\x03 junk in the middle of a frame")},
      {kIn, frame(FrameType::kHeaders, kFlagEndHeaders, 41,
                  indexed(3) + indexed(6) + indexed(63) + indexed(62)) +
                frame(FrameType::kData, kFlagEndStream, 41, std::string(5, 'x'))},
      {kOut, frame(FrameType::kHeaders, kFlagEndHeaders, 41, indexed(8)) +
                 frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 41,
                       literal("grpc-status", "0"))},
      // A new method: literal with incremental indexing, then referenced.
      {kIn, frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 43,
                  indexed(3) + hpack_int(0x40, 6, 4) + hpack_string("/pkg.Svc/New"))},
      {kIn,
       frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 45, indexed(3) + indexed(62))},
      {kOut, frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 43, indexed(8)) +
                 frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 45, indexed(8))},
      // Response of a stream whose request the agent never saw: no exchange.
      {kOut, frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 39, indexed(8))},
  };
  const Result r = run(Role::kUnknown, true, records);
  REQUIRE_FALSE(r.failed);
  REQUIRE(describe_all(r) ==
          std::vector<std::string>{
              "41 POST <none> req_body=5 status=200 resp_body=0 grpc-status=0 outcome=0 "
              "unknown=2",
              "43 POST /pkg.Svc/New req_body=0 status=200 resp_body=0 outcome=0 unknown=0",
              "45 POST /pkg.Svc/New req_body=0 status=200 resp_body=0 outcome=0 unknown=0",
          });
  CHECK(r.stats.streams.orphan_streams == 1);
}

TEST_CASE("http2 detects the preface and plausible frames, not HTTP/1 or junk", "[http2]") {
  CHECK(detect(preface()) == ParseState::kSuccess);
  CHECK(detect("PRI * HT") == ParseState::kNeedsMoreData);
  CHECK(detect(settings({{kSettingsMaxFrameSize, 16384}})) == ParseState::kSuccess);
  CHECK(detect(frame(FrameType::kHeaders, kFlagEndHeaders, 1, indexed(8))) == ParseState::kSuccess);
  CHECK(detect("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == ParseState::kInvalid);
  CHECK(detect("HTTP/1.1 200 OK\r\n\r\n") == ParseState::kInvalid);
  CHECK(detect(std::string(9, '\0')) == ParseState::kInvalid);  // DATA on stream 0
  CHECK(detect(frame(FrameType::kSettings, 0, 1, "")) == ParseState::kInvalid);
  // A plausible first header followed by an implausible one.
  CHECK(detect(frame(FrameType::kPing, 0, 0, std::string(8, 'p')) + "GET / HTTP/1.1\r\n") ==
        ParseState::kInvalid);
}

TEST_CASE("http2 lost bytes: exact inside DATA, resync elsewhere", "[http2]") {
  const std::string req1 = frame(FrameType::kHeaders, kFlagEndHeaders, 1,
                                 indexed(3) + indexed(6) + literal_indexed(":path", "/p1"));
  const std::string data_start =
      frame(FrameType::kData, kFlagEndStream, 1, std::string(100, 'd')).substr(0, 40);
  const std::vector<Record> records = {
      {kOut, preface() + req1 + data_start, /*gap_after=*/69},
      {kIn, frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1, indexed(8))},
      // Bytes lost across frame boundaries: the request of stream 3 and its table entry.
      {kOut, frame(FrameType::kHeaders, kFlagEndHeaders, 3, indexed(3)).substr(0, 5), 100},
      {kOut, std::string("\xff\xff continuing junk"), 0, false},
      {kOut, frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 5,
                   indexed(3) + indexed(62))},  // /p1? not after a loss: unknown
      {kIn, frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 5, indexed(8))},
  };
  const Result r = run(Role::kClient, false, records);
  REQUIRE_FALSE(r.failed);
  CHECK(r.stats.lost_sync == 1);
  REQUIRE(describe_all(r) ==
          std::vector<std::string>{
              "1 POST /p1 req_body=100 status=200 resp_body=0 outcome=0 unknown=0 truncated",
              "5 POST <none> req_body=0 status=200 resp_body=0 outcome=0 unknown=1",
          });
}

TEST_CASE("http2 after lost bytes, a frame boundary is found inside a later read", "[http2]") {
  const std::string data1 = frame(FrameType::kData, 0, 1, std::string(20000, 'a'));
  const std::string data2 = frame(FrameType::kData, 0, 1, std::string(9000, 'b'));
  const std::string last = frame(FrameType::kData, kFlagEndStream, 1, std::string(100, 'c'));
  const std::string response =
      frame(FrameType::kHeaders, kFlagEndHeaders, 1, indexed(8)) + data1 + data2 + last;
  // Reads cut frames anywhere and are captured only in part: the second read's gap runs past
  // the end of the first DATA frame, the third read starts inside the second one.
  const std::vector<Record> records = {
      {kOut, preface() + frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                               indexed(2) + indexed(6) + literal(":path", "/big"))},
      {kIn, response.substr(0, 4000), 12000},
      {kIn, response.substr(16000, 3000), 5000},
      {kIn, response.substr(24000)},
  };
  const Result r = run(Role::kClient, false, records);
  REQUIRE_FALSE(r.failed);
  CHECK(r.stats.lost_sync == 1);
  REQUIRE(r.exchanges.size() == 1);
  CHECK(r.exchanges[0].outcome == StreamOutcome::kComplete);
  CHECK(r.exchanges[0].truncated);
  CHECK(field(r.exchanges[0].response.headers, ":status") == "200");
}

TEST_CASE("http2 bad traffic disables the parser with a reason", "[http2]") {
  struct Case {
    const char* name;
    std::string egress;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"bad preface", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", "bad client preface"},
      {"CONTINUATION alone", preface() + frame(FrameType::kContinuation, 4, 1, ""),
       "CONTINUATION without a header block"},
      {"interrupted block",
       preface() + frame(FrameType::kHeaders, 0, 1, indexed(2)) +
           frame(FrameType::kData, 0, 1, "x"),
       "header block interrupted"},
      {"HPACK error", preface() + frame(FrameType::kHeaders, kFlagEndHeaders, 1, "\x80"),
       "HPACK decoding error"},
      {"DATA on stream 0", preface() + frame(FrameType::kData, 0, 0, "x"),
       "frame on the wrong stream"},
      {"SETTINGS length", preface() + frame(FrameType::kSettings, 0, 0, "12345"),
       "SETTINGS of bad length"},
      {"padding", preface() + frame(FrameType::kHeaders, kFlagPadded | kFlagEndHeaders, 1, "\x09"),
       "header block padding longer than the frame"},
      {"huge frame", preface() + std::string("\x7f\xff\xff\x01\x04\x00\x00\x00\x01", 9),
       "frame larger than the agent buffers"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const Result r =
        run(Role::kClient, false,
            {{kOut, c.egress}, {kOut, frame(FrameType::kHeaders, kFlagEndHeaders, 3, indexed(2))}});
    CHECK(r.failed);
    CHECK(r.reason == c.reason);
    CHECK(r.stats.invalid_streams == 1);
    CHECK(r.exchanges.empty());
  }
}

TEST_CASE("http2 SETTINGS_HEADER_TABLE_SIZE applies to the other direction's blocks", "[http2]") {
  const std::string update = hpack_int(0x20, 5, 8192);
  const std::string req = frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                                update + indexed(2) + literal(":path", "/big"));
  // Without the server's SETTINGS the client may not grow its table.
  CHECK(run(Role::kClient, false, {{kOut, preface() + req}}).failed);
  const Result ok =
      run(Role::kClient, false,
          {{kIn, settings({{kSettingsHeaderTableSize, 8192}})},
           {kOut, preface() + req},
           {kIn, frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1, indexed(8))}});
  REQUIRE_FALSE(ok.failed);
  REQUIRE(ok.exchanges.size() == 1);
  CHECK(field(ok.exchanges[0].request.headers, ":path") == "/big");
}

}  // namespace
}  // namespace ztrace::http2::testing
