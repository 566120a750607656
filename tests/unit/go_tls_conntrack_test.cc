// TLS plaintext from the Go probes: the same socket's ciphertext (syscall layer) and plaintext
// (generation | ZT_GO_TLS_GENERATION_BIT) are two connections; the plaintext one parses as
// HTTP, is marked tls, and ends when the socket closes.
#include <arpa/inet.h>

#include <catch2/catch_test_macros.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "bpf/go_probes.h"
#include "userspace/conntrack/connection_table.h"

namespace ztrace::conntrack {
namespace {

constexpr uint32_t kPid = 777;
constexpr int32_t kFd = 9;
constexpr uint64_t kGeneration = 12345;

zt_data_event tls_piece(uint8_t direction, uint64_t stream_offset, const std::string& bytes,
                        uint64_t ts, uint64_t generation, uint8_t syscall) {
  zt_data_event e{};
  e.type = ZT_EVENT_DATA;
  e.direction = direction;
  e.role = ZT_ROLE_SERVER;
  e.syscall = syscall;
  e.pid = kPid;
  e.tid = kPid;
  e.fd = kFd;
  e.generation = generation;
  e.timestamp_ns = ts;
  e.stream_offset = stream_offset;
  e.call_bytes = bytes.size();
  e.flags = ZT_DATA_LAST_PIECE;
  e.captured_bytes = bytes.size();
  e.tuple.family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", e.tuple.local_addr);
  inet_pton(AF_INET, "127.0.0.1", e.tuple.remote_addr);
  e.tuple.local_port = 8443;
  e.tuple.remote_port = 50000;
  std::memcpy(e.data, bytes.data(), bytes.size());
  return e;
}

}  // namespace

TEST_CASE("Go TLS plaintext is its own connection, marked tls, closed with its socket",
          "[conntrack][go-probes]") {
  std::vector<std::pair<protocols::ConnectionView, http1::Exchange>> exchanges;
  ConnectionTable table(
      {},
      [&](const protocols::ConnectionView& view, Protocols::ExchangeRef exchange,
          const zt_trace_context*) {
        exchanges.emplace_back(view, std::move(*std::get<http1::Exchange*>(exchange)));
        return true;
      },
      nullptr);
  const uint64_t tls_generation = kGeneration | ZT_GO_TLS_GENERATION_BIT;
  // Ciphertext at the syscall layer: a TLS record, not HTTP.
  const std::string record("\x17\x03\x03\x00\x20 encrypted application data.....", 37);
  table.on_data(tls_piece(ZT_DIR_INGRESS, 0, record, 90, kGeneration, ZT_SYS_READ));
  const std::string request = "GET /secure HTTP/1.0\r\nHost: x\r\n\r\n";
  // HTTP/1.0 without Content-Length: the body ends when the connection does.
  const std::string response = "HTTP/1.0 200 OK\r\n\r\nhello";
  table.on_data(tls_piece(ZT_DIR_INGRESS, 0, request, 100, tls_generation, ZT_SYS_GO_TLS));
  table.on_data(tls_piece(ZT_DIR_EGRESS, 0, response, 200, tls_generation, ZT_SYS_GO_TLS));
  CHECK(exchanges.empty());
  CHECK(table.stats().connections_active == 2);
  zt_conn_event close{};
  close.type = ZT_EVENT_CONN_CLOSE;
  close.pid = kPid;
  close.fd = kFd;
  close.generation = kGeneration;
  close.timestamp_ns = 300;
  table.on_close(close);
  REQUIRE(exchanges.size() == 1);
  const auto& [view, exchange] = exchanges[0];
  CHECK(view.tls);
  CHECK(view.role == Role::kServer);
  CHECK(exchange.request.target == "/secure");
  REQUIRE(exchange.response);
  CHECK(exchange.response->status_code == 200);
  CHECK(table.stats().connections_active == 0);
  CHECK(table.stats().of<http1::Protocol>().failed_connections == 1);  // the ciphertext side
}

}  // namespace ztrace::conntrack
