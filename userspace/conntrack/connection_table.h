#pragma once

// Connections of traced processes, keyed by (pid, fd, generation). Each direction's pieces
// are put back in stream order and fed to the protocol parser; pieces lost between kernel and
// userspace are detected from stream offsets and fed as gaps, never silently skipped.

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "bpf/socket_trace.h"
#include "userspace/common/connection_types.h"
#include "userspace/conntrack/endpoint.h"
#include "userspace/conntrack/protocols.h"
#include "userspace/protocols/connection_view.h"
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

struct ConnectionTableStats {
  uint64_t connections_opened = 0;
  uint64_t connections_closed = 0;
  uint64_t connections_evicted = 0;  // table full or idle too long
  uint64_t connections_active = 0;
  uint64_t lost_bytes = 0;           // pieces lost before userspace: fed as gaps
  uint64_t out_of_order_pieces = 0;  // behind the stream position: ignored
  uint64_t stream_contexts = 0;      // kernel contexts of HTTP/2 streams (injected, Go gRPC)
  uint64_t stream_contexts_evicted = 0;  // never claimed by an exchange (bound reached)
  Protocols::Counters protocols;

  template <typename Protocol>
  const typename Protocol::Counters& of() const {
    return std::get<typename Protocol::Counters>(protocols);
  }
  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit("opened", connections_opened);
    visit("closed", connections_closed);
    visit("active", connections_active);
    visit("evicted", connections_evicted);
    visit("lost_bytes", lost_bytes);
    visit("out_of_order", out_of_order_pieces);
    visit("stream_contexts", stream_contexts);
    visit("stream_contexts_evicted", stream_contexts_evicted);
  }
};

class ConnectionTable {
 public:
  // An exchange of any protocol. `context`: the kernel's trace context of its request (nullptr
  // when none was captured, e.g. the second of two requests pipelined in one syscall).
  // Returns false when the exchange made no span (counted as the protocol's
  // exchanges_without_span).
  using ExchangeSink =
      std::function<bool(const protocols::ConnectionView&, Protocols::ExchangeRef exchange,
                         const zt_trace_context* context)>;
  using ResourceResolver = std::function<std::shared_ptr<const spans::Resource>(uint32_t pid)>;
  // A served request's traceparent and tracestate, as soon as its head is parsed (before the
  // calls it causes complete). `kernel_context`: what the kernel made of the request (nullptr:
  // none).
  using ServerHeadSink =
      std::function<void(uint32_t pid, const zt_trace_context* kernel_context,
                         const std::string& traceparent, const std::string& tracestate)>;

  struct Options {
    size_t max_connections = 16384;
    uint64_t idle_timeout_ns = 300ull * 1000 * 1000 * 1000;
  };

  ConnectionTable(Options options, ExchangeSink sink, ResourceResolver resolve_resource,
                  ServerHeadSink on_server_head = nullptr);
  ~ConnectionTable();

  void on_data(const zt_data_event& event);
  void on_open(const zt_conn_event& event);
  void on_close(const zt_conn_event& event);
  // The kernel's context of an HTTP/2 stream, sent before the stream's bytes.
  void on_stream_context(const zt_h2_stream_event& event);
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
  void choose_protocol(Connection& conn, std::string_view first_bytes);
  void drain(Connection& conn);
  template <typename Protocol>
  void drain(Connection& conn, typename Protocol::Parser& parser);
  std::optional<zt_trace_context> take_kernel_context(Connection& conn,
                                                      protocols::KernelContextKey key);
  std::optional<zt_trace_context> take_stream_context(const ConnectionKey& key, uint32_t stream_id);
  const zt_trace_context* find_kernel_context(const Connection& conn,
                                              protocols::KernelContextKey key) const;
  template <typename Protocol>
  typename Protocol::Counters& counters() {
    return std::get<typename Protocol::Counters>(stats_.protocols);
  }
  void touch(Connection& conn, uint64_t timestamp_ns);
  // Adds what an open connection's parser counted so far (Protocol::count_closed), so that a
  // long-lived connection's losses show before it closes.
  static void add_parser_counts(const Connection& conn, Protocols::Counters& counters);

  const Options options_;
  ExchangeSink sink_;
  ResourceResolver resolve_resource_;
  ServerHeadSink on_server_head_;
  std::unordered_map<ConnectionKey, std::unique_ptr<Connection>, ConnectionKeyHash> connections_;
  Lru lru_;
  ConnectionTableStats stats_;

  // Contexts the kernel made for HTTP/2 streams, until the stream's exchange takes its own
  // (the event comes before the stream's bytes). Bounded, oldest dropped.
  struct StreamKey {
    ConnectionKey connection;
    uint32_t stream_id = 0;
    bool operator==(const StreamKey&) const = default;
  };
  struct StreamKeyHash {
    size_t operator()(const StreamKey& k) const {
      return ConnectionKeyHash()(k.connection) ^ (uint64_t{k.stream_id} << 17);
    }
  };
  static constexpr size_t kMaxStreamContexts = 16384;
  std::unordered_map<StreamKey, zt_trace_context, StreamKeyHash> stream_contexts_;
  std::deque<StreamKey> stream_context_order_;
};

}  // namespace ztrace::conntrack
