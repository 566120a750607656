#pragma once

// The reference OTLP encoder: builds the request as a tree of generated message classes. Not
// linked into the agent: tests hold the exporter's wire bytes (otlp_encoder.h) equal to what
// SerializeToString makes of this.

#include <span>

#include "userspace/export/otlp/otlp_encoder.h"
#include "userspace/spans/span.h"

namespace ztrace::otlp {

class OtlpEncoder {
 public:
  explicit OtlpEncoder(EncoderOptions options);

  // Fills `request` (cleared first) with `batch`. Resources appear in order of their first
  // span; spans keep their order within a resource.
  void encode(std::span<const spans::Span> batch, ExportRequest* request) const;

 private:
  EncoderOptions options_;
};

}  // namespace ztrace::otlp
