#pragma once

// Bounded hand-off from the span pipeline thread to the exporters: submit() never blocks on
// export, a worker thread batches spans and calls every exporter in turn.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "userspace/export/exporter.h"
#include "userspace/spans/span.h"

namespace ztrace::exporter {

struct ExportPipelineOptions {
  size_t max_queue_spans = 65536;              // submitted but not yet exported; beyond: dropped
  size_t max_batch_spans = 512;                // spans per export_spans() call
  std::chrono::milliseconds batch_delay{200};  // longest wait before a partial batch goes out
};

// What one output did with the spans handed to it (sums of its ExportResults).
struct OutputStats {
  explicit OutputStats(std::string_view output_name) : name(output_name) {}
  const std::string name;
  std::atomic<uint64_t> spans_accepted{0};      // written out whole, or queued (OTLP)
  std::atomic<uint64_t> spans_write_failed{0};  // lost to a failed write
  std::atomic<uint64_t> spans_refused{0};       // not taken (the output's bounds, memory)
};

struct ExportStats {
  std::atomic<uint64_t> spans_queued{0};              // accepted by submit()
  std::atomic<uint64_t> spans_handed_to_outputs{0};   // given to every output: see `outputs`
  std::atomic<uint64_t> spans_dropped_queue_full{0};  // refused by submit(): queue full
  std::atomic<uint64_t> spans_dropped_shutdown{0};    // after shutdown or past its deadline
  // One per output, in the order given; built before the worker starts, never resized.
  std::deque<OutputStats> outputs;
};

class ExportPipeline {
 public:
  ExportPipeline(std::vector<std::unique_ptr<SpanExporter>> exporters,
                 ExportPipelineOptions options = {});
  // shutdown(5 s) unless already shut down.
  ~ExportPipeline();
  ExportPipeline(const ExportPipeline&) = delete;
  ExportPipeline& operator=(const ExportPipeline&) = delete;

  // Thread-safe, any number of producers. O(1) under a short lock, never waits on export.
  // False when the span was dropped (queue full, or shut down); the drop is counted.
  bool submit(spans::Span&& span) noexcept;

  // Exports what is queued, flushes the exporters and stops the worker, within `deadline`.
  // Spans still queued at the deadline are dropped and counted. False when the deadline
  // passed; an exporter stuck in a call is then left to finish on a detached thread, which
  // keeps the exporters alive. Idempotent; call from one thread.
  bool shutdown(std::chrono::milliseconds deadline) noexcept;

  const ExportStats& stats() const noexcept;

 private:
  // Shared with the worker so a worker detached at a missed deadline never outlives it.
  struct State;
  static void run_worker(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
  std::thread worker_;
  bool shut_down_ = false;
};

}  // namespace ztrace::exporter
