#pragma once

// One JSON object per span per line. The schema is documented in the README and stable:
//   {"trace_id": "<32 hex>", "span_id": "<16 hex>", "parent_span_id": "<16 hex>" | "",
//    "name": str, "kind": "SERVER|CLIENT|PRODUCER|CONSUMER|INTERNAL",
//    "start_time_unix_nano": n, "end_time_unix_nano": n,
//    "status": {"code": "UNSET|OK|ERROR", "message": str},
//    "attributes": {key: value}, "resource": {key: value}}
// Values keep their JSON type (string, integer, number, boolean). Invalid UTF-8 in strings
// (captured traffic) is replaced by U+FFFD.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "userspace/export/exporter.h"
#include "userspace/export/rate_limited_log.h"

namespace ztrace::exporter {

// Whole lines or nothing: a write that fails part-way (a full disk) is cut back to the last
// whole line, or, where the file cannot be cut (a pipe), the next write starts a fresh line.
// Spans lost that way are counted as write_failed and logged (rate-limited).
class JsonlExporter final : public SpanExporter {
 public:
  // Opens `path` for appending ("-": stdout). nullptr and `*error` set on failure.
  static std::unique_ptr<JsonlExporter> open(const std::string& path, std::string* error);

  // Writes to `fd` (`path` names it in logs); closes it on destruction when `owns_fd`.
  JsonlExporter(int fd, bool owns_fd, std::string path)
      : fd_(fd), owns_fd_(owns_fd), path_(std::move(path)) {}
  ~JsonlExporter() override;
  JsonlExporter(const JsonlExporter&) = delete;
  JsonlExporter& operator=(const JsonlExporter&) = delete;

  std::string_view name() const noexcept override { return "jsonl"; }
  ExportResult export_spans(std::span<const spans::Span> batch) noexcept override;

  // The JSON line for one span, without the trailing newline.
  static std::string format_line(const spans::Span& span);

 private:
  static void append_line(std::string& out, const spans::Span& span);
  // Formats the batch into buffer_ (one write); line_ends_ gets each line's end offset.
  // Returns the spans that could not be formatted (memory).
  size_t format_batch(std::span<const spans::Span> batch);
  // Writes buffer_; returns the bytes written before an error (errno set), or all of them.
  size_t write_buffer();
  // After a failed write of `written` bytes: leaves the file ending in a whole line.
  void drop_fragment(size_t written);

  int fd_;
  bool owns_fd_;
  std::string path_;
  std::string buffer_;             // a batch's lines, reused: one write per batch
  std::vector<size_t> line_ends_;  // offsets in buffer_ just past each line's '\n'
  bool ends_in_fragment_ = false;  // the file ends in part of a line that could not be cut
  RateLimitedLog errors_;
};

}  // namespace ztrace::exporter
