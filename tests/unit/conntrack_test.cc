// ConnectionTable: kernel pieces → ordered streams → exchanges, with loss fed as gaps.
#include <arpa/inet.h>

#include <catch2/catch_test_macros.hpp>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "userspace/conntrack/connection_table.h"

namespace ztrace::conntrack {
namespace {

constexpr uint32_t kPid = 4242;
constexpr int32_t kFd = 7;

zt_tuple loopback_tuple(uint16_t local_port, uint16_t remote_port) {
  zt_tuple t{};
  t.family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", t.local_addr);
  inet_pton(AF_INET, "127.0.0.2", t.remote_addr);
  t.local_port = local_port;
  t.remote_port = remote_port;
  return t;
}

// Builds the data events the kernel would emit for one syscall moving `call_bytes` bytes of
// which `bytes` were captured (as one piece).
zt_data_event piece(uint8_t direction, uint8_t role, uint64_t stream_offset,
                    const std::string& bytes, uint64_t call_bytes, uint64_t ts,
                    uint64_t generation = 1) {
  zt_data_event e{};
  e.type = ZT_EVENT_DATA;
  e.direction = direction;
  e.role = role;
  e.pid = kPid;
  e.tid = kPid;
  e.fd = kFd;
  e.generation = generation;
  e.timestamp_ns = ts;
  e.stream_offset = stream_offset;
  e.call_bytes = call_bytes;
  e.call_offset = 0;
  e.flags = ZT_DATA_LAST_PIECE;
  e.captured_bytes = bytes.size();
  e.tuple = loopback_tuple(8080, 51000);
  std::memcpy(e.data, bytes.data(), bytes.size());
  return e;
}

using protocols::ConnectionView;

struct Collected {
  std::vector<std::pair<ConnectionView, http1::Exchange>> exchanges;
  std::vector<std::optional<zt_trace_context>> contexts;
};

ConnectionTable make_table(Collected& out, ConnectionTable::Options options = {}) {
  return ConnectionTable(
      options,
      [&out](const ConnectionView& view, Protocols::ExchangeRef exchange,
             const zt_trace_context* context) {
        out.exchanges.emplace_back(view, std::move(*std::get<http1::Exchange*>(exchange)));
        out.contexts.push_back(context ? std::optional(*context) : std::nullopt);
        return true;
      },
      nullptr);
}

const std::string kRequest = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string kResponseHead = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";

}  // namespace

TEST_CASE("conntrack: a server exchange carries the connection's endpoints and role",
          "[conntrack]") {
  Collected out;
  auto table = make_table(out);
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, kRequest, kRequest.size(), 100));
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, 0, kResponseHead + "0123456789",
                      kResponseHead.size() + 10, 200));
  REQUIRE(out.exchanges.size() == 1);
  const auto& [view, exchange] = out.exchanges[0];
  CHECK(view.role == Role::kServer);
  CHECK(view.local.address == "127.0.0.1");
  CHECK(view.local.port == 8080);
  CHECK(view.remote.address == "127.0.0.2");
  CHECK(view.remote.port == 51000);
  CHECK(exchange.request.target == "/a");
  REQUIRE(exchange.response);
  CHECK(exchange.response->status_code == 200);
  CHECK(exchange.request.start_ns == 100);
  CHECK(exchange.response->end_ns == 200);
}

TEST_CASE("conntrack: uncaptured bytes of a call (sendfile) are skipped exactly", "[conntrack]") {
  Collected out;
  auto table = make_table(out);
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, kRequest + kRequest,
                      2 * kRequest.size(), 100));
  const uint64_t head = kResponseHead.size();
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, 0, kResponseHead, head, 200));
  // The body goes out by sendfile: a call with a length and no bytes.
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, head, "", 10, 210));
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, head + 10, kResponseHead, head, 300));
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, 2 * head + 10, "", 10, 310));
  REQUIRE(out.exchanges.size() == 2);
  CHECK(out.exchanges[0].second.response->end_ns == 210);
  CHECK(out.exchanges[1].second.response->end_ns == 310);
  CHECK(table.stats().lost_bytes == 0);
}

TEST_CASE("conntrack: pieces lost before userspace become a counted gap, not a desync",
          "[conntrack]") {
  Collected out;
  auto table = make_table(out);
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, kRequest, kRequest.size(), 100));
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, 0, kResponseHead, kResponseHead.size(), 200));
  // The 10-byte body piece was lost in the ring buffer; the next response follows it.
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, kRequest.size(), kRequest,
                      kRequest.size(), 300));
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, kResponseHead.size() + 10,
                      kResponseHead + "0123456789", kResponseHead.size() + 10, 400));
  CHECK(table.stats().lost_bytes == 10);
  REQUIRE(out.exchanges.size() == 2);
  CHECK(out.exchanges[1].second.response->status_code == 200);
  CHECK(out.exchanges[1].second.response->end_ns == 400);
}

