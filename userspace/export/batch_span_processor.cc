#include "userspace/export/batch_span_processor.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <utility>
#include <vector>

namespace ztrace::exporter {

struct BatchSpanProcessor::State {
  State(std::unique_ptr<SpanExporter> exporter_in, BatchOptions options_in)
      : exporter(std::move(exporter_in)), options(options_in) {
    options.max_queue_spans = std::max<size_t>(options.max_queue_spans, 1);
    options.max_batch_spans = std::max<size_t>(options.max_batch_spans, 1);
  }

  const std::unique_ptr<SpanExporter> exporter;  // called by the worker only
  BatchOptions options;
  BatchStats stats;

  std::mutex mutex;
  std::condition_variable wake_worker;
  std::condition_variable worker_done_changed;
  std::vector<spans::Span> queue;  // guarded by mutex
  // Taken and not yet exported, including the spans the worker holds: the real memory bound.
  size_t pending_spans = 0;  // guarded by mutex
  bool stopping = false;     // guarded by mutex
  bool worker_done = false;  // guarded by mutex
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

BatchSpanProcessor::BatchSpanProcessor(std::unique_ptr<SpanExporter> exporter, BatchOptions options)
    : state_(std::make_shared<State>(std::move(exporter), options)), worker_(run_worker, state_) {}

BatchSpanProcessor::~BatchSpanProcessor() {
  if (!shut_down_) shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

std::string_view BatchSpanProcessor::name() const noexcept { return state_->exporter->name(); }

const BatchStats& BatchSpanProcessor::stats() const noexcept { return state_->stats; }

void BatchSpanProcessor::for_each_counter(const CounterVisitor& visit) const {
  state_->stats.for_each(visit);
}

ExportOutcome BatchSpanProcessor::on_span(const spans::Span& span) noexcept {
  return enqueue(span);
}

ExportOutcome BatchSpanProcessor::on_span(spans::Span&& span) noexcept {
  return enqueue(std::move(span));
}

template <typename SpanRef>
ExportOutcome BatchSpanProcessor::enqueue(SpanRef&& span) noexcept {
  State& state = *state_;
  bool wake = false;
  {
    std::lock_guard lock(state.mutex);
    if (state.stopping) {
      state.stats.spans_dropped_shutdown.fetch_add(1, std::memory_order_relaxed);
      return ExportOutcome::kCancelled;
    }
    if (state.pending_spans >= state.options.max_queue_spans) {
      state.stats.spans_dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
      return ExportOutcome::kPermanent;
    }
    try {
      state.queue.push_back(std::forward<SpanRef>(span));
    } catch (...) {  // std::bad_alloc: same outcome as a full queue
      state.stats.spans_dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
      return ExportOutcome::kPermanent;
    }
    ++state.pending_spans;
    // Edge-triggered: one wake-up per full batch, and early at half the queue (as the OTel
    // batch span processor does) so a burst does not wait for the delay.
    const size_t queued = state.queue.size();
    wake = queued == state.options.max_batch_spans || queued == state.options.max_queue_spans / 2;
  }
  state.stats.spans_queued.fetch_add(1, std::memory_order_relaxed);
  if (wake) state.wake_worker.notify_one();
  return ExportOutcome::kSuccess;
}

void BatchSpanProcessor::run_worker(std::shared_ptr<State> state_ptr) {
  State& state = *state_ptr;
  const size_t batch_spans = state.options.max_batch_spans;
  // Swapped with the queue under the lock: O(1), and both vectors keep their capacity.
  std::vector<spans::Span> drained;
  while (true) {
    bool stopping = false;
    auto deadline = std::chrono::steady_clock::time_point::max();
    {
      std::unique_lock lock(state.mutex);
      state.wake_worker.wait_for(lock, state.options.batch_delay, [&] {
        return state.stopping || state.queue.size() >= batch_spans;
      });
      // Stop once nothing is left: spans taken before shutdown() still go out.
      if (state.stopping && state.queue.empty()) break;
      drained.swap(state.queue);
      stopping = state.stopping;
      deadline = state.deadline;
    }

    size_t done = 0;
    while (done < drained.size()) {
      if (stopping && std::chrono::steady_clock::now() >= deadline) break;
      const size_t count = std::min(batch_spans, drained.size() - done);
      const std::span<const spans::Span> batch(drained.data() + done, count);
      const ExportResult result = state.exporter->export_spans(batch);
      state.stats.output.count(result);
      if (result.outcome() != ExportOutcome::kSuccess) {
        state.stats.export_failures.fetch_add(1, std::memory_order_relaxed);
      }
      done += count;
      std::lock_guard lock(state.mutex);
      state.pending_spans -= count;
      stopping = state.stopping;
      deadline = state.deadline;
    }
    if (done < drained.size()) {  // past the shutdown deadline
      const size_t dropped = drained.size() - done;
      state.stats.spans_dropped_shutdown.fetch_add(dropped, std::memory_order_relaxed);
      std::lock_guard lock(state.mutex);
      state.pending_spans -= dropped;
    }
    drained.clear();
  }
  state.exporter->flush();
  {
    std::lock_guard lock(state.mutex);
    state.worker_done = true;
  }
  state.worker_done_changed.notify_all();
}

bool BatchSpanProcessor::shutdown(std::chrono::steady_clock::time_point deadline) noexcept {
  if (shut_down_) return true;
  shut_down_ = true;
  State& state = *state_;
  bool done = false;
  {
    std::unique_lock lock(state.mutex);
    state.stopping = true;
    state.deadline = deadline;
    state.wake_worker.notify_one();
    done = state.worker_done_changed.wait_until(lock, deadline, [&] { return state.worker_done; });
  }
  if (done) {
    worker_.join();
  } else {
    worker_.detach();
  }
  return done;
}

}  // namespace ztrace::exporter
