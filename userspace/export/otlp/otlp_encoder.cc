#include "userspace/export/otlp/otlp_encoder.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <forward_list>
#include <unordered_map>
#include <utility>
#include <variant>

#include "userspace/common/utf8.h"

namespace ztrace::otlp {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;

bool has_key(const spans::Attributes& attributes, std::string_view key) {
  for (const auto& attribute : attributes) {
    if (attribute.key == key) return true;
  }
  return false;
}

}  // namespace

namespace message {

void set_key_value(std::string_view key, const spans::AttributeValue& value,
                   common::KeyValue* out) {
  set_utf8(key, [&](std::string_view k) { out->set_key(k.data(), k.size()); });
  common::AnyValue* any = out->mutable_value();
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          set_utf8(v, [&](std::string_view s) { any->set_string_value(s.data(), s.size()); });
        } else if constexpr (std::is_same_v<T, int64_t>) {
          any->set_int_value(v);
        } else if constexpr (std::is_same_v<T, double>) {
          any->set_double_value(v);
        } else {
          any->set_bool_value(v);
        }
      },
      value);
}

trace::Span::SpanKind to_proto(spans::SpanKind kind) {
  switch (kind) {
    case spans::SpanKind::kServer:
      return trace::Span::SPAN_KIND_SERVER;
    case spans::SpanKind::kClient:
      return trace::Span::SPAN_KIND_CLIENT;
    case spans::SpanKind::kProducer:
      return trace::Span::SPAN_KIND_PRODUCER;
    case spans::SpanKind::kConsumer:
      return trace::Span::SPAN_KIND_CONSUMER;
    case spans::SpanKind::kInternal:
      break;
  }
  return trace::Span::SPAN_KIND_INTERNAL;
}

trace::Status::StatusCode to_proto(spans::StatusCode code) {
  switch (code) {
    case spans::StatusCode::kOk:
      return trace::Status::STATUS_CODE_OK;
    case spans::StatusCode::kError:
      return trace::Status::STATUS_CODE_ERROR;
    case spans::StatusCode::kUnset:
      break;
  }
  return trace::Status::STATUS_CODE_UNSET;
}

void encode_resource(const spans::Resource* resource, const EncoderOptions& options,
                     opentelemetry::proto::resource::v1::Resource* out) {
  if (resource != nullptr) {
    for (const auto& attribute : resource->attributes) {
      set_key_value(attribute.key, attribute.value, out->add_attributes());
    }
  }
  for (const auto& attribute : options.extra_resource_attributes) {
    if (resource != nullptr && has_key(resource->attributes, attribute.key)) continue;
    set_key_value(attribute.key, attribute.value, out->add_attributes());
  }
}

void encode_scope(const EncoderOptions& options, common::InstrumentationScope* out) {
  out->set_name(kScopeName.data(), kScopeName.size());
  out->set_version(options.agent_version);
}

}  // namespace message

