#pragma once

// RED metrics per service, span name, kind, status and route, as Tempo's metrics generator
// names them (traces_spanmetrics_calls_total, traces_spanmetrics_latency): counted from every
// span before sampling. The number of series is bounded; spans of series beyond the bound go
// to one overflow series, as the OpenTelemetry metrics SDK does (otel.metric.overflow).

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "userspace/metrics/histogram.h"
#include "userspace/metrics/span_record.h"

namespace ztrace::metrics {

// Tempo's span metrics default: prometheus.ExponentialBuckets(0.002, 2, 14), seconds
// (modules/generator/processor/spanmetrics/config.go).
inline constexpr std::array<double, 14> kSpanLatencyBuckets = {0.002, 0.004, 0.008, 0.016, 0.032,
                                                               0.064, 0.128, 0.256, 0.512, 1.024,
                                                               2.048, 4.096, 8.192, 16.384};

// The OpenTelemetry SDK's default cardinality limit per metric.
inline constexpr size_t kDefaultMaxSeries = 2000;

struct SpanSeries {
  std::string service, span_name, route;  // route: empty for spans that are not HTTP
  spans::SpanKind kind = spans::SpanKind::kInternal;
  spans::StatusCode status = spans::StatusCode::kUnset;
  bool overflow = false;  // the series of spans beyond the bound: no other label
  uint64_t calls = 0;
  Histogram latency{kSpanLatencyBuckets};
};

// Tempo's label values: "SPAN_KIND_SERVER", "STATUS_CODE_ERROR" (the OTLP enum names).
std::string_view kind_label(spans::SpanKind kind);
std::string_view status_label(spans::StatusCode status);

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class SpanMetrics {
 public:
  // At most `max_series` series, the overflow series included (at least 2).
  explicit SpanMetrics(size_t max_series = kDefaultMaxSeries);
  // Not copyable: last_series_ points into series_.
  SpanMetrics(const SpanMetrics&) = delete;
  SpanMetrics& operator=(const SpanMetrics&) = delete;

  void record(const SpanRecord& span);

  template <typename Visit>  // visit(const SpanSeries&), the overflow series last when used
  void for_each(Visit&& visit) const {
    for (const auto& [key, series] : series_) visit(series);
  }
  // The series that holds the spans of series beyond the bound (calls 0: never used).
  const SpanSeries& overflow() const { return overflow_; }
  uint64_t overflowed_spans() const { return overflowed_spans_; }
  size_t series_count() const { return series_.size(); }
  size_t max_series() const { return max_series_; }

 private:
  size_t max_series_;
  std::unordered_map<std::string, SpanSeries, StringHash, std::equal_to<>> series_;
  SpanSeries overflow_;
  uint64_t overflowed_spans_ = 0;
  std::string key_;       // scratch, reused: no allocation per span once warm
  std::string route_;     // the route of route_of_
  std::string route_of_;  // the last path normalized
  // The series of the last span (never the overflow): consecutive spans of one series (the
  // common case) skip building and hashing a key. Series are never erased, so it stays valid.
  SpanSeries* last_series_ = nullptr;
};

}  // namespace ztrace::metrics
