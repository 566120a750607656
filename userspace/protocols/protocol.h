#pragma once

// The contract a protocol fills: a per-connection parser, its exchange type, a span builder
// and named counters, bundled in a traits struct (ProtocolTraits). conntrack and the pipeline
// run every protocol registered in userspace/conntrack/protocols.h through the same templates.

#include <concepts>
#include <cstdint>
#include <optional>
#include <ranges>
#include <string_view>
#include <utility>
#include <vector>

#include "bpf/socket_trace.h"
#include "userspace/common/connection_types.h"
#include "userspace/common/counters.h"
#include "userspace/protocols/connection_view.h"
#include "userspace/spans/clock.h"
#include "userspace/spans/span.h"
#include "userspace/spans/trace_context.h"

namespace ztrace::protocols {

struct SpanOptions {
  bool capture_url_query = false;  // url.query may carry secrets: off unless asked for
};

// What a span builder gets with an exchange, besides the connection.
struct ExchangeContext {
  const ConnectionView& connection;
  // The kernel's ids for the request (the span takes them; nullptr: fresh ids are made).
  const zt_trace_context* kernel_context = nullptr;
  // The request's own traceparent, parsed (nullptr: none or malformed).
  const spans::TraceParent* request_header = nullptr;
  // A client request's header was one its process had received (a pass-through proxy), not
  // one it made: its span id belongs to the caller's span.
  bool forwarded_traceparent = false;
};

// What every span builder keeps: its options, and the clock that makes kernel time unix time.
class SpanBuilderBase {
 public:
  SpanBuilderBase(const SpanOptions& options, const spans::KernelClock& clock)
      : options_(options), clock_(clock) {}

 protected:
  SpanOptions options_;
  const spans::KernelClock& clock_;
};

// Where the kernel's trace context of a request is kept, if the kernel made one.
struct KernelContextKey {
  enum class Kind : uint8_t {
    kNone,
    kRequestStart,   // by the timestamp of the syscall that began the request (HTTP/1 heads)
    kStream,         // by the stream id on the connection (HTTP/2 streams)
    kResponseStart,  // by the timestamp of the syscall that began the response (a Kafka
                     // Fetch's receive)
  };
  Kind kind = Kind::kNone;
  uint64_t value = 0;  // the request's or response's start timestamp (ns), or the stream id

