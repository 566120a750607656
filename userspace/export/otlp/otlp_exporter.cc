#include "userspace/export/otlp/otlp_exporter.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ztrace::otlp {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Memory a queued span holds: its buffer and the queue entry (the resource is shared with
// the live one).
size_t queued_bytes(const SerializedSpan& span) {
  return span.bytes.capacity() + sizeof(SerializedSpan) + 32;
}

}  // namespace

void LatencyHistogram::record(std::chrono::nanoseconds latency) noexcept {
  const uint64_t us = static_cast<uint64_t>(std::max<int64_t>(latency.count() / 1000, 0));
  size_t bucket = 0;
  while (bucket < kBoundsMs.size() && us > uint64_t{kBoundsMs[bucket]} * 1000) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(us, std::memory_order_relaxed);
  uint64_t max = max_us_.load(std::memory_order_relaxed);
  while (us > max && !max_us_.compare_exchange_weak(max, us, std::memory_order_relaxed)) {
  }
}

std::unique_ptr<OtlpExporter> OtlpExporter::create(const OtlpOptions& options, std::string* error) {
  auto transport = make_transport(options, error);
  if (!transport) return nullptr;
  return std::make_unique<OtlpExporter>(options, std::move(transport));
}

OtlpExporter::OtlpExporter(const OtlpOptions& options, std::unique_ptr<Transport> transport)
    : options_(options),
      transport_(std::move(transport)),
      framer_(EncoderOptions{options.agent_version, options.extra_resource_attributes}),
      stats_(std::make_shared<OtlpStats>()),
      random_(std::random_device{}()),
      sender_([this] { run_sender(); }) {}

OtlpExporter::~OtlpExporter() { stop_sender(); }

void OtlpExporter::stop_sender() {
  if (!sender_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_sender_.notify_all();
  transport_->cancel();
  sender_.join();
  std::lock_guard lock(mutex_);
  drop_queue_locked();
}

std::string OtlpExporter::describe() const {
  return transport_->describe() + ", compression " + std::string(to_string(options_.compression)) +
         ", timeout " + std::to_string(options_.timeout.count()) + " ms, queue " +
         std::to_string(options_.max_queue_spans) + " spans / " +
         std::to_string(options_.max_queue_bytes >> 20) + " MiB";
}

exporter::ExportOutcome OtlpExporter::on_span(const spans::Span& span) noexcept {
  const exporter::ExportOutcome outcome = queue_span(span);
  (outcome == exporter::ExportOutcome::kSuccess ? output_.accepted : output_.refused)
      .fetch_add(1, std::memory_order_relaxed);
  return outcome;
}

void OtlpExporter::for_each_counter(const exporter::CounterVisitor& visit) const {
  output_.for_each(visit);
}

exporter::ExportOutcome OtlpExporter::queue_span(const spans::Span& span) noexcept {
  OtlpStats& stats = *stats_;
  // The gauge mirrors the queue's span bound: a dead backend's full queue costs no serializing.
  if (stats.queue_spans.load(std::memory_order_relaxed) >= options_.max_queue_spans) {
    stats.spans_dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
    return exporter::ExportOutcome::kPermanent;
  }
  QueuedSpan entry;
  try {
    serializer_.serialize(span, &entry.span.bytes);
  } catch (...) {  // std::bad_alloc: as a full queue
    stats.spans_dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
    return exporter::ExportOutcome::kPermanent;
  }
  entry.span.resource = span.resource;
  entry.bytes = queued_bytes(entry.span);
  entry.enqueued = Clock::now();
  return enqueue(std::move(entry));
}

exporter::ExportOutcome OtlpExporter::enqueue(QueuedSpan&& entry) {
  OtlpStats& stats = *stats_;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      stats.spans_dropped_shutdown.fetch_add(1, std::memory_order_relaxed);
      return exporter::ExportOutcome::kCancelled;
    }
    if (pending_spans_ >= options_.max_queue_spans) {
      stats.spans_dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
      return exporter::ExportOutcome::kPermanent;
    }
    if (pending_bytes_ + entry.bytes > options_.max_queue_bytes) {
      stats.spans_dropped_queue_bytes.fetch_add(1, std::memory_order_relaxed);
      return exporter::ExportOutcome::kPermanent;
    }
    const bool was_empty = queue_.empty();
    const bool below_batch_bytes = queued_bytes_ < options_.max_batch_bytes;
    pending_spans_ += 1;
    pending_bytes_ += entry.bytes;
    queued_bytes_ += entry.bytes;
    queue_.push_back(std::move(entry));
    update_gauges_locked();
    // The sender sleeps without a deadline on an empty queue, and until the delay otherwise:
    // woken when the queue fills or reaches a batch's size (once: edge-triggered).
    wake = was_empty || queue_.size() == options_.max_batch_spans ||
           (below_batch_bytes && queued_bytes_ >= options_.max_batch_bytes);
  }
  if (wake) wake_sender_.notify_one();
  stats.spans_queued.fetch_add(1, std::memory_order_relaxed);
  return exporter::ExportOutcome::kSuccess;
}

