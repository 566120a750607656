#pragma once

// HTTP/1.x as the protocol contract (userspace/protocols/protocol.h) sees it.

#include <cstdint>
#include <string_view>

#include "userspace/protocols/http1/connection_parser.h"
#include "userspace/protocols/http1/span_builder.h"
#include "userspace/protocols/protocol.h"

namespace ztrace::http1 {

struct Counters {
  uint64_t connections = 0;
  uint64_t failed_connections = 0;  // the parser gave up: not HTTP/1, or malformed
  uint64_t orphan_responses = 0;
  uint64_t truncated_messages = 0;
  uint64_t lost_sync_messages = 0;      // framing lost in a gap: skipped until a message start
  uint64_t dropped_exchanges = 0;       // parser bounds (pending requests) exceeded
  uint64_t exchanges_without_span = 0;  // the start of the request was not captured
  // Non-HTTP bytes where a message should start, on a stream already shown to be HTTP:
  // skipped to the next syscall that starts with a message.
  uint64_t junk_skips = 0;

  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit("connections", connections);
    visit("failed", failed_connections);
    visit("orphan_responses", orphan_responses);
    visit("truncated", truncated_messages);
    visit("lost_sync", lost_sync_messages);
    visit("dropped_exchanges", dropped_exchanges);
    visit("no_request_line", exchanges_without_span);
    visit("skipped_junk", junk_skips);
  }
};

struct Protocol {
  static constexpr std::string_view kName = "http1";
  using Parser = ConnectionParser;
  using Exchange = http1::Exchange;
  using SpanBuilder = http1::SpanBuilder;
  using Counters = http1::Counters;

  // Takes every connection no other protocol claimed: its parser gives up (counted) on what is
  // not HTTP/1.
  static bool detect(std::string_view /*first_bytes*/, Role, bool /*joined_midstream*/) {
    return true;
  }
  // The kernel makes a context for each request head it sees start a syscall.
  static protocols::KernelContextKey kernel_context_key(const Exchange& exchange) {
    return protocols::KernelContextKey::request_start(exchange.request.start_ns);
  }
  static protocols::KernelContextKey kernel_context_key(const RequestHeadContext& head) {
    return protocols::KernelContextKey::request_start(head.start_ns);
  }
  static std::string_view traceparent(const Exchange& exchange) {
    return exchange.request.traceparent;
  }
  static std::optional<protocols::ExchangeSummary> summarize(const Exchange& exchange, Role role) {
    return http1::summarize(exchange, role);
  }
  static void count_closed(const Parser& parser, Counters& counters) {
    const ParserStats& stats = parser.stats();
    counters.orphan_responses += stats.orphan_responses;
    counters.truncated_messages += stats.truncated_messages;
    counters.lost_sync_messages += stats.lost_sync_messages;
    counters.dropped_exchanges += stats.dropped_exchanges;
    counters.junk_skips += stats.junk_skips;
  }
};

static_assert(protocols::ConnectionParser<ConnectionParser>);
static_assert(protocols::ProtocolTraits<Protocol>);
static_assert(protocols::SummarizesExchanges<Protocol>);

}  // namespace ztrace::http1
