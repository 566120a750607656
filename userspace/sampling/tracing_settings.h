#pragma once

// What the operator decides at run time: the tracing mode and head sampling. The kernel makes
// the decision where it makes trace ids (bpf/settings.bpf.h), the same way on every node:
// OpenTelemetry's consistent probability sampling over the trace id's last 56 bits.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/spans/span.h"

namespace ztrace::sampling {

enum class TracingMode {
  kOff,         // the kernel captures nothing
  kSystemOnly,  // captured and built (counters), no trace exported
  kHybrid,      // head sampling by ratio (the default)
  kFullE2e,     // every trace
};

std::optional<TracingMode> parse_mode(std::string_view text);
std::string_view to_string(TracingMode mode);

// Tail sampling (tail_sampler.h): with it, the kernel keeps every new trace at the head and
// the ratio applies to the traces no rule keeps, after the decision wait.
// A latency threshold of its own for the spans of one service, of one route, or of both.
struct LatencyRule {
  std::string service;  // service.name; empty: any service
  std::string route;    // fnmatch(3) glob over http.route, else url.path; empty: any
  uint64_t threshold_ns = 0;

  bool operator==(const LatencyRule&) const = default;
};

struct TailSettings {
  uint64_t decision_wait_ns = 5'000'000'000;
  bool keep_errors = true;
  uint64_t latency_threshold_ns = 0;  // 0: no latency rule
  // The first rule that matches a span gives its threshold instead of latency_threshold_ns.
  std::vector<LatencyRule> latency_rules;

  bool operator==(const TailSettings&) const = default;
};

// Adaptive sampling (adaptive_sampler.h): a service whose p95 latency or error rate over the
// window passes its threshold gets `rate` for its new traces until it recovers; and a budget
// caps the traces exported per second.
struct AdaptiveSettings {
  uint64_t latency_threshold_ns = 500'000'000;
  double error_rate_threshold = 0.05;  // share of SERVER spans that are errors
  double rate = 1.0;
  uint64_t max_traces_per_second = 0;  // 0: no budget
  uint64_t window_ns = 30'000'000'000;

  bool operator==(const AdaptiveSettings&) const = default;
};

struct TracingSettings {
  TracingMode mode = TracingMode::kHybrid;
  double ratio = 1.0;  // hybrid: share of new traces kept, in [0, 1]
  std::optional<TailSettings> tail;  // hybrid only
  std::optional<AdaptiveSettings> adaptive;  // hybrid only

  bool operator==(const TracingSettings&) const = default;
  std::string describe() const;  // "mode=hybrid ratio=0.1"
};

// Bits of a trace id that are random and compared with the threshold (W3C Trace Context
// level 2: the rightmost 7 bytes).
inline constexpr int kRandomnessBits = 56;
inline constexpr uint64_t kMaxThreshold = uint64_t{1} << kRandomnessBits;  // rejects all

// The rejection threshold of a ratio: a trace is kept when its randomness >= threshold.
uint64_t threshold_for_ratio(double ratio);
// The threshold the settings give new traces at the head (full-e2e and tail sampling: 0, off
// and system-only: not used).
uint64_t threshold_of(const TracingSettings& settings);
// The tracestate of a trace sampled at `threshold` here, in OpenTelemetry's own entry:
// "ot=th:T", T the threshold's 14 hex digits without trailing zeros ("0" for every trace).
std::string th_tracestate(uint64_t threshold);
// The randomness of a trace id (its last 56 bits, big-endian).
uint64_t randomness_of(const spans::TraceId& trace_id);
inline bool sampled(const spans::TraceId& trace_id, uint64_t threshold) {
  return randomness_of(trace_id) >= threshold;
}

}  // namespace ztrace::sampling
