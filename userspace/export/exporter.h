#pragma once

// Span exporter contract. Exporters are owned through std::unique_ptr (usually by an
// ExportPipeline) and called from one worker thread: implementations need no locking.

#include <cstddef>
#include <span>
#include <string_view>

#include "userspace/spans/span.h"

namespace ztrace::exporter {

// What an output did with one batch: each span was taken whole or lost, for one reason.
struct ExportResult {
  size_t accepted = 0;      // written out whole, or queued for sending (OTLP)
  size_t write_failed = 0;  // lost to a failed write (full disk, closed pipe)
  size_t refused = 0;       // not taken: the output's own bounds, memory, shutdown

  static ExportResult all_accepted(size_t spans) { return {.accepted = spans}; }
  bool complete() const { return write_failed == 0 && refused == 0; }
};

class SpanExporter {
 public:
  virtual ~SpanExporter();

  virtual std::string_view name() const noexcept = 0;

  // Exports one batch. Must not throw.
  virtual ExportResult export_spans(std::span<const spans::Span> batch) noexcept = 0;

  // Pushes out anything buffered; called at shutdown.
  virtual void flush() noexcept {}
};

}  // namespace ztrace::exporter
