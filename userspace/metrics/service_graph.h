#pragma once

// The service graph as Tempo's metrics generator names it (traces_service_graph_request_*,
// labels client, server, connection_type), from the spans this agent sees.
//
// An edge is one request from a client service to a server service:
// - both ends traced here: the CLIENT span is paired with the SERVER span whose parent it is
//   (trace id + span id), as Tempo pairs them;
// - a CLIENT span left unpaired after `wait`: by its peer address, to the service this agent
//   saw serving on that address, else to a virtual node named "address:port";
// - database and messaging calls (PostgreSQL, Kafka) at once, to the peer address
//   (connection_type "database", "messaging_system"): their servers make no spans here;
// - a SERVER span left unpaired (its client on another node, or untraced) is no edge here:
//   the client's node counts it. It is counted as unpaired.

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

#include "userspace/metrics/histogram.h"
#include "userspace/metrics/span_metrics.h"
#include "userspace/metrics/span_record.h"

namespace ztrace::metrics {

// Tempo's service graph default: prometheus.ExponentialBuckets(0.1, 2, 8), seconds
// (modules/generator/processor/servicegraphs/config.go).
inline constexpr std::array<double, 8> kServiceGraphBuckets = {0.1, 0.2, 0.4, 0.8,
                                                               1.6, 3.2, 6.4, 12.8};

struct EdgeSeries {
  std::string client, server,
      connection_type;    // "", "database", "messaging_system", "virtual_node"
  bool overflow = false;  // the edge of requests beyond the bound: no other label
  uint64_t requests = 0;
  uint64_t failed = 0;  // either end's span is an error
  Histogram server_seconds{kServiceGraphBuckets};
  Histogram client_seconds{kServiceGraphBuckets};
};

struct ServiceGraphStats {
  uint64_t paired = 0;           // client and server span linked by ids
  uint64_t by_peer_service = 0;  // unpaired client span, server found by its address
  uint64_t by_peer_address = 0;  // unpaired client span, server named by its address
  uint64_t server_unpaired = 0;  // server span whose client this agent never saw
  uint64_t dropped_pending = 0;  // more spans waiting than max_pending: not counted
  uint64_t overflowed = 0;       // requests of edges beyond max_series (in the overflow edge)

  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit("paired", paired);
    visit("by_peer_service", by_peer_service);
    visit("by_peer_address", by_peer_address);
    visit("server_unpaired", server_unpaired);
    visit("dropped_pending", dropped_pending);
  }
};

class ServiceGraph {
 public:
  struct Options {
    uint64_t wait_ns = 10'000'000'000;  // Tempo's default wait for the other end
    size_t max_pending = 10'000;        // Tempo's default max_items
    size_t max_series = kDefaultMaxSeries;
  };
  explicit ServiceGraph(Options options);

  // CLIENT, SERVER and PRODUCER spans make edges; the others are ignored.
  void record(const SpanRecord& span, uint64_t now_ns);
  // Spans that waited `wait` for their other end are settled.
  void expire(uint64_t now_ns);

  template <typename Visit>  // visit(const EdgeSeries&)
  void for_each(Visit&& visit) const {
    for (const auto& [key, edge] : edges_) visit(edge);
  }
  const EdgeSeries& overflow() const { return overflow_; }
  const ServiceGraphStats& stats() const { return stats_; }
  size_t pending() const { return pending_.size(); }

 private:
  struct Key {
    spans::TraceId trace_id;
    spans::SpanId span_id;  // the client's span: the server's parent
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& key) const {
      size_t h;  // span ids are random
      std::memcpy(&h, key.span_id.data(), sizeof(h));
      return h;
    }
  };
  struct Pending {
    std::string client, server, peer;  // peer: "address:port" of the client's connection
    double client_seconds = 0, server_seconds = 0;
    bool has_client = false, has_server = false, failed = false;
    uint64_t expires_ns = 0;
  };

  void count(std::string_view client, std::string_view server, std::string_view connection_type,
             double client_seconds, double server_seconds, bool failed);
  void settle_unpaired(const Pending& pending);
  void remember_server(const SpanRecord& span);

  Options options_;
  std::unordered_map<std::string, EdgeSeries, StringHash, std::equal_to<>> edges_;
  EdgeSeries overflow_;
  std::unordered_map<Key, Pending, KeyHash> pending_;
  std::deque<std::pair<uint64_t, Key>> expiry_;  // by time: the wait is the same for all
  // "address:port" → the service seen serving there (bounded: the oldest is forgotten).
  static constexpr size_t kMaxServerAddresses = 4096;
  std::unordered_map<std::string, std::string, StringHash, std::equal_to<>> servers_;
  std::deque<std::string> server_order_;
  uint16_t last_server_port_ = 0;
  std::string last_server_address_, last_server_service_;
  ServiceGraphStats stats_;
  std::string key_;  // scratch
};

}  // namespace ztrace::metrics
