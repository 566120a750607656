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

bool ExportPipeline::shutdown(std::chrono::milliseconds deadline) noexcept {
  if (shut_down_) return true;
  shut_down_ = true;
  const auto deadline_at = std::chrono::steady_clock::now() + deadline;
  bool all_done = true;
  for (const auto& processor : processors_) all_done &= processor->shutdown(deadline_at);
  return all_done;
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
