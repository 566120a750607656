#include "userspace/conntrack/connection_table.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "bpf/go_probes.h"

namespace ztrace::conntrack {

struct ConnectionTable::Connection {
  ConnectionKey key;
  protocols::ConnectionView view;
  Role kernel_role = Role::kUnknown;  // as the kernel saw the socket start
  Protocols::Parser parser;           // chosen at the first captured bytes
  uint64_t next_offset[2] = {0, 0};   // expected stream position per direction
  bool seen_data[2] = {false, false};
  // Trace contexts of request heads, by the timestamp of the syscall that started them, per
  // direction, until their exchange completes (bounded: requests in flight on one connection).
  std::deque<std::pair<uint64_t, zt_trace_context>> contexts[2];
  uint64_t last_call_ns[2] = {0, 0};  // timestamp of the latest syscall seen per direction
  bool joined_midstream = false;
  bool failure_counted = false;
  uint64_t last_activity_ns = 0;
  Lru::iterator lru_position;
};

ConnectionTable::ConnectionTable(Options options, ExchangeSink sink,
                                 ResourceResolver resolve_resource, ServerHeadSink on_server_head)
    : options_(options),
      sink_(std::move(sink)),
      resolve_resource_(std::move(resolve_resource)),
      on_server_head_(std::move(on_server_head)) {}

ConnectionTable::~ConnectionTable() = default;

ConnectionTable::Connection* ConnectionTable::find_or_create(const ConnectionKey& key, Role role,
                                                             const zt_tuple& tuple,
                                                             uint64_t timestamp_ns) {
  auto it = connections_.find(key);
  if (it != connections_.end()) return it->second.get();

  while (connections_.size() >= options_.max_connections && !lru_.empty()) {
    auto victim = connections_.find(lru_.back());
    ++stats_.connections_evicted;
    close(victim, timestamp_ns);
  }
  // A socket the kernel first saw at a read or write (not at connect/accept) was open
  // before the agent started: its streams may begin mid-message.
  bool joined_midstream = role == Role::kUnknown;
  auto conn = std::make_unique<Connection>();
  conn->key = key;
  conn->kernel_role = role;
  conn->joined_midstream = joined_midstream;
  conn->view.pid = key.pid;
  conn->view.fd = key.fd;
  conn->view.generation = key.generation;
  conn->view.role = role;
  conn->view.local = local_endpoint(tuple);
  conn->view.remote = remote_endpoint(tuple);
  conn->view.tls = (key.generation & ZT_GO_TLS_GENERATION_BIT) != 0;
  if (resolve_resource_) conn->view.resource = resolve_resource_(key.pid);
  conn->last_activity_ns = timestamp_ns;
  lru_.push_front(key);
  conn->lru_position = lru_.begin();
  ++stats_.connections_opened;
  return connections_.emplace(key, std::move(conn)).first->second.get();
}

void ConnectionTable::touch(Connection& conn, uint64_t timestamp_ns) {
  conn.last_activity_ns = timestamp_ns;
  lru_.splice(lru_.begin(), lru_, conn.lru_position);
}

namespace {

constexpr size_t kMaxContextsPerDirection = 64;

// The context of the request that started at `start_ns`, if one was captured; older ones
// (requests that never completed) are dropped on the way.
std::optional<zt_trace_context> take_context(
    std::deque<std::pair<uint64_t, zt_trace_context>>& contexts, uint64_t start_ns) {
  while (!contexts.empty() && contexts.front().first < start_ns) contexts.pop_front();
  if (contexts.empty() || contexts.front().first != start_ns) return std::nullopt;
  zt_trace_context context = contexts.front().second;
  contexts.pop_front();
  return context;
}

}  // namespace

std::optional<zt_trace_context> ConnectionTable::take_kernel_context(
    Connection& conn, protocols::KernelContextKey key) {
  switch (key.kind) {
    case protocols::KernelContextKey::Kind::kRequestStart: {
      // Requests travel ingress on servers, egress on clients.
      const int request_dir = conn.view.role == Role::kServer ? 1 : 0;
      return take_context(conn.contexts[request_dir], key.value);
    }
    case protocols::KernelContextKey::Kind::kResponseStart: {
      const int response_dir = conn.view.role == Role::kServer ? 0 : 1;
      return take_context(conn.contexts[response_dir], key.value);
    }
    case protocols::KernelContextKey::Kind::kStream:
      return take_stream_context(conn.key, static_cast<uint32_t>(key.value));
    case protocols::KernelContextKey::Kind::kNone:
      break;
  }
  return std::nullopt;
}

std::optional<zt_trace_context> ConnectionTable::take_stream_context(const ConnectionKey& key,
                                                                     uint32_t stream_id) {
  if (stream_contexts_.empty()) return std::nullopt;
  auto it = stream_contexts_.find({key, stream_id});
  if (it == stream_contexts_.end()) return std::nullopt;
  const zt_trace_context context = it->second;
  stream_contexts_.erase(it);
  return context;
}

const zt_trace_context* ConnectionTable::find_kernel_context(
    const Connection& conn, protocols::KernelContextKey key) const {
  if (key.kind != protocols::KernelContextKey::Kind::kRequestStart) return nullptr;
  const zt_trace_context* found = nullptr;
  for (const auto& [start_ns, context] : conn.contexts[1]) {  // served requests: ingress
    if (start_ns == key.value) found = &context;
  }
  return found;
}

void ConnectionTable::drain(Connection& conn) {
  std::visit(
      [&]<typename Parser>(Parser& parser) {
        if constexpr (!std::is_same_v<Parser, std::monostate>) {
          drain<Protocols::ProtocolOfParser<Parser>>(conn, parser);
        }
      },
      conn.parser);
}

template <typename Protocol>
void ConnectionTable::drain(Connection& conn, typename Protocol::Parser& parser) {
  for (auto& head : parser.take_request_head_contexts()) {
    if (!on_server_head_ || parser.role() != Role::kServer) continue;
    on_server_head_(conn.key.pid, find_kernel_context(conn, Protocol::kernel_context_key(head)),
                    head.traceparent, head.tracestate);
  }
  for (auto& exchange : parser.take_exchanges()) {
    if (parser.role() != Role::kUnknown) conn.view.role = parser.role();
    const auto context = take_kernel_context(conn, Protocol::kernel_context_key(exchange));
    if (sink_ && !sink_(conn.view, &exchange, context ? &*context : nullptr)) {
      ++counters<Protocol>().exchanges_without_span;
    }
  }
  if (parser.failed() && !conn.failure_counted) {
    conn.failure_counted = true;
    ++counters<Protocol>().failed_connections;
  }
}

void ConnectionTable::on_stream_context(const zt_h2_stream_event& event) {
  const StreamKey key{{event.pid, event.fd, event.generation}, event.stream_id};
  // A write retried after EAGAIN is walked again: the latest context is the one injected.
  stream_contexts_[key] = event.trace;
  stream_context_order_.push_back(key);
  ++stats_.stream_contexts;
  while (stream_context_order_.size() > kMaxStreamContexts) {
    stats_.stream_contexts_evicted += stream_contexts_.erase(stream_context_order_.front());
    stream_context_order_.pop_front();
  }
}

void ConnectionTable::choose_protocol(Connection& conn, std::string_view first_bytes) {
  Protocols::detect(first_bytes, conn.kernel_role, conn.joined_midstream, conn.parser);
  std::visit(
      [&]<typename Parser>(Parser&) {
        if constexpr (!std::is_same_v<Parser, std::monostate>) {
          ++counters<Protocols::ProtocolOfParser<Parser>>().connections;
        }
      },
      conn.parser);
}

void ConnectionTable::on_open(const zt_conn_event& event) {
  ConnectionKey key{event.pid, event.fd, event.generation};
  Connection* conn =
      find_or_create(key, static_cast<Role>(event.role), event.tuple, event.timestamp_ns);
  touch(*conn, event.timestamp_ns);
}

void ConnectionTable::on_data(const zt_data_event& event) {
  ConnectionKey key{event.pid, event.fd, event.generation};
  Connection* conn =
      find_or_create(key, static_cast<Role>(event.role), event.tuple, event.timestamp_ns);
  touch(*conn, event.timestamp_ns);
  conn->view.last_tid = event.tid;

  const int dir = event.direction == ZT_DIR_INGRESS ? 1 : 0;
  const Direction direction = dir ? Direction::kIngress : Direction::kEgress;
  const uint64_t piece_offset = event.stream_offset + event.call_offset;
  uint64_t& expected = conn->next_offset[dir];
  if (!conn->seen_data[dir]) {
    // The kernel counts stream bytes from when it first saw the socket.
    conn->seen_data[dir] = true;
    expected = piece_offset;
  }
  if (piece_offset < expected) {
    ++stats_.out_of_order_pieces;
    return;
  }
  const uint32_t captured = std::min<uint32_t>(event.captured_bytes, ZT_PIECE_BYTES);
  const std::string_view bytes(reinterpret_cast<const char*>(event.data), captured);
  if (std::holds_alternative<std::monostate>(conn->parser)) {
    // A piece that does not start its syscall tells nothing about the protocol.
    choose_protocol(*conn, event.call_offset == 0 ? bytes : std::string_view());
  }
  const auto feed = [&](std::string_view data, uint64_t gap_after, bool syscall_start) {
    std::visit(
        [&](auto& parser) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(parser)>, std::monostate>) {
            parser.on_data(direction, data, gap_after, event.timestamp_ns, syscall_start);
          }
        },
        conn->parser);
  };
  if (piece_offset > expected) {
    // Pieces were lost (ring buffer full): their length is known, their bytes are not.
    const uint64_t lost = piece_offset - expected;
    stats_.lost_bytes += lost;
    feed({}, lost, false);
  }

  if (event.trace.origin != ZT_CTX_NONE) {
    auto& contexts = conn->contexts[dir];
    if (contexts.size() >= kMaxContextsPerDirection) contexts.pop_front();
    const bool began_before = event.trace.flags & ZT_CTX_FLAG_BEGAN_IN_PREVIOUS_CALL;
    contexts.emplace_back(began_before ? conn->last_call_ns[dir] : event.timestamp_ns, event.trace);
  }
  if (event.call_offset == 0) conn->last_call_ns[dir] = event.timestamp_ns;
  uint64_t gap_after = 0;
  if (event.flags & ZT_DATA_LAST_PIECE) {
    const uint64_t captured_end = uint64_t{event.call_offset} + captured;
    gap_after = event.call_bytes > captured_end ? event.call_bytes - captured_end : 0;
  }
  feed(bytes, gap_after, event.call_offset == 0);
  expected = piece_offset + captured + gap_after;
  drain(*conn);
}

