#pragma once

// Span exporter contract. Exporters are owned through std::unique_ptr (usually by an
// ExportPipeline) and called from one worker thread: implementations need no locking.

#include <span>
#include <string_view>

#include "userspace/spans/span.h"

namespace ztrace::exporter {

class SpanExporter {
 public:
  virtual ~SpanExporter();

  virtual std::string_view name() const noexcept = 0;

  // Exports one batch; false when it was (at least partly) lost. Must not throw.
  virtual bool export_spans(std::span<const spans::Span> batch) noexcept = 0;

  // Pushes out anything buffered; called at shutdown.
  virtual void flush() noexcept {}
};

}  // namespace ztrace::exporter
