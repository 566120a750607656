#pragma once

// PostgreSQL (protocol 3.0) as the protocol contract (userspace/protocols/protocol.h) sees it.

#include <cstdint>
#include <string_view>

#include "userspace/protocols/postgresql/connection_parser.h"
#include "userspace/protocols/postgresql/span_builder.h"
#include "userspace/protocols/postgresql/wire.h"
#include "userspace/protocols/protocol.h"

namespace ztrace::postgresql {

struct Counters {
  uint64_t connections = 0;
  uint64_t failed_connections = 0;  // malformed, or frontend bytes lost across messages
  uint64_t exchanges_without_span = 0;
  uint64_t orphan_responses = 0;
  uint64_t lost_sync = 0;
  uint64_t statement_evictions = 0;
  uint64_t portal_evictions = 0;
  uint64_t unknown_statements = 0;
  uint64_t describe_only = 0;
  uint64_t tls = 0;
  uint64_t cancel_requests = 0;
  uint64_t server_side = 0;
  uint64_t statements_over_budget = 0;

  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit("connections", connections);
    visit("failed", failed_connections);
    visit("no_span", exchanges_without_span);
    visit("orphan_responses", orphan_responses);
    visit("lost_sync", lost_sync);
    visit("statement_evictions", statement_evictions);
    visit("portal_evictions", portal_evictions);
    visit("unknown_statements", unknown_statements);
    visit("describe_only", describe_only);
    visit("tls", tls);
    visit("cancel_requests", cancel_requests);
    visit("server_side", server_side);
    visit("statements_over_budget", statements_over_budget);
  }
};

struct Protocol {
  static constexpr std::string_view kName = "postgresql";
  using Parser = ConnectionParser;
  using Exchange = postgresql::Exchange;
  using SpanBuilder = postgresql::SpanBuilder;
  using Counters = postgresql::Counters;

  // A connection the agent saw open is PostgreSQL only from its first message (startup, SSL
  // or GSS request, cancel); one it joined late only from whole, well-formed frontend
  // messages. HTTP/1 request lines fail both (their "length" is past any bound).
  static bool detect(std::string_view first_bytes, Role, bool joined_midstream) {
    return joined_midstream ? is_frontend_sequence(first_bytes) || is_connection_start(first_bytes)
                            : is_connection_start(first_bytes);
  }
  // The kernel makes a context for the write that starts a request (Query, Parse, Bind or
  // FunctionCall first), as it does for HTTP/1 request heads.
  static protocols::KernelContextKey kernel_context_key(const Exchange& exchange) {
    return protocols::KernelContextKey::request_start(exchange.request.start_ns);
  }
  static protocols::KernelContextKey kernel_context_key(const ConnectionParser::HeadContext&) {
    return protocols::KernelContextKey::none();
  }
  static std::string_view traceparent(const Exchange&) { return {}; }
  static void count_closed(const Parser& parser, Counters& counters) {
    const ParserStats& stats = parser.stats();
    counters.orphan_responses += stats.orphan_responses;
    counters.lost_sync += stats.lost_sync;
    counters.statement_evictions += stats.statement_evictions;
    counters.portal_evictions += stats.portal_evictions;
    counters.unknown_statements += stats.unknown_statements;
    counters.describe_only += stats.describe_only;
    counters.tls += stats.tls;
    counters.cancel_requests += stats.cancel_requests;
    counters.server_side += stats.server_side;
    counters.statements_over_budget += stats.statements_over_budget;
  }
};

static_assert(protocols::ConnectionParser<ConnectionParser>);
static_assert(protocols::ProtocolTraits<Protocol>);

}  // namespace ztrace::postgresql
