#pragma once

// Counters of one OTLP exporter, read by the agent's counter log line and by the later
// /metrics endpoint. Every field is written by the exporter's threads and may be read from
// any thread (relaxed atomics: each value is exact, a set of them is not a snapshot).

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace ztrace::otlp {

// Export request latency (send to answer, one attempt), Prometheus-style cumulative view
// derived from per-bucket counts.
class LatencyHistogram {
 public:
  // Upper bounds in milliseconds; a last, implicit bucket holds everything above.
  static constexpr std::array<uint32_t, 13> kBoundsMs = {1,   2,   5,    10,   25,   50,   100,
                                                         250, 500, 1000, 2500, 5000, 10000};

  void record(std::chrono::nanoseconds latency) noexcept;

  // Requests whose latency was <= kBoundsMs[i] (i < kBoundsMs.size()) or above the last
  // bound (i == kBoundsMs.size()). Not cumulative.
  uint64_t bucket_count(size_t i) const noexcept {
    return buckets_[i].load(std::memory_order_relaxed);
  }
  uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  uint64_t sum_us() const noexcept { return sum_us_.load(std::memory_order_relaxed); }
  uint64_t max_us() const noexcept { return max_us_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kBoundsMs.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_us_{0};
  std::atomic<uint64_t> max_us_{0};
};

struct OtlpStats {
  // Spans.
  std::atomic<uint64_t> spans_queued{0};    // accepted into the exporter's queue
  std::atomic<uint64_t> spans_exported{0};  // acknowledged by the backend (rejected excluded)
  // Refused by the backend inside a successful answer (OTLP partial success).
  std::atomic<uint64_t> spans_rejected{0};
  std::atomic<uint64_t> spans_dropped_queue_full{0};   // queue at its span bound
  std::atomic<uint64_t> spans_dropped_queue_bytes{0};  // queue at its byte bound
  // A retryable failure that lasted longer than the retry budget (or a Retry-After beyond it).
  std::atomic<uint64_t> spans_dropped_retries_exhausted{0};
  std::atomic<uint64_t> spans_dropped_export_error{0};  // a non-retryable answer or error
  std::atomic<uint64_t> spans_dropped_shutdown{0};      // still queued at the flush deadline

  // Requests.
  std::atomic<uint64_t> requests_sent{0};    // attempts, retries included
  std::atomic<uint64_t> requests_failed{0};  // attempts that did not succeed
  std::atomic<uint64_t> retries{0};          // attempts after a retryable failure
  // Request bodies handed to the transport: after gzip for OTLP/HTTP; for OTLP/gRPC the
  // serialized message (gRPC compresses it internally when gzip is on).
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> bytes_uncompressed{0};  // serialized requests before compression

  // Gauges.
  std::atomic<uint64_t> queue_spans{0};  // queued or in flight now
  std::atomic<uint64_t> queue_bytes{0};  // their estimated memory

  LatencyHistogram export_latency;

  uint64_t spans_dropped() const noexcept {
    return spans_dropped_queue_full.load(std::memory_order_relaxed) +
           spans_dropped_queue_bytes.load(std::memory_order_relaxed) +
           spans_dropped_retries_exhausted.load(std::memory_order_relaxed) +
           spans_dropped_export_error.load(std::memory_order_relaxed) +
           spans_dropped_shutdown.load(std::memory_order_relaxed);
  }
};

}  // namespace ztrace::otlp
