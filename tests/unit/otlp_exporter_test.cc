// The OTLP exporter's queue, batching, retries, drops and flush, with a scripted transport.
#include "userspace/export/otlp/otlp_exporter.h"

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

namespace ztrace::otlp {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Answers with scripted results (then `fallback`), records the span ids of every attempt.
// `hold` makes send() wait until released (a backend that does not answer).
class FakeTransport final : public Transport {
 public:
  struct Shared {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<SendResult> script;
    SendResult fallback{.outcome = Outcome::kSuccess};
    std::vector<std::vector<uint8_t>> attempts;  // last span-id byte of each span, per attempt
    std::vector<Clock::time_point> attempt_times;
    bool hold = false;
    bool cancelled = false;
    int in_send = 0;
  };

  explicit FakeTransport(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  SendResult send(EncodedBatch& batch, milliseconds timeout) noexcept override {
    std::unique_lock lock(shared_->mutex);
    std::vector<uint8_t> ids;
    ExportRequest request;
    if (!request.ParseFromString(batch.serialized)) return {.error_kind = "unparsable"};
    for (const auto& rs : request.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const auto& span : ss.spans()) ids.push_back(static_cast<uint8_t>(span.span_id()[7]));
      }
    }
    shared_->attempts.push_back(ids);
    shared_->attempt_times.push_back(Clock::now());
    ++shared_->in_send;
    shared_->changed.notify_all();
    const auto deadline = Clock::now() + timeout;
    shared_->changed.wait_until(lock, deadline,
                                [&] { return !shared_->hold || shared_->cancelled; });
    --shared_->in_send;
    if (shared_->cancelled) return {.outcome = Outcome::kCancelled};
    if (shared_->hold) return {.outcome = Outcome::kRetryable, .error_kind = "timeout"};
    SendResult result = shared_->fallback;
    if (!shared_->script.empty()) {
      result = shared_->script.front();
      shared_->script.pop_front();
    }
    result.bytes_sent = 100;
    result.bytes_uncompressed = 200;
    return result;
  }
  void cancel() noexcept override {
    std::lock_guard lock(shared_->mutex);
    shared_->cancelled = true;
    shared_->changed.notify_all();
  }
  void reset_cancel() noexcept override {
    std::lock_guard lock(shared_->mutex);
    shared_->cancelled = false;
  }
  std::string describe() const override { return "fake"; }

 private:
  std::shared_ptr<Shared> shared_;
};

spans::Span make_span(uint8_t id) {
  static const auto resource = [] {
    auto r = std::make_shared<spans::Resource>();
    r->attributes.push_back({"service.name", std::string("svc")});
    return r;
  }();
  spans::Span span;
  span.trace_id[15] = 1;
  span.span_id[7] = id;
  span.name = "GET";
  span.kind = spans::SpanKind::kServer;
  span.set("url.path", std::string("/p"));
  span.resource = resource;
  return span;
}

std::vector<spans::Span> make_spans(uint8_t first, size_t count) {
  std::vector<spans::Span> out;
  for (size_t i = 0; i < count; ++i) out.push_back(make_span(static_cast<uint8_t>(first + i)));
  return out;
}

OtlpOptions fast_options() {
  OtlpOptions options;
  options.enabled = true;
  options.max_batch_spans = 4;
  options.batch_delay = milliseconds(30);
  options.max_queue_spans = 100;
  options.retry.initial_backoff = milliseconds(10);
  options.retry.max_backoff = milliseconds(40);
  options.retry.jitter = 0.0;
  options.retry.max_elapsed = milliseconds(5000);
  options.flush_timeout = milliseconds(1000);
  options.error_log_interval = milliseconds(60000);
  return options;
}

struct Fixture {
  explicit Fixture(OtlpOptions options = fast_options())
      : shared(std::make_shared<FakeTransport::Shared>()),
        exporter(std::make_unique<OtlpExporter>(options, std::make_unique<FakeTransport>(shared))),
        stats(exporter->stats()) {}

  size_t attempts() {
    std::lock_guard lock(shared->mutex);
    return shared->attempts.size();
  }
  std::vector<std::vector<uint8_t>> attempt_ids() {
    std::lock_guard lock(shared->mutex);
    return shared->attempts;
  }
  bool wait_attempts(size_t n, milliseconds timeout = milliseconds(3000)) {
    std::unique_lock lock(shared->mutex);
    return shared->changed.wait_for(lock, timeout, [&] { return shared->attempts.size() >= n; });
  }
  void set_hold(bool hold) {
    std::lock_guard lock(shared->mutex);
    shared->hold = hold;
    shared->changed.notify_all();
  }

  std::shared_ptr<FakeTransport::Shared> shared;
  std::unique_ptr<OtlpExporter> exporter;
  std::shared_ptr<const OtlpStats> stats;
};

