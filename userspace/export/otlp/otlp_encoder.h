#pragma once

// Spans → opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest (types generated
// from the opentelemetry-proto .proto files). One ResourceSpans per process resource (spans
// share a Resource by pointer), one ScopeSpans with the InstrumentationScope `ztrace` and the
// agent's version, the semantic-conventions schema URL on both.

#include <google/protobuf/arena.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
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

class OtlpEncoder {
 public:
  explicit OtlpEncoder(EncoderOptions options);

  // Fills `request` (cleared first) with `batch`. Resources appear in order of their first
  // span; spans keep their order within a resource.
  // Invalid UTF-8 (captured traffic) becomes U+FFFD: proto3 `string` fields must be valid UTF-8,
  // and receivers built on Go's protobuf (the Collector) reject a whole request that breaks this.
  void encode(std::span<const spans::Span> batch, ExportRequest* request) const;

 private:
  EncoderOptions options_;
};

// A request rebuilt for every batch on an arena that keeps its first block: the objects of
// the message tree cost no malloc/free (which dominated encoding with a heap-allocated
// request, ~35% of the CPU in perf).
class ArenaRequest {
 public:
  explicit ArenaRequest(size_t initial_block_bytes = 4u << 20);
  ArenaRequest(const ArenaRequest&) = delete;
  ArenaRequest& operator=(const ArenaRequest&) = delete;

  // Frees the previous request and encodes `batch` into a new one, valid until the next call.
  ExportRequest* encode(const OtlpEncoder& encoder, std::span<const spans::Span> batch);

 private:
  std::unique_ptr<char[]> initial_block_;
  std::unique_ptr<google::protobuf::Arena> arena_;
};

}  // namespace ztrace::otlp