  static KernelContextKey none() { return {}; }
  static KernelContextKey request_start(uint64_t start_ns) {
    return {Kind::kRequestStart, start_ns};
  }
  static KernelContextKey stream(uint32_t stream_id) { return {Kind::kStream, stream_id}; }
  static KernelContextKey response_start(uint64_t start_ns) {
    return {Kind::kResponseStart, start_ns};
  }
};

// A request head that carried a traceparent, reported as soon as it is parsed (long before
// its exchange completes), so that its context (and tracestate) applies to the calls it causes.
template <typename Head>
concept RequestHead = requires(const Head& head) {
  { head.start_ns } -> std::convertible_to<uint64_t>;
  { head.traceparent } -> std::convertible_to<std::string_view>;
  { head.tracestate } -> std::convertible_to<std::string_view>;  // "": none
};

template <typename Parser>
using HeadOf =
    std::ranges::range_value_t<decltype(std::declval<Parser&>().take_request_head_contexts())>;

// One parser per connection, fed both directions in stream order; not thread-safe.
template <typename Parser>
concept ConnectionParser = std::constructible_from<Parser, Role, bool /*joined_midstream*/> &&
    std::movable<Parser> &&
    requires(Parser& parser, const Parser& const_parser, Direction direction,
             std::string_view bytes, uint64_t gap_bytes_after, uint64_t timestamp_ns,
             bool syscall_start) {
  // `bytes` were captured; `gap_bytes_after` more bytes of the same call were not.
  parser.on_data(direction, bytes, gap_bytes_after, timestamp_ns, syscall_start);
  parser.on_close(timestamp_ns);
  // Completed exchanges since the last call, in request order.
  { parser.take_exchanges() } -> std::ranges::range;
  // Heads of requests served, with a traceparent, since the last call.
  { parser.take_request_head_contexts() } -> std::ranges::range;
  requires RequestHead<HeadOf<Parser>>;
  // The parser gave up on the connection (not this protocol, or malformed).
  { const_parser.failed() } -> std::same_as<bool>;
  // Which side the traced process is: given, or inferred from the traffic.
  { const_parser.role() } -> std::same_as<Role>;
};

// What a builder makes of one exchange: a span (nullopt when too little of the exchange was
// seen to name one), or several (an exchange that acts on several destinations, such as a
// Kafka Produce over many partitions; empty for none).
template <typename Result>
concept SpanResult = std::same_as<Result, std::optional<spans::Span>> ||
    std::same_as<Result, std::vector<spans::Span>>;

// Exchange → spans. A builder may keep what it learns across connections (Kafka: topic ids,
// consumer groups, sent offsets); it lives on the pipeline thread.
template <typename Builder, typename Exchange>
concept SpanBuilderFor =
    std::constructible_from<Builder, const SpanOptions&, const spans::KernelClock&> &&
    requires(Builder& builder, const ExchangeContext& context, const Exchange& exchange) {
  { builder.build(context, exchange) } -> SpanResult;
};

// Counters every protocol keeps; conntrack and the pipeline count them for each protocol.
template <typename Counters>
concept ProtocolCounters = NamedCounters<Counters> && std::default_initializable<Counters> &&
    requires(Counters& counters) {
  { counters.connections } -> std::same_as<uint64_t&>;
  { counters.failed_connections } -> std::same_as<uint64_t&>;
  { counters.exchanges_without_span } -> std::same_as<uint64_t&>;
};

template <typename P>
concept ProtocolTypes = requires {
  { P::kName } -> std::convertible_to<std::string_view>;  // the counters' group name
  typename P::Parser;
  typename P::Exchange;
  typename P::SpanBuilder;
  typename P::Counters;
};

template <typename P>
concept ProtocolFunctions = requires(std::string_view first_bytes, Role role, bool joined_midstream,
                                     const typename P::Exchange& exchange,
                                     const HeadOf<typename P::Parser>& head,
                                     const typename P::Parser& parser,
                                     typename P::Counters& counters) {
  // From the first captured bytes of a syscall (either direction).
  { P::detect(first_bytes, role, joined_midstream) } -> std::same_as<bool>;
  // Where the kernel's context of an exchange, or of a served request's head, is kept.
  { P::kernel_context_key(exchange) } -> std::same_as<KernelContextKey>;
  { P::kernel_context_key(head) } -> std::same_as<KernelContextKey>;
  // The request's own W3C traceparent, empty when it has none.
  { P::traceparent(exchange) } -> std::convertible_to<std::string_view>;
  // Adds what the parser counted over the connection's life: when it closes, and (into a
  // copy) for a connection still open whenever the counters are read.
  P::count_closed(parser, counters);
};

// What the request metrics need of an exchange, read without building its span: for requests
// that are not exported (unsampled, or mode system-only). Views into the exchange.
struct ExchangeSummary {
  std::string_view name;  // the span's name, as the builder would give it
  std::string_view path;  // url.path of an HTTP request (empty: none)
  spans::StatusCode status = spans::StatusCode::kUnset;
  uint64_t start_ns = 0;  // kernel time
  uint64_t end_ns = 0;
};

// Optional: a protocol that can summarize its exchanges spares unexported requests the span
// build (attributes, strings); one that cannot has their spans built, read and dropped.
// nullopt where build() would make no span.
template <typename P>
concept SummarizesExchanges = requires(const typename P::Exchange& exchange, Role role) {
  { P::summarize(exchange, role) } -> std::same_as<std::optional<ExchangeSummary>>;
};

// A protocol's traits: its types, how it is detected, where its kernel contexts are, and what
// its parser counts.
template <typename P>
concept ProtocolTraits = ProtocolTypes<P> && ConnectionParser<typename P::Parser> &&
    SpanBuilderFor<typename P::SpanBuilder, typename P::Exchange> &&
    ProtocolCounters<typename P::Counters> && ProtocolFunctions<P>;

}  // namespace ztrace::protocols
