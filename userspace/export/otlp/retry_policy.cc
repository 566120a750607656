#include "userspace/export/otlp/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace ztrace::otlp {

std::chrono::milliseconds backoff_delay(const RetryOptions& options, int retry,
                                        std::optional<std::chrono::milliseconds> server_hint,
                                        double random_unit) {
  if (server_hint) return std::max(*server_hint, std::chrono::milliseconds(0));
  const double initial_ms = static_cast<double>(options.initial_backoff.count());
  const double max_ms = static_cast<double>(options.max_backoff.count());
  const double exponent = std::max(retry - 1, 0);
  // pow() overflows to inf for a long outage: min() keeps it at the cap.
  const double base_ms = std::min(initial_ms * std::pow(options.multiplier, exponent), max_ms);
  const double jitter = std::clamp(options.jitter, 0.0, 1.0);
  const double unit = std::clamp(random_unit, 0.0, 1.0);
  const double delay_ms = base_ms * (1.0 - jitter + 2.0 * jitter * unit);
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(delay_ms, 0.0)));
}

bool within_budget(const RetryOptions& options, std::chrono::milliseconds elapsed,
                   std::chrono::milliseconds delay) {
  return elapsed + delay <= options.max_elapsed;
}

}  // namespace ztrace::otlp