void OtlpExporter::flush() noexcept { flush_until(Clock::now() + options_.flush_timeout); }

bool OtlpExporter::shutdown(std::chrono::steady_clock::time_point deadline) noexcept {
  flush_until(std::min(deadline, Clock::now() + options_.flush_timeout));
  stop_sender();
  return Clock::now() <= deadline;
}

void OtlpExporter::flush_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  if (stopping_) return;
  flushing_ = true;
  flush_deadline_ = deadline;
  wake_sender_.notify_all();
  const auto empty = [&] { return pending_spans_ == 0; };
  if (!drained_.wait_until(lock, flush_deadline_, empty)) {
    // The sender drops what is left once it sees the deadline; a request in progress is
    // aborted (curl checks about once a second, gRPC at once).
    lock.unlock();
    transport_->cancel();
    wake_sender_.notify_all();
    lock.lock();
    drained_.wait_for(lock, std::chrono::seconds(2), empty);
    lock.unlock();
    transport_->reset_cancel();
    lock.lock();
  }
  flushing_ = false;
}

void OtlpExporter::drop_queue_locked() {
  const size_t count = queue_.size();
  if (count == 0) return;
  stats_->spans_dropped_shutdown.fetch_add(count, std::memory_order_relaxed);
  pending_spans_ -= count;
  pending_bytes_ -= queued_bytes_;
  queued_bytes_ = 0;
  queue_.clear();
  update_gauges_locked();
  if (pending_spans_ == 0) drained_.notify_all();
}

void OtlpExporter::update_gauges_locked() {
  stats_->queue_spans.store(pending_spans_, std::memory_order_relaxed);
  stats_->queue_bytes.store(pending_bytes_, std::memory_order_relaxed);
}

void OtlpExporter::run_sender() {
  std::vector<SerializedSpan> batch;
  batch.reserve(options_.max_batch_spans);
  while (true) {
    size_t batch_bytes = 0;
    {
      std::unique_lock lock(mutex_);
      while (true) {
        if (stopping_) return;  // the destructor drops the queue
        if (flushing_ && Clock::now() >= flush_deadline_) drop_queue_locked();
        if (queue_.empty()) {
          wake_sender_.wait(lock);
          continue;
        }
        if (flushing_ || queue_.size() >= options_.max_batch_spans ||
            queued_bytes_ >= options_.max_batch_bytes) {
          break;
        }
        const auto due = queue_.front().enqueued + options_.batch_delay;
        if (Clock::now() >= due) break;
        wake_sender_.wait_until(lock, due);
      }
      while (!queue_.empty() && batch.size() < options_.max_batch_spans) {
        QueuedSpan& front = queue_.front();
        if (!batch.empty() && batch_bytes + front.bytes > options_.max_batch_bytes) break;
        batch_bytes += front.bytes;
        queued_bytes_ -= front.bytes;
        batch.push_back(std::move(front.span));
        queue_.pop_front();
      }
    }
    export_batch(batch);
    {
      std::lock_guard lock(mutex_);
      pending_spans_ -= batch.size();
      pending_bytes_ -= batch_bytes;
      update_gauges_locked();
      if (pending_spans_ == 0) drained_.notify_all();
    }
    batch.clear();
  }
}

void OtlpExporter::export_batch(std::span<const SerializedSpan> batch) {
  const uint64_t count = batch.size();
  if (!encode(batch)) return;
  const auto first_attempt = Clock::now();
  for (int retry = 0;; ++retry) {
    const std::optional<milliseconds> timeout = attempt_timeout();
    if (!timeout) return drop_as_shutdown(count);
    const SendResult result = send(*timeout);
    switch (result.outcome) {
      case ExportOutcome::kCancelled:
        return drop_as_shutdown(count);
      case ExportOutcome::kSuccess:
        return count_success(result, count);
      case ExportOutcome::kPermanent:
        stats_->spans_dropped_export_error.fetch_add(count, std::memory_order_relaxed);
        report_error(result.error_kind, "OTLP export to " + transport_->describe() + " failed (" +
                                            result.error + "): " + std::to_string(count) +
                                            " spans dropped, not retryable");
        return;
      default:
        break;
    }
    const std::optional<milliseconds> delay =
        retry_delay(result, retry + 1, Clock::now() - first_attempt, count);
    if (!delay) return;
    if (!wait_before_retry(*delay)) return drop_as_shutdown(count);
    stats_->retries.fetch_add(1, std::memory_order_relaxed);
  }
}

bool OtlpExporter::encode(std::span<const SerializedSpan> batch) {
  encoded_.body.clear();
  encoded_.body_ready = false;
  try {
    framer_.frame(batch, &encoded_.serialized);
  } catch (...) {  // std::bad_alloc
    stats_->spans_dropped_export_error.fetch_add(batch.size(), std::memory_order_relaxed);
    report_error("encode", "cannot encode a batch of " + std::to_string(batch.size()) + " spans");
    return false;
  }
  encoded_.spans = batch.size();
  return true;
}

