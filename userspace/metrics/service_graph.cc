#include "userspace/metrics/service_graph.h"

#include <algorithm>

namespace ztrace::metrics {
namespace {

constexpr std::string_view kVirtualNode = "virtual_node";

std::string_view connection_type(PeerKind kind) {
  switch (kind) {
    case PeerKind::kDatabase:
      return "database";
    case PeerKind::kMessaging:
      return "messaging_system";
    case PeerKind::kService:
      return "";
  }
  return "";
}

void append_address(std::string& out, std::string_view address, uint16_t port) {
  if (address.find(':') != std::string_view::npos) {  // IPv6
    out.append(1, '[').append(address).append(1, ']');
  } else {
    out.append(address);
  }
  out.append(1, ':').append(std::to_string(port));
}

}  // namespace

ServiceGraph::ServiceGraph(Options options) : options_(options) {
  options_.max_series = std::max<size_t>(options_.max_series, 2);
  overflow_.overflow = true;
}

void ServiceGraph::count(std::string_view client, std::string_view server, std::string_view type,
                         double client_seconds, double server_seconds, bool failed) {
  key_.clear();
  key_.append(client).append(1, '\x1f').append(server).append(1, '\x1f').append(type);
  EdgeSeries* edge;
  if (auto it = edges_.find(std::string_view(key_)); it != edges_.end()) {
    edge = &it->second;
  } else if (edges_.size() + 1 < options_.max_series) {
    edge = &edges_[key_];
    edge->client = client;
    edge->server = server;
    edge->connection_type = type;
  } else {
    edge = &overflow_;
    ++stats_.overflowed;
  }
  ++edge->requests;
  if (failed) ++edge->failed;
  edge->client_seconds.observe(kServiceGraphBuckets, client_seconds);
  edge->server_seconds.observe(kServiceGraphBuckets, server_seconds);
}

void ServiceGraph::remember_server(const SpanRecord& span) {
  // The same server as the last (common): nothing to do.
  if (span.local_port == last_server_port_ && span.local_address == last_server_address_ &&
      span.service == last_server_service_) {
    return;
  }
  last_server_port_ = span.local_port;
  last_server_address_.assign(span.local_address);
  last_server_service_.assign(span.service);
  std::string address;
  append_address(address, span.local_address, span.local_port);
  auto it = servers_.find(std::string_view(address));
  if (it != servers_.end()) {
    if (it->second != span.service) it->second = span.service;
    return;
  }
  if (servers_.size() >= kMaxServerAddresses) {
    servers_.erase(server_order_.front());
    server_order_.pop_front();
  }
  servers_.emplace(address, span.service);
  server_order_.push_back(std::move(address));
}

void ServiceGraph::record(const SpanRecord& span, uint64_t now_ns) {
  const double seconds = span.duration_ns / 1e9;
  const bool failed = span.status == spans::StatusCode::kError;
  const bool client = span.kind == spans::SpanKind::kClient;
  const bool producer = span.kind == spans::SpanKind::kProducer;
  if (span.kind == spans::SpanKind::kServer) {
    if (!span.local_address.empty()) remember_server(span);
    if (spans::is_zero(span.parent_span_id)) {  // a root: its caller made no context
      ++stats_.server_unpaired;
      return;
    }
  } else if (!client && !producer) {
    return;
  }
  if ((client || producer) && span.peer_kind != PeerKind::kService) {
    // The database or the broker makes no span: the edge is complete now.
    std::string server;
    append_address(server, span.peer_address, span.peer_port);
    count(span.service, server, connection_type(span.peer_kind), seconds, seconds, failed);
    ++stats_.by_peer_address;
    return;
  }
  const Key key{span.trace_id, client ? span.span_id : span.parent_span_id};
  auto it = pending_.find(key);
  if (it == pending_.end()) {
    if (pending_.size() >= options_.max_pending) {
      ++stats_.dropped_pending;
      return;
    }
    it = pending_.emplace(key, Pending{}).first;
    it->second.expires_ns = now_ns + options_.wait_ns;
    expiry_.emplace_back(it->second.expires_ns, key);
  }
  Pending& pending = it->second;
  pending.failed = pending.failed || failed;
  if (client) {
    pending.has_client = true;
    pending.client = span.service;
    pending.client_seconds = seconds;
    append_address(pending.peer, span.peer_address, span.peer_port);
  } else {
    pending.has_server = true;
    pending.server = span.service;
    pending.server_seconds = seconds;
  }
  if (pending.has_client && pending.has_server) {
    count(pending.client, pending.server, "", pending.client_seconds, pending.server_seconds,
          pending.failed);
    ++stats_.paired;
    pending_.erase(it);
  }
}

void ServiceGraph::settle_unpaired(const Pending& pending) {
  if (!pending.has_client) {
    ++stats_.server_unpaired;
    return;
  }
  // No server span linked to it: the service seen serving on its peer address, else the
  // address itself. The server's time is not known: the client's stands for it.
  if (auto it = servers_.find(std::string_view(pending.peer)); it != servers_.end()) {
    count(pending.client, it->second, "", pending.client_seconds, pending.client_seconds,
          pending.failed);
    ++stats_.by_peer_service;
  } else {
    count(pending.client, pending.peer, kVirtualNode, pending.client_seconds,
          pending.client_seconds, pending.failed);
    ++stats_.by_peer_address;
  }
}

void ServiceGraph::expire(uint64_t now_ns) {
  while (!expiry_.empty() && expiry_.front().first <= now_ns) {
    const Key key = expiry_.front().second;
    const uint64_t expires_ns = expiry_.front().first;
    expiry_.pop_front();
    auto it = pending_.find(key);
    // Paired meanwhile (erased), or a newer entry under the same key.
    if (it == pending_.end() || it->second.expires_ns != expires_ns) continue;
    settle_unpaired(it->second);
    pending_.erase(it);
  }
}

}  // namespace ztrace::metrics
