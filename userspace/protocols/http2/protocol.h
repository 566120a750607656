#pragma once

// HTTP/2 (and gRPC over it) as the protocol contract (userspace/protocols/protocol.h) sees it.

#include <cstdint>
#include <string_view>

#include "userspace/protocols/http2/connection_parser.h"
#include "userspace/protocols/http2/frame.h"
#include "userspace/protocols/http2/span_builder.h"
#include "userspace/protocols/protocol.h"

namespace ztrace::http2 {

struct Counters {
  uint64_t connections = 0;
  uint64_t failed_connections = 0;      // the parser gave up: not HTTP/2, or a protocol error
  uint64_t lost_sync = 0;               // framing lost to uncaptured bytes
  uint64_t orphan_streams = 0;          // streams whose request was not seen (joined mid-way)
  uint64_t dropped_streams = 0;         // parser bounds exceeded, or direction never known
  uint64_t exchanges_without_span = 0;  // :path unknown (joined mid-way) or absent

  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit("connections", connections);
    visit("failed", failed_connections);
    visit("lost_sync", lost_sync);
    visit("orphan_streams", orphan_streams);
    visit("dropped_streams", dropped_streams);
    visit("no_path", exchanges_without_span);
  }
};

struct Protocol {
  static constexpr std::string_view kName = "http2";
  using Parser = ConnectionParser;
  using Exchange = http2::Exchange;
  using SpanBuilder = http2::SpanBuilder;
  using Counters = http2::Counters;

  // The client preface or, for connections joined mid-way and server SETTINGS sent before the
  // preface arrives, a run of plausible frame headers.
  static bool detect(std::string_view first_bytes, Role, bool /*joined_midstream*/) {
    return http2::detect(first_bytes) == ParseState::kSuccess;
  }
  // The kernel makes a context per client stream it injects into, and the Go gRPC probes one
  // per server stream they see start; request heads get none of their own.
  static protocols::KernelContextKey kernel_context_key(const Exchange& exchange) {
    return protocols::KernelContextKey::stream(exchange.stream_id);
  }
  static protocols::KernelContextKey kernel_context_key(const Stitcher::HeadContext&) {
    return protocols::KernelContextKey::none();
  }
  static std::string_view traceparent(const Exchange& exchange) {
    const std::string* value = exchange.request.headers.find("traceparent");
    return value ? std::string_view(*value) : std::string_view();
  }
  static std::optional<protocols::ExchangeSummary> summarize(const Exchange& exchange, Role role) {
    return http2::summarize(exchange, role);
  }
  static void count_closed(const Parser& parser, Counters& counters) {
    const ParserStats stats = parser.stats();
    counters.lost_sync += stats.lost_sync;
    counters.orphan_streams += stats.streams.orphan_streams;
    counters.dropped_streams += stats.streams.dropped_streams + stats.streams.undirected_streams;
  }
};

static_assert(protocols::ConnectionParser<ConnectionParser>);
static_assert(protocols::ProtocolTraits<Protocol>);
static_assert(protocols::SummarizesExchanges<Protocol>);

}  // namespace ztrace::http2
