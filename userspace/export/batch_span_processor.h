#pragma once

// One bounded queue and one worker in front of a SpanExporter (opentelemetry-cpp's batch span
// processor): on_span() never blocks on export, the worker batches spans by size and delay.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>

#include "userspace/export/exporter.h"
#include "userspace/spans/span.h"

namespace ztrace::exporter {

struct BatchOptions {
  size_t max_queue_spans = 65536;              // taken but not yet exported; beyond: dropped
  size_t max_batch_spans = 512;                // spans per export_spans() call
  std::chrono::milliseconds batch_delay{200};  // longest wait before a partial batch goes out
};

struct BatchStats {
  std::atomic<uint64_t> spans_queued{0};              // taken by on_span()
  std::atomic<uint64_t> spans_dropped_queue_full{0};  // refused by on_span(): queue full
  std::atomic<uint64_t> spans_dropped_shutdown{0};    // after shutdown or past its deadline
  std::atomic<uint64_t> export_failures{0};           // export_spans() calls that lost spans
  OutputCounters output;                              // what the exporter did with the batches

  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit("queued", spans_queued.load(std::memory_order_relaxed));
    output.for_each(visit);
    visit("dropped_queue_full", spans_dropped_queue_full.load(std::memory_order_relaxed));
    visit("dropped_shutdown", spans_dropped_shutdown.load(std::memory_order_relaxed));
    visit("export_failures", export_failures.load(std::memory_order_relaxed));
  }
};

class BatchSpanProcessor final : public SpanProcessor {
 public:
  explicit BatchSpanProcessor(std::unique_ptr<SpanExporter> exporter, BatchOptions options = {});
  // shutdown(5 s from now) unless already shut down.
  ~BatchSpanProcessor() override;
  BatchSpanProcessor(const BatchSpanProcessor&) = delete;
  BatchSpanProcessor& operator=(const BatchSpanProcessor&) = delete;

  std::string_view name() const noexcept override;
  // Thread-safe, any number of producers. O(1) under a short lock, never waits on export.
  ExportOutcome on_span(const spans::Span& span) noexcept override;
  ExportOutcome on_span(spans::Span&& span) noexcept override;
  // An exporter stuck in a call at the deadline is left to finish on a detached thread, which
  // keeps the exporter alive.
  bool shutdown(std::chrono::steady_clock::time_point deadline) noexcept override;
  void for_each_counter(const CounterVisitor& visit) const override;

  const BatchStats& stats() const noexcept;

 private:
  // Shared with the worker so a worker detached at a missed deadline never outlives it.
  struct State;
  template <typename SpanRef>
  ExportOutcome enqueue(SpanRef&& span) noexcept;
  static void run_worker(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
  std::thread worker_;
  bool shut_down_ = false;
};

}  // namespace ztrace::exporter