TEST_CASE("otlp exporter: batches by size, then by delay", "[otlp][exporter]") {
  Fixture f;
  const auto spans = make_spans(1, 10);
  REQUIRE(f.exporter->export_spans(spans).complete());
  const auto submitted = Clock::now();
  REQUIRE(f.wait_attempts(3));
  const auto ids = f.attempt_ids();
  CHECK(ids[0] == std::vector<uint8_t>{1, 2, 3, 4});
  CHECK(ids[1] == std::vector<uint8_t>{5, 6, 7, 8});
  CHECK(ids[2] == std::vector<uint8_t>{9, 10});
  // The partial batch waited for the delay (30 ms) after it was queued.
  CHECK(f.shared->attempt_times[2] - submitted >= milliseconds(25));
  f.exporter->flush();
  CHECK(f.stats->spans_queued == 10);
  CHECK(f.stats->spans_exported == 10);
  CHECK(f.stats->requests_sent == 3);
  CHECK(f.stats->bytes_sent == 300);
  CHECK(f.stats->bytes_uncompressed == 600);
  CHECK(f.stats->spans_dropped() == 0);
  CHECK(f.stats->export_latency.count() == 3);
  CHECK(f.stats->queue_spans == 0);
  CHECK(f.stats->queue_bytes == 0);
}