std::optional<milliseconds> OtlpExporter::attempt_timeout() {
  std::lock_guard lock(mutex_);
  if (stopping_) return std::nullopt;
  if (!flushing_) return options_.timeout;
  const auto left = std::chrono::duration_cast<milliseconds>(flush_deadline_ - Clock::now());
  if (left.count() <= 0) return std::nullopt;
  return std::min(options_.timeout, left);
}

SendResult OtlpExporter::send(milliseconds timeout) {
  const auto sent_at = Clock::now();
  SendResult result = transport_->send(encoded_, timeout);
  if (result.outcome == ExportOutcome::kCancelled) return result;  // never reached the backend
  OtlpStats& stats = *stats_;
  stats.export_latency.record(Clock::now() - sent_at);
  stats.requests_sent.fetch_add(1, std::memory_order_relaxed);
  stats.bytes_sent.fetch_add(result.bytes_sent, std::memory_order_relaxed);
  stats.bytes_uncompressed.fetch_add(result.bytes_uncompressed, std::memory_order_relaxed);
  if (result.outcome != ExportOutcome::kSuccess) {
    stats.requests_failed.fetch_add(1, std::memory_order_relaxed);
    ++failed_attempts_in_a_row_;
  }
  return result;
}

void OtlpExporter::count_success(const SendResult& result, uint64_t count) {
  const uint64_t rejected =
      std::min<uint64_t>(static_cast<uint64_t>(std::max<int64_t>(result.rejected_spans, 0)), count);
  stats_->spans_exported.fetch_add(count - rejected, std::memory_order_relaxed);
  stats_->spans_rejected.fetch_add(rejected, std::memory_order_relaxed);
  if (rejected > 0 || !result.partial_success_message.empty()) {
    report_error("partial success", "the backend rejected " + std::to_string(rejected) + " of " +
                                        std::to_string(count) +
                                        " spans: " + result.partial_success_message);
  }
  if (failed_attempts_in_a_row_ > 0) {
    spdlog::info("OTLP export to {} works again after {} failed attempts", transport_->describe(),
                 failed_attempts_in_a_row_);
    failed_attempts_in_a_row_ = 0;
  }
}

std::optional<milliseconds> OtlpExporter::retry_delay(const SendResult& result, int retry,
                                                      Clock::duration elapsed_since_first,
                                                      uint64_t count) {
  const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
  const milliseconds delay = backoff_delay(options_.retry, retry, result.retry_after, unit);
  const auto elapsed = std::chrono::duration_cast<milliseconds>(elapsed_since_first);
  const std::string failure =
      "OTLP export to " + transport_->describe() + " failed (" + result.error + "): ";
  if (!within_budget(options_.retry, elapsed, delay)) {
    stats_->spans_dropped_retries_exhausted.fetch_add(count, std::memory_order_relaxed);
    report_error(result.error_kind, failure + std::to_string(count) + " spans dropped after " +
                                        std::to_string(retry) + " attempts over " +
                                        std::to_string(elapsed.count()) + " ms");
    return std::nullopt;
  }
  report_error(result.error_kind, failure + "retrying in " + std::to_string(delay.count()) +
                                      " ms; spans wait in the bounded queue");
  return delay;
}

bool OtlpExporter::wait_before_retry(milliseconds delay) {
  std::unique_lock lock(mutex_);
  const auto retry_at = Clock::now() + delay;
  while (!stopping_) {
    const auto until = flushing_ ? std::min(retry_at, flush_deadline_) : retry_at;
    if (Clock::now() >= until) break;
    wake_sender_.wait_until(lock, until);
  }
  return !(stopping_ || (flushing_ && Clock::now() >= flush_deadline_));
}

void OtlpExporter::drop_as_shutdown(uint64_t count) {
  stats_->spans_dropped_shutdown.fetch_add(count, std::memory_order_relaxed);
}

void OtlpExporter::report_error(const std::string& kind, const std::string& message) {
  // Once per interval and kind: a backend that is down for an hour gives a line per
  // interval, not one per batch.
  const auto now = Clock::now();
  auto [it, first] = error_log_.try_emplace(kind);
  ErrorLogEntry& entry = it->second;
  if (!first && now - entry.last_logged < options_.error_log_interval) {
    ++entry.not_logged;
    return;
  }
  if (entry.not_logged > 0) {
    spdlog::warn("{} ({} similar not logged in the last {} s)", message, entry.not_logged,
                 std::chrono::duration_cast<std::chrono::seconds>(now - entry.last_logged).count());
  } else {
    spdlog::warn("{}", message);
  }
  entry.last_logged = now;
  entry.not_logged = 0;
}

}  // namespace ztrace::otlp