namespace {

using google::protobuf::internal::WireFormatLite;

// Into `*p`, which has room for it (at most 10 bytes); returns the end.
char* put_varint(uint64_t value, char* p) {
  while (value >= 0x80) {
    *p++ = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  *p++ = static_cast<char>(value);
  return p;
}

size_t varint_size(uint64_t value) {
  return google::protobuf::io::CodedOutputStream::VarintSize64(value);
}

// A length-delimited field: tag, length, `length` bytes to follow.
void append_field_header(int field_number, size_t length, std::string* out) {
  char header[20];  // two varints, one append
  char* end = put_varint(
      WireFormatLite::MakeTag(field_number, WireFormatLite::WIRETYPE_LENGTH_DELIMITED), header);
  end = put_varint(length, end);
  out->append(header, static_cast<size_t>(end - header));
}

size_t field_size(int field_number, size_t length) {
  return varint_size(
             WireFormatLite::MakeTag(field_number, WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) +
         varint_size(length) + length;
}

// --- trace.v1.Span straight to wire format ------------------------------------------------
// The exporter's hot path writes the bytes the generated serializer would (fields in number
// order, proto3 defaults left out, oneof members and set sub-messages always written), without
// building a message: sizes first, then one pass through a cursor into a buffer of exactly that
// size. A unit test holds it byte-identical to encode_span() for every field shape.

using Wire = WireFormatLite;

constexpr uint32_t tag_of(int field_number, Wire::WireType type) {
  return static_cast<uint32_t>(field_number) << 3 | type;
}

// Writes into a buffer sized beforehand; never checks bounds (the sizes are exact).
class Cursor {
 public:
  explicit Cursor(char* p) : p_(p) {}
  char* position() const { return p_; }
  void varint(uint64_t value) {
    while (value >= 0x80) {
      *p_++ = static_cast<char>(value | 0x80);
      value >>= 7;
    }
    *p_++ = static_cast<char>(value);
  }
  void fixed(uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) *p_++ = static_cast<char>(value >> (8 * i));  // LE
  }
  void raw(std::string_view bytes) {
    const size_t n = bytes.size();
    const char* from = bytes.data();
    if (n >= 8 && n <= 16) {
      // Most strings of a span (ids, keys, short values): two overlapping words, no call.
      uint64_t head, tail;
      std::memcpy(&head, from, 8);
      std::memcpy(&tail, from + n - 8, 8);
      std::memcpy(p_, &head, 8);
      std::memcpy(p_ + n - 8, &tail, 8);
    } else {
      std::memcpy(p_, from, n);
    }
    p_ += n;
  }
  void length_delimited(int field_number, size_t length) {
    varint(tag_of(field_number, Wire::WIRETYPE_LENGTH_DELIMITED));
    varint(length);
  }
  void bytes_field(int field_number, std::string_view bytes) {
    length_delimited(field_number, bytes.size());
    raw(bytes);
  }
  void varint_field(int field_number, uint64_t value) {
    varint(tag_of(field_number, Wire::WIRETYPE_VARINT));
    varint(value);
  }
  void fixed64_field(int field_number, uint64_t value) {
    varint(tag_of(field_number, Wire::WIRETYPE_FIXED64));
    fixed(value, 8);
  }

 private:
  char* p_;
};

size_t varint_field_size(int field_number, uint64_t value) {
  return varint_size(tag_of(field_number, Wire::WIRETYPE_VARINT)) + varint_size(value);
}
size_t fixed64_field_size(int field_number) {
  return varint_size(tag_of(field_number, Wire::WIRETYPE_FIXED64)) + 8;
}

std::string_view as_chars(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// ASCII, checked a word at a time with no loop for the short strings most values are
// (overlapping words: every byte is read at least once).
bool is_ascii(std::string_view text) {
  const char* p = text.data();
  const size_t n = text.size();
  constexpr uint64_t kHighBits = 0x8080808080808080ULL;
  const auto word = [](const char* at) {
    uint64_t w;
    std::memcpy(&w, at, sizeof w);
    return w;
  };
  if (n >= 8) {
    uint64_t any = word(p + n - 8);
    for (size_t i = 0; i + 8 < n; i += 8) any |= word(p + i);
    return (any & kHighBits) == 0;
  }
  if (n >= 4) {
    uint32_t head, tail;
    std::memcpy(&head, p, 4);
    std::memcpy(&tail, p + n - 4, 4);
    return ((head | tail) & 0x80808080U) == 0;
  }
  uint8_t any = 0;
  for (size_t i = 0; i < n; ++i) any |= static_cast<uint8_t>(p[i]);
  return (any & 0x80) == 0;
}

// A string field's text: itself when valid UTF-8, else a repaired copy kept in `repaired`.
std::string_view utf8_text(std::string_view text, std::forward_list<std::string>& repaired) {
  if (is_ascii(text) || utf8::is_valid(text)) return text;
  return repaired.emplace_front(utf8::with_replacement_characters(text));
}

uint64_t double_bits(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof(bits));
  return bits;
}

size_t any_value_size(const spans::AttributeValue& value, std::string_view text) {
  switch (value.index()) {
    case 0:
      return field_size(common::AnyValue::kStringValueFieldNumber, text.size());
    case 1:
      return varint_field_size(common::AnyValue::kIntValueFieldNumber,
                               static_cast<uint64_t>(std::get<int64_t>(value)));
    case 2:
      return fixed64_field_size(common::AnyValue::kDoubleValueFieldNumber);
    default:
      return varint_field_size(common::AnyValue::kBoolValueFieldNumber, 1);
  }
}

void write_any_value(const spans::AttributeValue& value, std::string_view text, Cursor& out) {
  switch (value.index()) {
    case 0:
      out.bytes_field(common::AnyValue::kStringValueFieldNumber, text);
      break;
    case 1:
      out.varint_field(common::AnyValue::kIntValueFieldNumber,
                       static_cast<uint64_t>(std::get<int64_t>(value)));
      break;
    case 2:
      out.fixed64_field(common::AnyValue::kDoubleValueFieldNumber,
                        double_bits(std::get<double>(value)));
      break;
    default:
      out.varint_field(common::AnyValue::kBoolValueFieldNumber, std::get<bool>(value) ? 1 : 0);
      break;
  }
}

void write_span(const spans::Span& span, std::string* out) {
  // Stays empty for valid UTF-8, the usual case (and, unlike a deque, allocates nothing
  // then); its strings do not move, so views of them stay valid.
  std::forward_list<std::string> repaired;
  struct Field {
    std::string_view key, text;  // text: the string value, if any
    size_t value_size, size;     // AnyValue's, and the KeyValue's
  };
  // Left uninitialized: every entry used is written below before it is read.
  union InlineFields {
    InlineFields() {}
    Field at[32];
  } fields_inline;
  std::vector<Field> fields_heap;
  Field* fields = fields_inline.at;
  if (span.attributes.size() > std::size(fields_inline.at)) {
    fields_heap.resize(span.attributes.size());
    fields = fields_heap.data();
  }

  // Sizes.
  size_t total = field_size(trace::Span::kTraceIdFieldNumber, span.trace_id.size()) +
                 field_size(trace::Span::kSpanIdFieldNumber, span.span_id.size());
  // ASCII by construction (sampling::th_tracestate), so not checked again.
  if (!span.trace_state.empty()) {
    total += field_size(trace::Span::kTraceStateFieldNumber, span.trace_state.size());
  }
  const bool has_parent = !spans::is_zero(span.parent_span_id);
  if (has_parent) total += field_size(trace::Span::kParentSpanIdFieldNumber, 8);
  const std::string_view name = utf8_text(span.name, repaired);
  if (!name.empty()) total += field_size(trace::Span::kNameFieldNumber, name.size());
  const int kind = message::to_proto(span.kind);
  if (kind != 0) total += varint_field_size(trace::Span::kKindFieldNumber, kind);
  if (span.start_time_unix_nano)
    total += fixed64_field_size(trace::Span::kStartTimeUnixNanoFieldNumber);
  if (span.end_time_unix_nano)
    total += fixed64_field_size(trace::Span::kEndTimeUnixNanoFieldNumber);
  for (size_t i = 0; i < span.attributes.size(); ++i) {
    const spans::Attribute& attribute = span.attributes[i];
    Field& f = fields[i];
    f.key = attribute.key.view();  // valid UTF-8 by construction (AttributeKey)
    const auto* text = std::get_if<std::string>(&attribute.value);
    f.text = text ? utf8_text(*text, repaired) : std::string_view();
    f.value_size = any_value_size(attribute.value, f.text);
    f.size = field_size(common::KeyValue::kKeyFieldNumber, f.key.size()) +
             field_size(common::KeyValue::kValueFieldNumber, f.value_size);
    total += field_size(trace::Span::kAttributesFieldNumber, f.size);
  }
  // Span.Link{trace_id=1, span_id=2, flags=6 (fixed32, W3C flags in the low byte)}.
  const auto link_size = [](const spans::SpanLink& link) {
    return field_size(trace::Span::Link::kTraceIdFieldNumber, link.trace_id.size()) +
           field_size(trace::Span::Link::kSpanIdFieldNumber, link.span_id.size()) +
           (link.trace_flags != 0 ? varint_size(tag_of(trace::Span::Link::kFlagsFieldNumber,
                                                       Wire::WIRETYPE_FIXED32)) +
                                        4
                                  : 0);
  };
  for (const spans::SpanLink& link : span.links) {
    total += field_size(trace::Span::kLinksFieldNumber, link_size(link));
  }
  const bool has_status =
      span.status_code != spans::StatusCode::kUnset || !span.status_message.empty();
  const std::string_view status_message = utf8_text(span.status_message, repaired);
  const int code = message::to_proto(span.status_code);
  size_t status_size = 0;
  if (has_status) {
    if (!status_message.empty()) {
      status_size += field_size(trace::Status::kMessageFieldNumber, status_message.size());
    }
    if (code != 0) status_size += varint_field_size(trace::Status::kCodeFieldNumber, code);
    total += field_size(trace::Span::kStatusFieldNumber, status_size);
  }
  if (span.trace_flags != 0) {
    total += varint_size(tag_of(trace::Span::kFlagsFieldNumber, Wire::WIRETYPE_FIXED32)) + 4;
  }

  // Bytes.
  out->resize(total);
  Cursor c(out->data());
  c.bytes_field(trace::Span::kTraceIdFieldNumber, as_chars(span.trace_id));
  c.bytes_field(trace::Span::kSpanIdFieldNumber, as_chars(span.span_id));
  if (!span.trace_state.empty())
    c.bytes_field(trace::Span::kTraceStateFieldNumber, span.trace_state);
  if (has_parent)
    c.bytes_field(trace::Span::kParentSpanIdFieldNumber, as_chars(span.parent_span_id));
  if (!name.empty()) c.bytes_field(trace::Span::kNameFieldNumber, name);
  if (kind != 0) c.varint_field(trace::Span::kKindFieldNumber, kind);
  if (span.start_time_unix_nano) {
    c.fixed64_field(trace::Span::kStartTimeUnixNanoFieldNumber, span.start_time_unix_nano);
  }
  if (span.end_time_unix_nano) {
    c.fixed64_field(trace::Span::kEndTimeUnixNanoFieldNumber, span.end_time_unix_nano);
  }
  for (size_t i = 0; i < span.attributes.size(); ++i) {
    const Field& f = fields[i];
    c.length_delimited(trace::Span::kAttributesFieldNumber, f.size);
    c.bytes_field(common::KeyValue::kKeyFieldNumber, f.key);
    c.length_delimited(common::KeyValue::kValueFieldNumber, f.value_size);
    write_any_value(span.attributes[i].value, f.text, c);
  }
  for (const spans::SpanLink& link : span.links) {
    c.length_delimited(trace::Span::kLinksFieldNumber, link_size(link));
    c.bytes_field(trace::Span::Link::kTraceIdFieldNumber, as_chars(link.trace_id));
    c.bytes_field(trace::Span::Link::kSpanIdFieldNumber, as_chars(link.span_id));
    if (link.trace_flags != 0) {
      c.varint(tag_of(trace::Span::Link::kFlagsFieldNumber, Wire::WIRETYPE_FIXED32));
      c.fixed(link.trace_flags, 4);
    }
  }
  if (has_status) {
    c.length_delimited(trace::Span::kStatusFieldNumber, status_size);
    if (!status_message.empty()) c.bytes_field(trace::Status::kMessageFieldNumber, status_message);
    if (code != 0) c.varint_field(trace::Status::kCodeFieldNumber, code);
  }
  if (span.trace_flags != 0) {  // W3C trace flags in the low byte of Span.flags (fixed32)
    c.varint(tag_of(trace::Span::kFlagsFieldNumber, Wire::WIRETYPE_FIXED32));
    c.fixed(span.trace_flags, 4);
  }
  assert(c.position() == out->data() + out->size());
}

}  // namespace

void SpanSerializer::serialize(const spans::Span& span, std::string* out) { write_span(span, out); }

RequestFramer::RequestFramer(EncoderOptions options) : options_(std::move(options)) {
  common::InstrumentationScope scope;
  message::encode_scope(options_, &scope);
  scope_bytes_ = scope.SerializeAsString();
}

const std::string& RequestFramer::resource_bytes(
    const std::shared_ptr<const spans::Resource>& resource) const {
  for (const CachedResource& cached : resource_cache_) {
    if (cached.resource == resource) return cached.bytes;
  }
  if (resource_cache_.size() >= kMaxCachedResources) resource_cache_.erase(resource_cache_.begin());
  opentelemetry::proto::resource::v1::Resource message;
  message::encode_resource(resource.get(), options_, &message);
  return resource_cache_.emplace_back(CachedResource{resource, message.SerializeAsString()}).bytes;
}

void RequestFramer::frame(std::span<const SerializedSpan> batch, std::string* out) const {
  // Field order as the generated serializers write it (by field number), so that the bytes
  // equal OtlpEncoder's: ResourceSpans{resource=1, scope_spans=2, schema_url=3},
  // ScopeSpans{scope=1, spans=2, schema_url=3}.
  struct Group {
    const std::shared_ptr<const spans::Resource>* resource;
    std::vector<const std::string*> spans;
  };
  std::vector<Group> groups;  // few: one per traced process in the batch
  for (const SerializedSpan& span : batch) {
    const spans::Resource* resource = span.resource.get();
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const Group& g) { return g.resource->get() == resource; });
    if (it == groups.end()) {
      groups.push_back({&span.resource, {}});
      it = groups.end() - 1;
    }
    it->spans.push_back(&span.bytes);
  }
  out->clear();
  std::lock_guard lock(resource_cache_mutex_);
  for (const Group& group : groups) {
    const std::string& resource_bytes = this->resource_bytes(*group.resource);

    size_t scope_spans_size = field_size(trace::ScopeSpans::kScopeFieldNumber, scope_bytes_.size());
    for (const std::string* span : group.spans) {
      scope_spans_size += field_size(trace::ScopeSpans::kSpansFieldNumber, span->size());
    }
    scope_spans_size += field_size(trace::ScopeSpans::kSchemaUrlFieldNumber, kSchemaUrl.size());
    const size_t resource_spans_size =
        field_size(trace::ResourceSpans::kResourceFieldNumber, resource_bytes.size()) +
        field_size(trace::ResourceSpans::kScopeSpansFieldNumber, scope_spans_size) +
        field_size(trace::ResourceSpans::kSchemaUrlFieldNumber, kSchemaUrl.size());

    out->reserve(out->size() +
                 field_size(ExportRequest::kResourceSpansFieldNumber, resource_spans_size));
    append_field_header(ExportRequest::kResourceSpansFieldNumber, resource_spans_size, out);
    append_field_header(trace::ResourceSpans::kResourceFieldNumber, resource_bytes.size(), out);
    out->append(resource_bytes);
    append_field_header(trace::ResourceSpans::kScopeSpansFieldNumber, scope_spans_size, out);
    append_field_header(trace::ScopeSpans::kScopeFieldNumber, scope_bytes_.size(), out);
    out->append(scope_bytes_);
    for (const std::string* span : group.spans) {
      append_field_header(trace::ScopeSpans::kSpansFieldNumber, span->size(), out);
      out->append(*span);
    }
    append_field_header(trace::ScopeSpans::kSchemaUrlFieldNumber, kSchemaUrl.size(), out);
    out->append(kSchemaUrl);
    append_field_header(trace::ResourceSpans::kSchemaUrlFieldNumber, kSchemaUrl.size(), out);
    out->append(kSchemaUrl);
  }
}

}  // namespace ztrace::otlp