TEST_CASE("otlp exporter: a stuck backend never blocks export_spans; the bound holds",
          "[otlp][exporter]") {
  OtlpOptions options = fast_options();
  options.max_queue_spans = 10;
  options.timeout = milliseconds(60000);
  Fixture f(options);
  f.set_hold(true);
  REQUIRE(f.exporter->export_spans(make_spans(1, 4)).complete());
  REQUIRE(f.wait_attempts(1));  // 4 spans in flight, held
  const auto start = Clock::now();
  // 6 more fit (the bound counts the batch in flight), then 20 are dropped.
  CHECK(f.exporter->export_spans(make_spans(5, 6)).complete());
  for (int i = 0; i < 20; ++i) CHECK_FALSE(f.exporter->export_spans(make_spans(11, 1)).complete());
  CHECK(Clock::now() - start < milliseconds(200));
  CHECK(f.stats->spans_queued == 10);
  CHECK(f.stats->spans_dropped_queue_full == 20);
  CHECK(f.stats->queue_spans == 10);
  f.set_hold(false);
  f.exporter->flush();
  CHECK(f.stats->spans_exported == 10);
  std::multiset<uint8_t> delivered;
  for (const auto& attempt : f.attempt_ids()) delivered.insert(attempt.begin(), attempt.end());
  CHECK(delivered == std::multiset<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
}

TEST_CASE("otlp exporter: the byte bound drops too", "[otlp][exporter]") {
  OtlpOptions options = fast_options();
  options.max_queue_bytes = 1;  // no span fits
  Fixture f(options);
  CHECK_FALSE(f.exporter->export_spans(make_spans(1, 3)).complete());
  CHECK(f.stats->spans_dropped_queue_bytes == 3);
  CHECK(f.stats->spans_queued == 0);
}

TEST_CASE("otlp exporter: retryable failures are retried with backoff, then delivered once",
          "[otlp][exporter]") {
  Fixture f;
  {
    std::lock_guard lock(f.shared->mutex);
    f.shared->script = {{.outcome = Outcome::kRetryable, .error_kind = "HTTP 503"},
                        {.outcome = Outcome::kRetryable, .error_kind = "HTTP 503"}};
  }
  REQUIRE(f.exporter->export_spans(make_spans(1, 4)).complete());
  REQUIRE(f.wait_attempts(3));
  f.exporter->flush();
  const auto ids = f.attempt_ids();
  REQUIRE(ids.size() == 3);
  CHECK(ids[0] == ids[1]);
  CHECK(ids[1] == ids[2]);
  // Backoff 10 ms then 20 ms (no jitter in this test).
  CHECK(f.shared->attempt_times[1] - f.shared->attempt_times[0] >= milliseconds(9));
  CHECK(f.shared->attempt_times[2] - f.shared->attempt_times[1] >= milliseconds(19));
  CHECK(f.stats->spans_exported == 4);
  CHECK(f.stats->requests_sent == 3);
  CHECK(f.stats->requests_failed == 2);
  CHECK(f.stats->retries == 2);
  CHECK(f.stats->spans_dropped() == 0);
}

TEST_CASE("otlp exporter: a server's retry delay is honoured", "[otlp][exporter]") {
  Fixture f;
  {
    std::lock_guard lock(f.shared->mutex);
    f.shared->script = {{.outcome = Outcome::kRetryable,
                         .retry_after = milliseconds(300),
                         .error_kind = "HTTP 429"}};
  }
  REQUIRE(f.exporter->export_spans(make_spans(1, 4)).complete());
  REQUIRE(f.wait_attempts(2));
  CHECK(f.shared->attempt_times[1] - f.shared->attempt_times[0] >= milliseconds(295));
  f.exporter->flush();
  CHECK(f.stats->spans_exported == 4);
}

TEST_CASE("otlp exporter: non-retryable errors drop the batch at once", "[otlp][exporter]") {
  Fixture f;
  {
    std::lock_guard lock(f.shared->mutex);
    f.shared->script = {
        {.outcome = Outcome::kPermanent, .error = "HTTP 400", .error_kind = "HTTP 400"}};
  }
  REQUIRE(f.exporter->export_spans(make_spans(1, 4)).complete());
  REQUIRE(f.exporter->export_spans(make_spans(5, 4)).complete());
  REQUIRE(f.wait_attempts(2));
  f.exporter->flush();
  CHECK(f.attempts() == 2);  // no retry of the first batch
  CHECK(f.stats->spans_dropped_export_error == 4);
  CHECK(f.stats->spans_exported == 4);
  CHECK(f.stats->retries == 0);
}

TEST_CASE("otlp exporter: retries stop at the budget", "[otlp][exporter]") {
  OtlpOptions options = fast_options();
  options.retry.max_elapsed = milliseconds(100);
  Fixture f(options);
  {
    std::lock_guard lock(f.shared->mutex);
    f.shared->fallback = {.outcome = Outcome::kRetryable, .error_kind = "connect"};
  }
  REQUIRE(f.exporter->export_spans(make_spans(1, 4)).complete());
  f.exporter->flush();
  CHECK(f.stats->spans_dropped_retries_exhausted == 4);
  CHECK(f.stats->spans_exported == 0);
  // 10 + 20 + 40 + 40 ms fit in 100 ms, the next 40 ms would not: 5 attempts at most.
  CHECK(f.attempts() >= 3);
  CHECK(f.attempts() <= 5);
}

TEST_CASE("otlp exporter: partial success is read and its rejected count recorded",
          "[otlp][exporter]") {
  Fixture f;
  {
    std::lock_guard lock(f.shared->mutex);
    f.shared->script = {
        {.outcome = Outcome::kSuccess, .rejected_spans = 3, .partial_success_message = "too old"}};
  }
  REQUIRE(f.exporter->export_spans(make_spans(1, 4)).complete());
  f.exporter->flush();
  CHECK(f.stats->spans_rejected == 3);
  CHECK(f.stats->spans_exported == 1);
  CHECK(f.attempts() == 1);
}

TEST_CASE("otlp exporter: flush sends at once, and gives up within its deadline",
          "[otlp][exporter]") {
  OtlpOptions options = fast_options();
  options.batch_delay = milliseconds(60000);
  options.flush_timeout = milliseconds(300);
  {
    Fixture f(options);
    REQUIRE(f.exporter->export_spans(make_spans(1, 2)).complete());
    const auto start = Clock::now();
    f.exporter->flush();
    CHECK(Clock::now() - start < milliseconds(200));
    CHECK(f.stats->spans_exported == 2);
  }
  {
    // A backend that is down: flush keeps retrying until its deadline, then drops.
    Fixture f(options);
    {
      std::lock_guard lock(f.shared->mutex);
      f.shared->fallback = {.outcome = Outcome::kRetryable, .error_kind = "connect"};
    }
    REQUIRE(f.exporter->export_spans(make_spans(1, 6)).complete());
    const auto start = Clock::now();
    f.exporter->flush();
    const auto took = Clock::now() - start;
    CHECK(took >= milliseconds(250));
    CHECK(took < milliseconds(800));
    CHECK(f.stats->spans_dropped_shutdown == 6);
    CHECK(f.stats->queue_spans == 0);
    // Usable afterwards.
    {
      std::lock_guard lock(f.shared->mutex);
      f.shared->fallback = {.outcome = Outcome::kSuccess};
    }
    REQUIRE(f.exporter->export_spans(make_spans(10, 1)).complete());
    f.exporter->flush();
    CHECK(f.stats->spans_exported == 1);
  }
  {
    // A request that hangs past the deadline is cancelled.
    options.timeout = milliseconds(60000);
    Fixture f(options);
    f.set_hold(true);
    REQUIRE(f.exporter->export_spans(make_spans(1, 3)).complete());
    const auto start = Clock::now();
    f.exporter->flush();
    CHECK(Clock::now() - start < milliseconds(1000));
    CHECK(f.stats->spans_dropped_shutdown == 3);
  }
}

TEST_CASE("otlp exporter: destruction drops what is queued, counted", "[otlp][exporter]") {
  OtlpOptions options = fast_options();
  options.batch_delay = milliseconds(60000);
  Fixture f(options);
  REQUIRE(f.exporter->export_spans(make_spans(1, 3)).complete());
  f.exporter.reset();
  CHECK(f.stats->spans_dropped_shutdown == 3);
  CHECK(f.stats->spans_exported == 0);
}

}  // namespace
}  // namespace ztrace::otlp
