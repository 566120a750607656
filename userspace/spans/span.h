#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace ztrace::spans {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

enum class SpanKind : uint8_t { kInternal, kServer, kClient, kProducer, kConsumer };
enum class StatusCode : uint8_t { kUnset, kOk, kError };

std::string_view to_string(SpanKind kind);
std::string_view to_string(StatusCode code);

// An attribute's name. Names are few and fixed (semantic-convention literals, and names from
// configuration), so an attribute holds a view of a name that lives as long as the process: a
// string literal, or a name interned once. Building a span allocates no names.
class AttributeKey {
 public:
  // Only for string literals (static storage), which is what a char array here always is.
  // Checked at compile time to be ASCII.
  template <size_t N>
  consteval AttributeKey(const char (&literal)[N]) : name_(literal, N - 1) {
    for (char c : name_) {
      if (static_cast<unsigned char>(c) >= 0x80) throw "attribute key literals are ASCII";
    }
  }
  // Names known at run time (configuration, environment); kept until the process exits, so
  // only for bounded sets of names. Invalid UTF-8 is repaired (U+FFFD): every key is valid
  // UTF-8, the literals being ASCII.
  static AttributeKey intern(std::string_view name);

  std::string_view view() const { return name_; }
  operator std::string_view() const { return name_; }
  bool operator==(std::string_view other) const { return name_ == other; }

 private:
  explicit AttributeKey(std::string_view interned) : name_(interned) {}
  std::string_view name_;
};

using AttributeValue = std::variant<std::string, int64_t, double, bool>;
struct Attribute {
  AttributeKey key;
  AttributeValue value;
};
using Attributes = std::vector<Attribute>;

// Resource of one traced process (service.name, process.*, host.name, ...).
// Shared by every span of that process; immutable once built.
struct Resource {
  Attributes attributes;
};

// A span link (OTLP Span.Link): a related context that is not the parent, e.g. the contexts of
// the messages a consumer received.
struct SpanLink {
  TraceId trace_id{};
  SpanId span_id{};
  uint8_t trace_flags = 0;
  bool operator==(const SpanLink&) const = default;
};

struct Span {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};     // all zero: no parent
  uint8_t trace_flags = 0x01;  // W3C trace-flags; bit 0: sampled
  std::string trace_state;     // W3C tracestate ("": none)
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  uint64_t start_time_unix_nano = 0;
  uint64_t end_time_unix_nano = 0;
  StatusCode status_code = StatusCode::kUnset;
  std::string status_message;
  Attributes attributes;
  std::vector<SpanLink> links;
  std::shared_ptr<const Resource> resource;

  void set(AttributeKey key, AttributeValue value) {
    attributes.emplace_back(key, std::move(value));  // built in place: one move of the value
  }
  const AttributeValue* find(std::string_view key) const;
};

bool is_zero(const SpanId& id);
bool is_zero(const TraceId& id);

// For hash maps keyed by trace id: its last 8 bytes are random (W3C Trace Context level 2),
// so they hash well as they are.
struct TraceIdHash {
  size_t operator()(const TraceId& id) const {
    size_t h;
    std::memcpy(&h, id.data() + id.size() - sizeof(h), sizeof(h));
    return h;
  }
};

// end - start, 0 when the clock put them the wrong way round.
inline uint64_t duration_ns(const Span& span) {
  return span.end_time_unix_nano > span.start_time_unix_nano
             ? span.end_time_unix_nano - span.start_time_unix_nano
             : 0;
}
std::string to_hex(const TraceId& id);
std::string to_hex(const SpanId& id);

// W3C-valid (non-zero) random ids.
TraceId random_trace_id();
SpanId random_span_id();

}  // namespace ztrace::spans
