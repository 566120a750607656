#pragma once

// The OTLP exporter: on_span() serializes into a queue bounded in spans and bytes, a sender
// thread batches, sends and retries: a slow backend never delays the pipeline nor grows memory.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "userspace/export/exporter.h"
#include "userspace/export/otlp/otlp_config.h"
#include "userspace/export/otlp/otlp_encoder.h"
#include "userspace/export/otlp/otlp_stats.h"
#include "userspace/export/otlp/transport.h"

namespace ztrace::otlp {

class OtlpExporter final : public exporter::SpanProcessor {
 public:
  // With the transport `options` ask for; nullptr and `*error` when it cannot be set up.
  static std::unique_ptr<OtlpExporter> create(const OtlpOptions& options, std::string* error);

  // With any transport (tests inject fakes). Starts the sender thread.
  OtlpExporter(const OtlpOptions& options, std::unique_ptr<Transport> transport);
  // Stops at once: what is still queued is dropped (counted as shutdown). Call flush() or
  // shutdown() first to send it.
  ~OtlpExporter() override;
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  std::string_view name() const noexcept override { return "otlp"; }
  // Serializes the span into the queue (one buffer per span). Called from one thread at a time.
  exporter::ExportOutcome on_span(const spans::Span& span) noexcept override;
  // accepted (queued), write_failed (always 0: failed sends are in the `otlp:` line) and
  // refused (dropped at the queue's bounds or after shutdown), for the `outputs:` line.
  void for_each_counter(const exporter::CounterVisitor& visit) const override;
  // Sends everything queued without waiting for the batch delay, for at most
  // options.flush_timeout (plus the moment a transfer in progress takes to abort); spans
  // still queued then are dropped and counted as shutdown. The exporter stays usable.
  void flush() noexcept;
  // flush() by `deadline` at the latest, then stops the sender: later spans are dropped
  // (counted as shutdown). False when the deadline passed.
  bool shutdown(std::chrono::steady_clock::time_point deadline) noexcept override;

  // Outlives the exporter (the agent reads it after the pipeline that owns us is gone).
  std::shared_ptr<const OtlpStats> stats() const { return stats_; }
  std::string describe() const;  // transport, compression, timeout

 private:
  struct QueuedSpan {
    SerializedSpan span;
    size_t bytes;
    std::chrono::steady_clock::time_point enqueued;
  };

  exporter::ExportOutcome queue_span(const spans::Span& span) noexcept;
  exporter::ExportOutcome enqueue(QueuedSpan&& entry);
  void flush_until(std::chrono::steady_clock::time_point deadline);
  void stop_sender();
  void run_sender();
  // Sends one batch with retries; counts its outcome. The steps, on the sender thread:
  void export_batch(std::span<const SerializedSpan> batch);
  bool encode(std::span<const SerializedSpan> batch);  // into encoded_; false: dropped
  // The next attempt's timeout; nullopt when stopping or the flush deadline passed.
  std::optional<std::chrono::milliseconds> attempt_timeout();
  SendResult send(std::chrono::milliseconds timeout);  // encoded_, once; counts the request
  void count_success(const SendResult& result, uint64_t count);
  // The wait before retry number `retry`; nullopt (spans dropped, counted) past the budget.
  std::optional<std::chrono::milliseconds> retry_delay(
      const SendResult& result, int retry, std::chrono::steady_clock::duration elapsed_since_first,
      uint64_t count);
  // False when a stop or the flush deadline cut the wait short.
  bool wait_before_retry(std::chrono::milliseconds delay);
  void drop_as_shutdown(uint64_t count);
  // Drops every queued (not in flight) span as shutdown. Caller holds mutex_.
  void drop_queue_locked();
  void report_error(const std::string& kind, const std::string& message);
  void update_gauges_locked();

  const OtlpOptions options_;
  const std::unique_ptr<Transport> transport_;
  const RequestFramer framer_;
  const std::shared_ptr<OtlpStats> stats_;

  std::mutex mutex_;
  std::condition_variable wake_sender_;
  std::condition_variable drained_;
  std::deque<QueuedSpan> queue_;  // guarded by mutex_
  size_t queued_bytes_ = 0;       // guarded by mutex_; the queue alone
  // Queue and the batch in flight: the bound the options set.
  size_t pending_spans_ = 0;                              // guarded by mutex_
  size_t pending_bytes_ = 0;                              // guarded by mutex_
  bool stopping_ = false;                                 // guarded by mutex_
  bool flushing_ = false;                                 // guarded by mutex_
  std::chrono::steady_clock::time_point flush_deadline_;  // guarded by mutex_

  // on_span() only.
  SpanSerializer serializer_;
  exporter::OutputCounters output_;

  // Sender thread only.
  EncodedBatch encoded_;  // reused: its buffers keep their capacity
  std::mt19937_64 random_;
  struct ErrorLogEntry {
    std::chrono::steady_clock::time_point last_logged;
    uint64_t not_logged = 0;
  };
  std::unordered_map<std::string, ErrorLogEntry> error_log_;
  uint64_t failed_attempts_in_a_row_ = 0;

  std::thread sender_;  // last: starts once everything above is ready
};

}  // namespace ztrace::otlp