void ConnectionTable::close(
    std::unordered_map<ConnectionKey, std::unique_ptr<Connection>, ConnectionKeyHash>::iterator it,
    uint64_t timestamp_ns) {
  Connection& conn = *it->second;
  std::visit(
      [&]<typename Parser>(Parser& parser) {
        if constexpr (!std::is_same_v<Parser, std::monostate>) {
          using Protocol = Protocols::ProtocolOfParser<Parser>;
          parser.on_close(timestamp_ns);
          drain<Protocol>(conn, parser);
          Protocol::count_closed(parser, counters<Protocol>());
        }
      },
      conn.parser);
  lru_.erase(conn.lru_position);
  connections_.erase(it);
}

void ConnectionTable::on_close(const zt_conn_event& event) {
  // The socket's TLS plaintext (Go probes) ends with it: a close-delimited response completes.
  for (uint64_t generation : {event.generation, event.generation | ZT_GO_TLS_GENERATION_BIT}) {
    auto it = connections_.find({event.pid, event.fd, generation});
    if (it == connections_.end()) continue;
    ++stats_.connections_closed;
    close(it, event.timestamp_ns);
  }
}

void ConnectionTable::on_fds_closed(const zt_fds_closed_event& event) {
  std::vector<ConnectionKey> doomed;
  for (const auto& [key, conn] : connections_) {
    const auto fd = static_cast<uint32_t>(key.fd);
    if (key.pid == event.pid && fd >= event.first_fd && fd <= event.last_fd) doomed.push_back(key);
  }
  for (const auto& key : doomed) {
    ++stats_.connections_closed;
    close(connections_.find(key), event.timestamp_ns);
  }
}

