#pragma once

// Names for the counter arrays the BPF programs keep (bpf/socket_trace.h, bpf/go_probes.h),
// so that the log lines (and /metrics) print every counter under one name, in enum order.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bpf/go_probes.h"
#include "bpf/openssl_probes.h"
#include "bpf/rdkafka_probes.h"
#include "bpf/socket_trace.h"

namespace ztrace {

// An array of counters indexed by a BPF enum, with a name per index: NamedCounters.
template <size_t N, const std::array<std::string_view, N>& kNames>
struct IndexedCounters {
  std::array<uint64_t, N> values{};

  uint64_t operator[](size_t index) const { return values[index]; }
  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (size_t i = 0; i < N; ++i) visit(kNames[i], values[i]);
  }
};

inline constexpr std::array<std::string_view, ZT_DROP_REASON_COUNT> kDropReasonNames = {
    "data", "control", "inflight", "conn_table"};

inline constexpr std::array<std::string_view, ZT_INJECT_OUTCOME_COUNT> kInjectOutcomeNames = {
    "done",
    "skipped_mismatch",
    "failed",
    "app_had_header",
    "unconsumed",
    "h2_too_many",
    "h2_no_end_headers",
    "h2_too_big",
    "h2_joined_midway",
    "h2_lost_framing",
    "h1_in_message",
    "h1_unknown_boundary",
    "h1_joined_midway",
    "h1_head_split",
    "h1_head_too_long",
    "h1_chunked",
    "h1_bad_length",
    "h1_unclear_head",
    "h1_upgrade",
    "h1_not_http1",
    "h1_pipelined",
    "h1_partial_head",
    "h1_unseen_bytes",
    "h1_concurrent_writes",
};

inline constexpr std::array<std::string_view, ZT_GO_COUNTER_COUNT> kGoCounterNames = {
    "tls_pieces",        "ring_full",
    "not_a_socket",      "read_unmatched",
    "calls_in_request",  "calls_outside_request",
    "h2_server_streams", "h2_streams_without_connection",
    "sarama_sends",
};

inline constexpr std::array<std::string_view, ZT_SSL_COUNTER_COUNT> kSslCounterNames = {
    "tls_pieces",    "ring_full",  "fd_from_bio",  "fd_from_thread",
    "fd_remembered", "fd_unknown", "not_a_socket", "result_unmatched",
};

inline constexpr std::array<std::string_view, ZT_RDKAFKA_COUNTER_COUNT> kRdKafkaCounterNames = {
    "produce_calls", "no_parent",       "unparsed",       "emitted",
    "ring_full",     "messages_polled", "messages_unread"};

// enum zt_context_origin: how a span's context came about (the `links:` line).
inline constexpr std::array<std::string_view, ZT_CTX_ORIGIN_COUNT> kContextOriginNames = {
    "no_context",
    "server_new_trace",
    "server_from_header",
    "server_bad_header",
    "client_by_thread",
    "client_root",
    "client_ambiguous_event_loop",
    "client_unlinkable_runtime",
    "client_stale",
    "client_by_forwarded_line",
    "client_by_goroutine",
    "message_receive",
    "client_by_message",
};

// A name for every enum value: a new one without a name does not compile (the arrays above
// are sized by the enums' COUNT, and an empty name is caught here).
constexpr bool all_named(const auto& names) {
  for (std::string_view name : names) {
    if (name.empty()) return false;
  }
  return true;
}
static_assert(all_named(kDropReasonNames) && all_named(kInjectOutcomeNames) &&
              all_named(kGoCounterNames) && all_named(kSslCounterNames) &&
              all_named(kRdKafkaCounterNames) && all_named(kContextOriginNames));

using DropCounts = IndexedCounters<ZT_DROP_REASON_COUNT, kDropReasonNames>;
using InjectOutcomeCounts = IndexedCounters<ZT_INJECT_OUTCOME_COUNT, kInjectOutcomeNames>;
using GoCounters = IndexedCounters<ZT_GO_COUNTER_COUNT, kGoCounterNames>;
using SslCounters = IndexedCounters<ZT_SSL_COUNTER_COUNT, kSslCounterNames>;
using RdKafkaCounters = IndexedCounters<ZT_RDKAFKA_COUNTER_COUNT, kRdKafkaCounterNames>;

}  // namespace ztrace
