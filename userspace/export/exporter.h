#pragma once

// The two halves of export, as in opentelemetry-cpp: a SpanExporter writes batches, a
// SpanProcessor takes spans one by one from the pipeline thread and owns the one bounded
// queue and worker in front of its output. ExportPipeline fans spans out to processors.

#include <chrono>
#include <functional>
#include <span>
#include <string_view>
#include <utility>

#include "userspace/spans/span.h"

namespace ztrace::exporter {

// What became of spans handed over (OTLP specification, "Failures").
enum class ExportOutcome {
  kSuccess,    // written, sent, or taken into a queue
  kRetryable,  // a transient failure: trying again may work
  kPermanent,  // lost: a failure that trying again will not fix, or a queue at its bound
  kCancelled,  // given up because the exporter is stopping
};

// Writes batches; called from one worker thread (a BatchSpanProcessor's): needs no locking.
class SpanExporter {
 public:
  virtual ~SpanExporter();

  virtual std::string_view name() const noexcept = 0;
  virtual ExportOutcome export_spans(std::span<const spans::Span> batch) noexcept = 0;
  // Pushes out anything buffered; called at shutdown.
  virtual void flush() noexcept {}
};

using CounterVisitor = std::function<void(std::string_view name, uint64_t value)>;

// Takes spans from the pipeline thread and never waits on export: it queues them (bounded;
// beyond the bound they are dropped and counted) for its own worker.
class SpanProcessor {
 public:
  virtual ~SpanProcessor();

  virtual std::string_view name() const noexcept = 0;
  // kSuccess when queued; kPermanent when dropped at the queue's bound; kCancelled after
  // shutdown. Drops are counted by the processor.
  virtual ExportOutcome on_span(const spans::Span& span) noexcept = 0;
  // The same for a span nobody reads after this call: a processor that keeps spans moves it.
  virtual ExportOutcome on_span(spans::Span&& span) noexcept {
    return on_span(std::as_const(span));
  }
  // Exports what is queued and stops, by `deadline`; spans still queued then are dropped and
  // counted. False when the deadline passed. Idempotent; call from one thread.
  virtual bool shutdown(std::chrono::steady_clock::time_point deadline) noexcept = 0;
  // Its counters by name, for the counters log line (none: it logs its own).
  virtual void for_each_counter(const CounterVisitor& /*visit*/) const {}
};

}  // namespace ztrace::exporter
