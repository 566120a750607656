#include "userspace/export/otlp/reference/message_encoder.h"

#include <string_view>
#include <unordered_map>
#include <utility>

namespace ztrace::otlp {
namespace {

namespace trace = opentelemetry::proto::trace::v1;
using message::set_key_value;
using message::set_utf8;
using message::to_proto;

void encode_span(const spans::Span& span, trace::Span* out) {
  out->set_trace_id(span.trace_id.data(), span.trace_id.size());
  out->set_span_id(span.span_id.data(), span.span_id.size());
  if (!span.trace_state.empty()) out->set_trace_state(span.trace_state);
  if (!spans::is_zero(span.parent_span_id)) {
    out->set_parent_span_id(span.parent_span_id.data(), span.parent_span_id.size());
  }
  // W3C trace flags in the low byte of Span.flags (trace.proto, SpanFlags).
  out->set_flags(span.trace_flags);
  set_utf8(span.name, [&](std::string_view s) { out->set_name(s.data(), s.size()); });
  out->set_kind(to_proto(span.kind));
  out->set_start_time_unix_nano(span.start_time_unix_nano);
  out->set_end_time_unix_nano(span.end_time_unix_nano);
  out->mutable_attributes()->Reserve(static_cast<int>(span.attributes.size()));
  for (const auto& attribute : span.attributes) {
    set_key_value(attribute.key, attribute.value, out->add_attributes());
  }
  for (const spans::SpanLink& link : span.links) {
    trace::Span::Link* out_link = out->add_links();
    out_link->set_trace_id(link.trace_id.data(), link.trace_id.size());
    out_link->set_span_id(link.span_id.data(), link.span_id.size());
    out_link->set_flags(link.trace_flags);
  }
  if (span.status_code != spans::StatusCode::kUnset || !span.status_message.empty()) {
    trace::Status* status = out->mutable_status();
    status->set_code(to_proto(span.status_code));
    set_utf8(span.status_message,
             [&](std::string_view s) { status->set_message(s.data(), s.size()); });
  }
}

}  // namespace

OtlpEncoder::OtlpEncoder(EncoderOptions options) : options_(std::move(options)) {}

void OtlpEncoder::encode(std::span<const spans::Span> batch, ExportRequest* request) const {
  request->Clear();
  // Few resources per batch (one per traced process): a small map, reset per batch because a
  // Resource's address may be reused once its process is gone.
  std::unordered_map<const spans::Resource*, trace::ScopeSpans*> scope_of;
  for (const spans::Span& span : batch) {
    const spans::Resource* resource = span.resource.get();
    auto [it, inserted] = scope_of.try_emplace(resource, nullptr);
    if (inserted) {
      trace::ResourceSpans* resource_spans = request->add_resource_spans();
      resource_spans->set_schema_url(kSchemaUrl.data(), kSchemaUrl.size());
      message::encode_resource(resource, options_, resource_spans->mutable_resource());
      trace::ScopeSpans* scope_spans = resource_spans->add_scope_spans();
      scope_spans->set_schema_url(kSchemaUrl.data(), kSchemaUrl.size());
      message::encode_scope(options_, scope_spans->mutable_scope());
      it->second = scope_spans;
    }
    encode_span(span, it->second->add_spans());
  }
}

}  // namespace ztrace::otlp
