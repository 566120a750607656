#pragma once

// Kafka as the protocol contract (userspace/protocols/protocol.h) sees it.

#include <cstdint>
#include <string_view>

#include "userspace/protocols/kafka/api.h"
#include "userspace/protocols/kafka/connection_parser.h"
#include "userspace/protocols/kafka/span_builder.h"
#include "userspace/protocols/protocol.h"

namespace ztrace::kafka {

struct Counters {
  uint64_t connections = 0;
  uint64_t failed_connections = 0;  // the parser gave up: not Kafka after all
  // Exchanges without a span: Fetch long polls that returned no records, and the exchanges
  // that only carry state (Metadata topic ids, a consumer group's name).
  uint64_t exchanges_without_span = 0;
  uint64_t requests = 0;
  uint64_t unknown_api = 0;
  uint64_t orphan_responses = 0;
  uint64_t unanswered = 0;
  uint64_t lost_sync = 0;
  uint64_t truncated = 0;
  uint64_t dropped = 0;
  uint64_t over_memory = 0;
  uint64_t malformed = 0;
  uint64_t partitions_dropped = 0;
  uint64_t batches = 0;
  uint64_t compressed_batches = 0;
  uint64_t decompressed_bytes = 0;
  uint64_t over_budget = 0;
  uint64_t corrupt_batches = 0;
  uint64_t unknown_codec = 0;
  uint64_t unknown_magic = 0;
  uint64_t links_dropped = 0;

  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit("connections", connections);
    visit("failed", failed_connections);
    visit("no_span", exchanges_without_span);
    visit("requests", requests);
    visit("unknown_api", unknown_api);
    visit("orphan_responses", orphan_responses);
    visit("unanswered", unanswered);
    visit("lost_sync", lost_sync);
    visit("truncated", truncated);
    visit("dropped", dropped);
    visit("over_memory", over_memory);
    visit("malformed", malformed);
    visit("partitions_dropped", partitions_dropped);
    visit("batches", batches);
    visit("compressed_batches", compressed_batches);
    visit("decompressed_bytes", decompressed_bytes);
    visit("over_budget", over_budget);
    visit("corrupt_batches", corrupt_batches);
    visit("unknown_codec", unknown_codec);
    visit("unknown_magic", unknown_magic);
    visit("links_dropped", links_dropped);
  }
};

// A request as a client starts a connection: a size prefix no larger than a message can be, a
// known API key and version, and a client id a client would send. Strict, because it runs
// before HTTP/1 takes every connection nobody claimed.
bool detect(std::string_view first_bytes);

struct Protocol {
  static constexpr std::string_view kName = "kafka";
  using Parser = ConnectionParser;
  using Exchange = kafka::Exchange;
  using SpanBuilder = kafka::SpanBuilder;
  using Counters = kafka::Counters;

  static bool detect(std::string_view first_bytes, Role role, bool /*joined_midstream*/) {
    return role != Role::kServer && kafka::detect(first_bytes);
  }
  // The kernel makes a context for each write that starts a Produce (the in-process rules
  // give it the parent an HTTP request would get), by the timestamp of that write, and one for
  // the read that starts a Fetch's response (the receive, parent of the calls its records
  // cause: bpf/kafka_request.bpf.h), by the timestamp of that read.
  static protocols::KernelContextKey kernel_context_key(const Exchange& exchange) {
    if (exchange.request.api_key == kProduce) {
      return protocols::KernelContextKey::request_start(exchange.request_start_ns);
    }
    if (exchange.request.api_key == kFetch && exchange.has_response) {
      return protocols::KernelContextKey::response_start(exchange.response_start_ns);
    }
    return protocols::KernelContextKey::none();
  }
  static protocols::KernelContextKey kernel_context_key(const RequestHeadContext&) {
    return protocols::KernelContextKey::none();
  }
  // Contexts travel in records (links), not in the request.
  static std::string_view traceparent(const Exchange&) { return {}; }
  static void count_closed(const Parser& parser, Counters& counters) {
    const ParserStats& s = parser.stats();
    counters.requests += s.requests;
    counters.unknown_api += s.unknown_api;
    counters.orphan_responses += s.orphan_responses;
    counters.unanswered += s.unanswered;
    counters.lost_sync += s.lost_sync;
    counters.truncated += s.truncated;
    counters.dropped += s.dropped;
    counters.over_memory += s.over_memory;
    counters.malformed += s.messages.malformed_bodies;
    counters.partitions_dropped += s.messages.partitions_dropped;
    const RecordStats& r = s.messages.records;
    counters.batches += r.batches;
    counters.compressed_batches += r.compressed_batches;
    counters.decompressed_bytes += r.decompressed_bytes;
    counters.over_budget += r.over_budget;
    counters.corrupt_batches += r.corrupt;
    counters.unknown_codec += r.unknown_codec;
    counters.unknown_magic += r.unknown_magic;
    counters.links_dropped += r.traceparents_dropped;
  }
};

static_assert(protocols::ConnectionParser<ConnectionParser>);
static_assert(protocols::ProtocolTraits<Protocol>);

}  // namespace ztrace::kafka
