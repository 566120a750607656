#pragma once

// Human-readable span lines for development and demos:
//   SERVER GET /hello 200  1.234ms  python3[1234]  trace=<32hex> span=<16hex> parent=<16hex|->

#include <cstdio>
#include <string>

#include "userspace/export/exporter.h"
#include "userspace/export/rate_limited_log.h"

namespace ztrace::exporter {

class ConsoleExporter final : public SpanExporter {
 public:
  // `out` is borrowed and must outlive the exporter.
  explicit ConsoleExporter(FILE* out = stdout) : out_(out) {}

  std::string_view name() const noexcept override { return "console"; }
  // A batch whose write fails (a closed pipe, a full disk) is counted lost and logged
  // (rate-limited).
  ExportResult export_spans(std::span<const spans::Span> batch) noexcept override;
  void flush() noexcept override;

  // The line for one span, without the trailing newline.
  static std::string format_line(const spans::Span& span);

 private:
  FILE* out_;
  RateLimitedLog errors_;
};

}  // namespace ztrace::exporter