TEST_CASE("conntrack: a piece behind the stream position is ignored and counted", "[conntrack]") {
  Collected out;
  auto table = make_table(out);
  auto request = piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, kRequest, kRequest.size(), 100);
  table.on_data(request);
  table.on_data(request);  // replayed
  CHECK(table.stats().out_of_order_pieces == 1);
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, 0, kResponseHead + "0123456789",
                      kResponseHead.size() + 10, 200));
  CHECK(out.exchanges.size() == 1);
}

TEST_CASE("conntrack: fd reuse (new generation) never merges connections", "[conntrack]") {
  Collected out;
  auto table = make_table(out);
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, kRequest, kRequest.size(), 100, 1));
  // Same pid and fd, new generation: the response belongs to another connection.
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, 0, kResponseHead + "0123456789",
                      kResponseHead.size() + 10, 200, 2));
  CHECK(out.exchanges.empty());
  CHECK(table.stats().connections_active == 2);
  // Counted while the connection is open (a long-lived one shows its losses), and once.
  CHECK(table.stats().of<http1::Protocol>().orphan_responses == 1);
  table.on_process_exit(kPid, 300);
  CHECK(table.stats().connections_active == 0);
  CHECK(table.stats().of<http1::Protocol>().orphan_responses == 1);
  // The request that never got an answer is reported without a response.
  REQUIRE(out.exchanges.size() == 1);
  CHECK_FALSE(out.exchanges[0].second.response.has_value());
}

TEST_CASE("conntrack: the table stays within its bound, evicting the least recently active",
          "[conntrack]") {
  Collected out;
  auto table = make_table(out, {.max_connections = 2});
  for (uint64_t generation = 1; generation <= 5; ++generation) {
    table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, kRequest, kRequest.size(),
                        100 * generation, generation));
  }
  CHECK(table.stats().connections_active == 2);
  CHECK(table.stats().connections_evicted == 3);
}

TEST_CASE("conntrack: binary junk disables the connection and is counted once", "[conntrack]") {
  Collected out;
  auto table = make_table(out);
  std::string junk = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http";
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, junk, junk.size(), 100));
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, junk.size(), kRequest, kRequest.size(), 200));
  CHECK(out.exchanges.empty());
  CHECK(table.stats().of<http1::Protocol>().failed_connections == 1);
}

TEST_CASE("conntrack: idle connections expire", "[conntrack]") {
  Collected out;
  auto table = make_table(out, {.idle_timeout_ns = 1000});
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, kRequest, kRequest.size(), 100));
  table.expire_idle(500);
  CHECK(table.stats().connections_active == 1);
  table.expire_idle(2000);
  CHECK(table.stats().connections_active == 0);
}

TEST_CASE("conntrack: each exchange gets the kernel context of the syscall that started it",
          "[conntrack]") {
  Collected out;
  auto table = make_table(out);
  auto first = piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, kRequest, kRequest.size(), 100);
  first.trace.origin = ZT_CTX_SERVER_HEADER;
  first.trace.span_id[0] = 0xaa;
  table.on_data(first);
  // Two requests pipelined in one syscall: the kernel saw one request start.
  auto pipelined = piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, kRequest.size(), kRequest + kRequest,
                         2 * kRequest.size(), 200);
  pipelined.trace.origin = ZT_CTX_SERVER_NEW;
  pipelined.trace.span_id[0] = 0xbb;
  table.on_data(pipelined);
  const std::string response = kResponseHead + "0123456789";
  for (int i = 0; i < 3; ++i) {
    table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, i * response.size(), response,
                        response.size(), 300 + i));
  }
  REQUIRE(out.contexts.size() == 3);
  REQUIRE(out.contexts[0]);
  CHECK(out.contexts[0]->span_id[0] == 0xaa);
  CHECK(out.contexts[0]->origin == ZT_CTX_SERVER_HEADER);
  REQUIRE(out.contexts[1]);
  CHECK(out.contexts[1]->span_id[0] == 0xbb);
  CHECK_FALSE(out.contexts[2]);  // second pipelined request: no context of its own
}

}  // namespace ztrace::conntrack

namespace ztrace::conntrack {
namespace {

// HTTP/2 bytes: a frame and literal header fields (RFC 9113 §4.1, RFC 7541 §6.2.2).
std::string h2_frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f = {static_cast<char>(payload.size() >> 16),
                   static_cast<char>(payload.size() >> 8),
                   static_cast<char>(payload.size()),
                   static_cast<char>(type),
                   static_cast<char>(flags),
                   static_cast<char>(stream >> 24),
                   static_cast<char>(stream >> 16),
                   static_cast<char>(stream >> 8),
                   static_cast<char>(stream)};
  return f + payload;
}
std::string h2_literal(const std::string& name, const std::string& value) {
  return std::string(1, '\0') + static_cast<char>(name.size()) + name +
         static_cast<char>(value.size()) + value;
}

struct Collected2 {
  std::vector<std::pair<ConnectionView, http2::Exchange>> exchanges;
  size_t http1_exchanges = 0;
};

ConnectionTable make_table2(Collected2& out) {
  return ConnectionTable(
      {},
      [&out](const ConnectionView& view, Protocols::ExchangeRef exchange, const zt_trace_context*) {
        if (auto* h2 = std::get_if<http2::Exchange*>(&exchange)) {
          out.exchanges.emplace_back(view, std::move(**h2));
        } else {
          ++out.http1_exchanges;
        }
        return true;
      },
      nullptr);
}

const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const std::string kH2Request =
    h2_frame(1, 0x5, 1, "\x83\x86" + h2_literal(":path", "/pkg.Svc/Get"));
const std::string kH2Response = h2_frame(1, 0x5, 1, "\x88" + h2_literal("grpc-status", "0"));

}  // namespace

