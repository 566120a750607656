#pragma once

// When to try an export again: exponential backoff with jitter, a server's Retry-After (or
// gRPC RetryInfo) honoured, and a time budget per batch after which it is dropped. Which
// results are retryable is the transports' call (OTLP specification, "Failures").

#include <chrono>
#include <optional>

namespace ztrace::otlp {

struct RetryOptions {
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{5000};
  double multiplier = 2.0;
  // The delay is drawn uniformly from [d * (1 - jitter), d * (1 + jitter)] so that agents
  // restarted together do not retry in lockstep.
  double jitter = 0.2;
  // A batch that could not go out within this time of its first attempt is dropped (counted):
  // meanwhile newer spans wait in the bounded queue.
  std::chrono::milliseconds max_elapsed{60000};
};

// The wait before attempt `retry` (1 for the first retry). `random_unit` in [0, 1).
// A server's retry hint replaces the computed backoff (it is not shortened).
std::chrono::milliseconds backoff_delay(const RetryOptions& options, int retry,
                                        std::optional<std::chrono::milliseconds> server_hint,
                                        double random_unit);

// True when a retry after `delay` still starts within the budget, given the time already
// spent on this batch.
bool within_budget(const RetryOptions& options, std::chrono::milliseconds elapsed,
                   std::chrono::milliseconds delay);

}  // namespace ztrace::otlp
