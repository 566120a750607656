#include "userspace/export/export_pipeline.h"

namespace ztrace::exporter {

ExportPipeline::ExportPipeline(std::vector<std::unique_ptr<SpanProcessor>> processors)
    : processors_(std::move(processors)) {}

ExportPipeline::~ExportPipeline() {
  if (!shut_down_) shutdown(std::chrono::seconds(5));
}

void ExportPipeline::submit(spans::Span&& span) noexcept {
  spans_handed_.fetch_add(1, std::memory_order_relaxed);
  if (processors_.empty()) return;
  for (size_t i = 0; i + 1 < processors_.size(); ++i) processors_[i]->on_span(std::as_const(span));
  processors_.back()->on_span(std::move(span));
}

bool ExportPipeline::shut_down_all(const Processors& processors,
                                   std::chrono::steady_clock::time_point deadline) noexcept {
  bool all_done = true;
  for (const auto& processor : processors) all_done &= processor->shutdown(deadline);
  return all_done;
}

bool ExportPipeline::shutdown(std::chrono::milliseconds deadline) noexcept {
  if (shut_down_) return true;
  shut_down_ = true;
  const auto deadline_at = std::chrono::steady_clock::now() + deadline;
  bool all_done = shut_down_all(processors_, deadline_at);
  std::lock_guard lock(offer_mutex_);  // what a reload left: never taken, or never collected
  all_done &= shut_down_all(offered_processors_, deadline_at);
  all_done &= shut_down_all(replaced_processors_, deadline_at);
  return all_done;
}

void ExportPipeline::offer(Processors processors) {
  std::lock_guard lock(offer_mutex_);
  replaced_ = false;
  // An offer not yet taken is itself replaced: it never saw a span.
  for (auto& processor : offered_processors_) replaced_processors_.push_back(std::move(processor));
  offered_processors_ = std::move(processors);
  offered_.store(true, std::memory_order_release);
}

void ExportPipeline::take_offer() noexcept {
  if (!offered_.load(std::memory_order_acquire)) return;
  {
    std::lock_guard lock(offer_mutex_);
    offered_.store(false, std::memory_order_relaxed);
    for (auto& processor : processors_) replaced_processors_.push_back(std::move(processor));
    processors_ = std::move(offered_processors_);
    offered_processors_.clear();
    replaced_ = true;
  }
  replaced_cv_.notify_all();
}

bool ExportPipeline::shut_down_replaced(std::chrono::milliseconds wait,
                                        std::chrono::milliseconds deadline) {
  Processors replaced;
  {
    std::unique_lock lock(offer_mutex_);
    if (!replaced_cv_.wait_for(lock, wait, [this] { return replaced_; })) return false;
    replaced = std::move(replaced_processors_);
    replaced_processors_.clear();
  }
  return shut_down_all(replaced, std::chrono::steady_clock::now() + deadline);
}

ExportStats ExportPipeline::stats() const {
  ExportStats stats;
  stats.spans_handed = spans_handed_.load(std::memory_order_relaxed);
  for (const auto& processor : processors_) {
    ExportStats::Processor& entry = stats.processors.emplace_back();
    entry.name = processor->name();
    processor->for_each_counter([&](std::string_view counter, uint64_t value) {
      entry.counters.emplace_back(counter, value);
    });
  }
  return stats;
}

}  // namespace ztrace::exporter
