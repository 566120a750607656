#include "userspace/export/export_pipeline.h"

#include <algorithm>
#include <utility>

namespace ztrace::exporter {

struct ExportPipeline::State {
  State(std::vector<std::unique_ptr<SpanExporter>> exporters_in, ExportPipelineOptions options_in)
      : exporters(std::move(exporters_in)), options(options_in) {
    options.max_queue_spans = std::max<size_t>(options.max_queue_spans, 1);
    options.max_batch_spans = std::max<size_t>(options.max_batch_spans, 1);
    for (const auto& exporter : exporters) stats.outputs.emplace_back(exporter->name());
  }

  std::vector<std::unique_ptr<SpanExporter>> exporters;  // used by the worker only
  ExportPipelineOptions options;
  ExportStats stats;

  std::mutex mutex;
  std::condition_variable wake_worker;
  std::condition_variable worker_done_changed;
  std::vector<spans::Span> queue;  // guarded by mutex
  // Accepted and not yet exported, including the spans the worker holds: the real memory bound.
  size_t pending_spans = 0;  // guarded by mutex
  bool stopping = false;     // guarded by mutex
  bool worker_done = false;  // guarded by mutex
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

namespace {

void count_result(const ExportResult& result, OutputStats& output) {
  output.spans_accepted.fetch_add(result.accepted, std::memory_order_relaxed);
  output.spans_write_failed.fetch_add(result.write_failed, std::memory_order_relaxed);
  output.spans_refused.fetch_add(result.refused, std::memory_order_relaxed);
}

}  // namespace

ExportPipeline::ExportPipeline(std::vector<std::unique_ptr<SpanExporter>> exporters,
                               ExportPipelineOptions options)
    : state_(std::make_shared<State>(std::move(exporters), options)), worker_(run_worker, state_) {}

ExportPipeline::~ExportPipeline() {
  if (!shut_down_) shutdown(std::chrono::seconds(5));
}

const ExportStats& ExportPipeline::stats() const noexcept { return state_->stats; }

bool ExportPipeline::submit(spans::Span&& span) noexcept {
  State& state = *state_;
  bool wake = false;
  {
    std::lock_guard lock(state.mutex);
    if (state.stopping) {
      state.stats.spans_dropped_shutdown.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (state.pending_spans >= state.options.max_queue_spans) {
      state.stats.spans_dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    try {
      state.queue.push_back(std::move(span));
    } catch (...) {  // std::bad_alloc: same outcome as a full queue
      state.stats.spans_dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    ++state.pending_spans;
    // Edge-triggered: one wake-up per full batch, and early at half the queue (as the OTel
    // batch span processor does) so a burst does not wait for the delay.
    const size_t queued = state.queue.size();
    wake = queued == state.options.max_batch_spans || queued == state.options.max_queue_spans / 2;
  }
  state.stats.spans_queued.fetch_add(1, std::memory_order_relaxed);
  if (wake) state.wake_worker.notify_one();
  return true;
}

void ExportPipeline::run_worker(std::shared_ptr<State> state_ptr) {
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
      // Stop once nothing is left: spans submitted before shutdown() still go out.
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
      for (size_t i = 0; i < state.exporters.size(); ++i) {
        count_result(state.exporters[i]->export_spans(batch), state.stats.outputs[i]);
      }
      state.stats.spans_handed_to_outputs.fetch_add(count, std::memory_order_relaxed);
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
  for (const auto& exporter : state.exporters) exporter->flush();
  {
    std::lock_guard lock(state.mutex);
    state.worker_done = true;
  }
  state.worker_done_changed.notify_all();
}

bool ExportPipeline::shutdown(std::chrono::milliseconds deadline) noexcept {
  if (shut_down_) return true;
  shut_down_ = true;
  State& state = *state_;
  const auto deadline_at = std::chrono::steady_clock::now() + deadline;
  bool done = false;
  {
    std::unique_lock lock(state.mutex);
    state.stopping = true;
    state.deadline = deadline_at;
    state.wake_worker.notify_one();
    done =
        state.worker_done_changed.wait_until(lock, deadline_at, [&] { return state.worker_done; });
  }
  if (done) {
    worker_.join();
  } else {
    worker_.detach();
  }
  return done;
}

}  // namespace ztrace::exporter
