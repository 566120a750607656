#pragma once

// One JSON object per span per line. The schema is documented in the README and stable:
//   {"trace_id": "<32 hex>", "span_id": "<16 hex>", "parent_span_id": "<16 hex>" | "",
//    "name": str, "kind": "SERVER|CLIENT|PRODUCER|CONSUMER|INTERNAL",
//    "start_time_unix_nano": n, "end_time_unix_nano": n,
//    "status": {"code": "UNSET|OK|ERROR", "message": str},
//    "attributes": {key: value}, "resource": {key: value}}
// Values keep their JSON type (string, integer, number, boolean). Invalid UTF-8 in strings
// (captured traffic) is replaced by U+FFFD.

#include <cstdio>
#include <memory>
#include <string>

#include "userspace/export/exporter.h"

namespace ztrace::exporter {

class JsonlExporter final : public SpanExporter {
 public:
  // Opens `path` for appending ("-": stdout). nullptr and `*error` set on failure.
  static std::unique_ptr<JsonlExporter> open(const std::string& path, std::string* error);

  // Writes to `out`; closes it on destruction when `owns_out`.
  JsonlExporter(FILE* out, bool owns_out) : out_(out), owns_out_(owns_out) {}
  ~JsonlExporter() override;
  JsonlExporter(const JsonlExporter&) = delete;
  JsonlExporter& operator=(const JsonlExporter&) = delete;

  std::string_view name() const noexcept override { return "jsonl"; }
  ExportOutcome export_spans(std::span<const spans::Span> batch) noexcept override;
  void flush() noexcept override;

  // The JSON line for one span, without the trailing newline.
  static std::string format_line(const spans::Span& span);

 private:
  static void append_line(std::string& out, const spans::Span& span);

  FILE* out_;
  bool owns_out_;
  std::string buffer_;  // a batch's lines, reused: one write per batch
};

}  // namespace ztrace::exporter
