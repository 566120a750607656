#pragma once

// Spans → opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest (types generated
// from the opentelemetry-proto .proto files). One ResourceSpans per process resource (spans
// share a Resource by pointer), one ScopeSpans with the InstrumentationScope `ztrace` and the
// agent's version, the semantic-conventions schema URL on both. The message-tree encoder these
// bytes are held to is reference/message_encoder.h (tests only).

#include <google/protobuf/arena.h>

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "userspace/common/utf8.h"
#include "userspace/spans/span.h"

namespace ztrace::otlp {

// The semantic conventions release whose names the spans use (stable HTTP conventions, the
// process and host resource attributes).
inline constexpr std::string_view kSchemaUrl = "https://opentelemetry.io/schemas/1.26.0";
inline constexpr std::string_view kScopeName = "ztrace";

using ExportRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

struct EncoderOptions {
  std::string agent_version;
  // Added to each resource unless the process's own resource has the key.
  spans::Attributes extra_resource_attributes;
};

// Message pieces the framer builds resources and scope with; the reference encoder builds
// everything with them. Invalid UTF-8 (captured traffic) becomes U+FFFD: proto3 `string`
// fields must be valid UTF-8, and receivers built on Go's protobuf (the Collector) reject a
// whole request that breaks this.
namespace message {

// Calls `set` with `value`, or with a repaired copy when it is not valid UTF-8.
template <typename Setter>
void set_utf8(std::string_view value, Setter set) {
  if (utf8::is_valid(value)) {
    set(value);
  } else {
    const std::string repaired = utf8::with_replacement_characters(value);
    set(std::string_view(repaired));
  }
}

void set_key_value(std::string_view key, const spans::AttributeValue& value,
                   opentelemetry::proto::common::v1::KeyValue* out);
opentelemetry::proto::trace::v1::Span::SpanKind to_proto(spans::SpanKind kind);
opentelemetry::proto::trace::v1::Status::StatusCode to_proto(spans::StatusCode code);
// The process's resource, plus the extra attributes whose keys it does not have.
void encode_resource(const spans::Resource* resource, const EncoderOptions& options,
                     opentelemetry::proto::resource::v1::Resource* out);
void encode_scope(const EncoderOptions& options,
                  opentelemetry::proto::common::v1::InstrumentationScope* out);

}  // namespace message

// The exporter's path, byte-identical to the reference OtlpEncoder + SerializeToString (tested):
// each span is serialized once when it is handed over (so the queue holds one buffer per span
// instead of a copy of every string of it), and a request is framed around those bytes at send
// time with the generated field numbers.
struct SerializedSpan {
  std::string bytes;  // a serialized opentelemetry.proto.trace.v1.Span
  std::shared_ptr<const spans::Resource> resource;
};

// Writes the wire bytes directly (no message is built); thread-safe.
class SpanSerializer {
 public:
  void serialize(const spans::Span& span, std::string* out);
};

class RequestFramer {
 public:
  explicit RequestFramer(EncoderOptions options);

  // A serialized ExportTraceServiceRequest of `batch` in `*out` (replaced): one ResourceSpans
  // per resource in order of first appearance, spans in order within it.
  void frame(std::span<const SerializedSpan> batch, std::string* out) const;

 private:
  // The serialized Resource of `resource` (with the extra attributes): built once per resource,
  // which is immutable once built. The cache holds the resource, so its address is not reused
  // while cached.
  const std::string& resource_bytes(const std::shared_ptr<const spans::Resource>& resource) const;

  EncoderOptions options_;
  std::string scope_bytes_;  // the serialized InstrumentationScope, the same for every request
  struct CachedResource {
    std::shared_ptr<const spans::Resource> resource;
    std::string bytes;
  };
  static constexpr size_t kMaxCachedResources = 64;  // oldest dropped beyond this
  mutable std::mutex resource_cache_mutex_;
  mutable std::vector<CachedResource> resource_cache_;  // guarded by resource_cache_mutex_
};

}  // namespace ztrace::otlp