std::vector<int32_t> ConnectionTable::on_process_exit(uint32_t pid, uint64_t timestamp_ns) {
  std::vector<ConnectionKey> doomed;
  for (const auto& [key, conn] : connections_) {
    if (key.pid == pid) doomed.push_back(key);
  }
  std::vector<int32_t> fds;
  for (const auto& key : doomed) {
    ++stats_.connections_closed;
    close(connections_.find(key), timestamp_ns);
    fds.push_back(key.fd);
  }
  return fds;
}

void ConnectionTable::expire_idle(uint64_t now_ns) {
  while (!lru_.empty()) {
    auto it = connections_.find(lru_.back());
    if (now_ns - it->second->last_activity_ns < options_.idle_timeout_ns) break;
    ++stats_.connections_evicted;
    close(it, now_ns);
  }
}

void ConnectionTable::add_parser_counts(const Connection& conn, Protocols::Counters& counters) {
  std::visit(
      [&]<typename Parser>(const Parser& parser) {
        if constexpr (!std::is_same_v<Parser, std::monostate>) {
          using Protocol = Protocols::ProtocolOfParser<Parser>;
          Protocol::count_closed(parser, std::get<typename Protocol::Counters>(counters));
        }
      },
      conn.parser);
}

ConnectionTableStats ConnectionTable::stats() const {
  ConnectionTableStats s = stats_;
  s.connections_active = connections_.size();
  // Open connections count too: a long-lived connection's losses show before it closes.
  for (const auto& [key, conn] : connections_) add_parser_counts(*conn, s.protocols);
  return s;
}

}  // namespace ztrace::conntrack