TEST_CASE("conntrack: the client preface selects HTTP/2 on a server", "[conntrack][http2]") {
  Collected2 out;
  auto table = make_table2(out);
  const std::string in = kPreface + kH2Request;
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, in, in.size(), 100));
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, 0, kH2Response, kH2Response.size(), 200));
  REQUIRE(out.exchanges.size() == 1);
  CHECK(out.http1_exchanges == 0);
  CHECK(out.exchanges[0].first.role == Role::kServer);
  CHECK(*out.exchanges[0].second.request.headers.find(":path") == "/pkg.Svc/Get");
  CHECK(table.stats().of<http2::Protocol>().connections == 1);
  CHECK(table.stats().of<http2::Protocol>().failed_connections == 0);
}

TEST_CASE("conntrack: server SETTINGS before the preface also selects HTTP/2",
          "[conntrack][http2]") {
  Collected2 out;
  auto table = make_table2(out);
  const std::string settings = h2_frame(4, 0, 0, "");
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, 0, settings, settings.size(), 50));
  const std::string in = kPreface + kH2Request;
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, in, in.size(), 100));
  table.on_data(
      piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, settings.size(), kH2Response, kH2Response.size(), 200));
  REQUIRE(out.exchanges.size() == 1);
  CHECK(table.stats().of<http2::Protocol>().connections == 1);
}

TEST_CASE("conntrack: a connection joined mid-way is recognised from its frames",
          "[conntrack][http2]") {
  Collected2 out;
  auto table = make_table2(out);
  // Role unknown: the kernel first saw the socket at a read.
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_UNKNOWN, 0, kH2Request, kH2Request.size(), 100));
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_UNKNOWN, 0, kH2Response, kH2Response.size(), 200));
  REQUIRE(out.exchanges.size() == 1);
  CHECK(out.exchanges[0].first.role == Role::kServer);  // inferred from the request block
  CHECK(table.stats().of<http2::Protocol>().connections == 1);
}

TEST_CASE("conntrack: HTTP/1 stays HTTP/1", "[conntrack][http2]") {
  Collected2 out;
  auto table = make_table2(out);
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, kRequest, kRequest.size(), 100));
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, 0, kResponseHead + "0123456789",
                      kResponseHead.size() + 10, 200));
  CHECK(out.http1_exchanges == 1);
  CHECK(out.exchanges.empty());
  CHECK(table.stats().of<http2::Protocol>().connections == 0);
}

}  // namespace ztrace::conntrack

namespace ztrace::conntrack {

TEST_CASE("conntrack: an HTTP/2 stream takes the kernel context sent for it",
          "[conntrack][http2]") {
  std::vector<std::optional<zt_trace_context>> contexts;
  ConnectionTable table(
      {},
      [&](const protocols::ConnectionView&, Protocols::ExchangeRef,
          const zt_trace_context* context) {
        contexts.push_back(context ? std::optional(*context) : std::nullopt);
        return true;
      },
      nullptr);
  zt_h2_stream_event stream{};
  stream.type = ZT_EVENT_H2_STREAM_CONTEXT;
  stream.pid = kPid;
  stream.fd = kFd;
  stream.generation = 1;
  stream.stream_id = 1;
  stream.trace.origin = ZT_CTX_CLIENT_THREAD;
  stream.trace.span_id[0] = 0x5a;
  table.on_stream_context(stream);
  const std::string out = kPreface + kH2Request;
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_CLIENT, 0, out, out.size(), 100));
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_CLIENT, 0, kH2Response, kH2Response.size(), 200));
  REQUIRE(contexts.size() == 1);
  REQUIRE(contexts[0]);
  CHECK(contexts[0]->span_id[0] == 0x5a);
  CHECK(table.stats().stream_contexts == 1);
}

TEST_CASE("conntrack: exchanges the sink makes no span of are counted per protocol",
          "[conntrack]") {
  ConnectionTable table(
      {},
      [](const protocols::ConnectionView&, Protocols::ExchangeRef, const zt_trace_context*) {
        return false;
      },
      nullptr);
  table.on_data(piece(ZT_DIR_INGRESS, ZT_ROLE_SERVER, 0, kRequest, kRequest.size(), 100));
  table.on_data(piece(ZT_DIR_EGRESS, ZT_ROLE_SERVER, 0, kResponseHead + "0123456789",
                      kResponseHead.size() + 10, 200));
  CHECK(table.stats().of<http1::Protocol>().exchanges_without_span == 1);
  CHECK(table.stats().of<http1::Protocol>().connections == 1);
  CHECK(table.stats().of<http2::Protocol>().exchanges_without_span == 0);
}

}  // namespace ztrace::conntrack
