#pragma once

// The fan-out from the span pipeline thread to the span processors (console, JSON lines,
// OTLP), each with its own bounded queue and worker: nothing here queues, batches or waits.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "userspace/export/exporter.h"
#include "userspace/spans/span.h"

namespace ztrace::exporter {

// Every processor's counters at one moment, by processor (the `outputs:` log line).
struct ExportStats {
  struct Processor {
    std::string name;
    std::vector<std::pair<std::string_view, uint64_t>> counters;

    template <typename Visit>
    void for_each(Visit&& visit) const {
      for (const auto& [counter, value] : counters) visit(counter, value);
    }
    // The counter of that name; 0 when the processor has none.
    uint64_t counter(std::string_view counter_name) const {
      for (const auto& [counter, value] : counters) {
        if (counter == counter_name) return value;
      }
      return 0;
    }
  };
  uint64_t spans_handed = 0;  // given to every processor by submit()
  std::vector<Processor> processors;
};

class ExportPipeline {
 public:
  // Processors that only read spans should come first: the last one is handed the span itself,
  // the others a copy to keep.
  explicit ExportPipeline(std::vector<std::unique_ptr<SpanProcessor>> processors);
  // shutdown(5 s) unless already shut down.
  ~ExportPipeline();
  ExportPipeline(const ExportPipeline&) = delete;
  ExportPipeline& operator=(const ExportPipeline&) = delete;

  // Hands the span to every processor; never waits on export (drops are the processors' and
  // counted there). Called from one thread.
  void submit(spans::Span&& span) noexcept;

  // Shuts every processor down by `deadline` from now; false when one missed it.
  // Idempotent; call from one thread.
  bool shutdown(std::chrono::milliseconds deadline) noexcept;

  ExportStats stats() const;

  // A reload's new processors: offered by any thread, taken by submit()'s thread at its next
  // take_offer(), which hands the old ones back. The offering thread then flushes and shuts
  // them down with shut_down_replaced(), so that no span is lost and the pipeline never waits
  // on a flush.
  using Processors = std::vector<std::unique_ptr<SpanProcessor>>;
  void offer(Processors processors);
  void take_offer() noexcept;  // submit()'s thread
  // The processors take_offer() replaced, shut down by `deadline`; false when they were not
  // replaced within `wait` (they are then shut down with the pipeline) or missed the deadline.
  bool shut_down_replaced(std::chrono::milliseconds wait, std::chrono::milliseconds deadline);

 private:
  static bool shut_down_all(const Processors& processors,
                            std::chrono::steady_clock::time_point deadline) noexcept;

  Processors processors_;
  std::mutex offer_mutex_;
  std::condition_variable replaced_cv_;
  std::atomic<bool> offered_{false};
  Processors offered_processors_;          // guarded by offer_mutex_
  Processors replaced_processors_;         // guarded by offer_mutex_
  bool replaced_ = false;                  // guarded by offer_mutex_
  std::atomic<uint64_t> spans_handed_{0};  // written by submit()'s thread, read by stats()
  bool shut_down_ = false;
};

}  // namespace ztrace::exporter
