#pragma once

// Connections of traced processes, keyed by (pid, fd, generation). Each direction's pieces
// are put back in stream order and fed to the protocol parser; pieces lost between kernel and
// userspace are detected from stream offsets and fed as gaps, never silently skipped.

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpf/socket_trace.h"
#include "userspace/common/connection_types.h"
#include "userspace/conntrack/endpoint.h"
#include "userspace/conntrack/protocols.h"
#include "userspace/protocols/http1/connection_parser.h"
#include "userspace/protocols/http2/connection_parser.h"
#include "userspace/spans/span.h"

namespace ztrace::conntrack {

struct ConnectionKey {
  uint32_t pid = 0;
  int32_t fd = 0;
  uint64_t generation = 0;
  bool operator==(const ConnectionKey&) const = default;
};

struct ConnectionKeyHash {
  size_t operator()(const ConnectionKey& k) const {
    return std::hash<uint64_t>()((uint64_t{k.pid} << 32 | static_cast<uint32_t>(k.fd)) ^
                                 (k.generation * 0x9e3779b97f4a7c15ull));
  }
};

// What span builders need to know about the connection an exchange travelled on.
struct ConnectionView {
  uint32_t pid = 0;
  int32_t fd = 0;
  uint64_t generation = 0;  // with pid and fd: which connection (as the kernel names it)
  uint32_t last_tid = 0;    // thread of the latest syscall seen on the connection
  Role role = Role::kUnknown;
  Endpoint local;
  Endpoint remote;
  bool tls = false;  // plaintext of a TLS session (captured by the Go probes), not the socket
  // Resolved when the connection is first seen, while the process surely still exists
  // (a short-lived client may be gone by the time its last response is parsed).
  std::shared_ptr<const spans::Resource> resource;
};

struct ConnectionTableStats {
  uint64_t connections_opened = 0;
  uint64_t connections_closed = 0;
  uint64_t connections_evicted = 0;  // table full or idle too long
  uint64_t connections_active = 0;
  uint64_t lost_bytes = 0;           // pieces lost before userspace: fed as gaps
  uint64_t out_of_order_pieces = 0;  // behind the stream position: ignored
  uint64_t non_http_connections = 0;
  uint64_t orphan_responses = 0;
  uint64_t truncated_messages = 0;
  uint64_t lost_sync_messages = 0;  // framing lost in a gap: skipped until a message start
  uint64_t dropped_exchanges = 0;   // parser bounds (pending requests) exceeded
  uint64_t junk_skips = 0;          // non-HTTP bytes skipped on an HTTP/1 connection
  uint64_t http2_connections = 0;
  uint64_t http2_lost_sync = 0;        // HTTP/2 framing lost to uncaptured bytes
  uint64_t http2_orphan_streams = 0;   // streams whose request was not seen (joined mid-way)
  uint64_t http2_dropped_streams = 0;  // parser bounds exceeded, or direction never known
};

class ConnectionTable {
 public:
  // `context`: the kernel's trace context of the request (nullptr when none was captured,
  // e.g. the second of two requests pipelined in one syscall).
  using ExchangeSink = std::function<void(const ConnectionView&, http1::Exchange&&,
                                          const zt_trace_context* context)>;
  // One HTTP/2 stream's exchange (the kernel makes no trace context for HTTP/2).
  using Http2ExchangeSink = std::function<void(const ConnectionView&, http2::Exchange&&)>;
  using ResourceResolver = std::function<std::shared_ptr<const spans::Resource>(uint32_t pid)>;
  // A served request's traceparent, as soon as its head is parsed (before the calls it
  // causes complete). `kernel_context`: what the kernel made of the request (nullptr: none).
  using ServerHeadSink = std::function<void(uint32_t pid, const zt_trace_context* kernel_context,
                                            const std::string& traceparent)>;

  struct Options {
    size_t max_connections = 16384;
    uint64_t idle_timeout_ns = 300ull * 1000 * 1000 * 1000;
  };

  ConnectionTable(Options options, ExchangeSink sink, ResourceResolver resolve_resource,
                  ServerHeadSink on_server_head = nullptr, Http2ExchangeSink http2_sink = nullptr);
  ~ConnectionTable();

  void on_data(const zt_data_event& event);
  void on_open(const zt_conn_event& event);
  void on_close(const zt_conn_event& event);
  // close_range(2): the process's connections on fds first_fd..last_fd end.
  void on_fds_closed(const zt_fds_closed_event& event);
  // Ends the process's connections; returns their fds (what the kernel cached about them).
  std::vector<int32_t> on_process_exit(uint32_t pid, uint64_t timestamp_ns);
  // Closes connections without activity since `now_ns - idle_timeout_ns`.
  void expire_idle(uint64_t now_ns);

  ConnectionTableStats stats() const;

 private:
  struct Connection;
  using Lru = std::list<ConnectionKey>;  // front: most recently active

  Connection* find_or_create(const ConnectionKey& key, Role role, const zt_tuple& tuple,
                             uint64_t timestamp_ns);
  void close(std::unordered_map<ConnectionKey, std::unique_ptr<Connection>,
                                ConnectionKeyHash>::iterator it,
             uint64_t timestamp_ns);
  void drain(Connection& conn);
  void drain_http1(Connection& conn, http1::ConnectionParser& parser);
  void drain_http2(Connection& conn, http2::ConnectionParser& parser);
  void touch(Connection& conn, uint64_t timestamp_ns);
  // Adds what the connection's parser counted (closed connections: once, when they close).
  static void add_parser_stats(const Connection& conn, ConnectionTableStats& stats);

  const Options options_;
  ExchangeSink sink_;
  Http2ExchangeSink http2_sink_;
  ResourceResolver resolve_resource_;
  ServerHeadSink on_server_head_;
  std::unordered_map<ConnectionKey, std::unique_ptr<Connection>, ConnectionKeyHash> connections_;
  Lru lru_;
  ConnectionTableStats stats_;
};

}  // namespace ztrace::conntrack
