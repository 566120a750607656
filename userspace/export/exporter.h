#pragma once

// The two halves of export, as in opentelemetry-cpp: a SpanExporter writes batches, a
// SpanProcessor takes spans one by one from the pipeline thread and owns the one bounded
// queue and worker in front of its output. ExportPipeline fans spans out to processors.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
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

// What an output did with one batch: each span was taken whole or lost, for one reason.
struct ExportResult {
  size_t accepted = 0;      // written out whole, or queued for sending (OTLP)
  size_t write_failed = 0;  // lost to a failed write (full disk, closed pipe)
  size_t refused = 0;       // not taken: the output's own bounds, memory, shutdown

  static ExportResult all_accepted(size_t spans) { return {.accepted = spans}; }
  bool complete() const { return write_failed == 0 && refused == 0; }
  // The batch as a whole: these outputs never retry, so a loss is permanent.
  ExportOutcome outcome() const {
    return complete() ? ExportOutcome::kSuccess : ExportOutcome::kPermanent;
  }
};

// What one output did with the spans handed to it (sums of its ExportResults and of the
// processor's own refusals). Named for the `outputs:` log line.
struct OutputCounters {
  std::atomic<uint64_t> accepted{0};      // written out whole, or queued (OTLP)
  std::atomic<uint64_t> write_failed{0};  // lost to a failed write
  std::atomic<uint64_t> refused{0};       // not taken by the exporter (its bounds, memory)

  void count(const ExportResult& result) {
    accepted.fetch_add(result.accepted, std::memory_order_relaxed);
    write_failed.fetch_add(result.write_failed, std::memory_order_relaxed);
    refused.fetch_add(result.refused, std::memory_order_relaxed);
  }
  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit("accepted", accepted.load(std::memory_order_relaxed));
    visit("write_failed", write_failed.load(std::memory_order_relaxed));
    visit("refused", refused.load(std::memory_order_relaxed));
  }
};

// Writes batches; called from one worker thread (a BatchSpanProcessor's): needs no locking.
class SpanExporter {
 public:
  virtual ~SpanExporter();

  virtual std::string_view name() const noexcept = 0;
  // Every span of the batch is counted once: accepted, write_failed or refused;
  // ExportResult::outcome() is the batch's ExportOutcome. Must not throw.
  virtual ExportResult export_spans(std::span<const spans::Span> batch) noexcept = 0;
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
  // Its counters by name, for the `outputs:` log line: at least accepted, write_failed and
  // refused (OutputCounters).
  virtual void for_each_counter(const CounterVisitor& /*visit*/) const {}
};

}  // namespace ztrace::exporter
