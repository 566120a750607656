#pragma once

// Span metrics and the service graph together, fed by the pipeline thread with every span
// before sampling, and their copy for /metrics.

#include <cstdint>
#include <vector>

#include "userspace/metrics/service_graph.h"
#include "userspace/metrics/span_metrics.h"
#include "userspace/metrics/span_record.h"

namespace ztrace::metrics {

struct RequestMetricsOptions {
  size_t max_series = kDefaultMaxSeries;  // per metric family group: span series, edges
  uint64_t service_graph_wait_ns = 10'000'000'000;
};

// What /metrics shows, copied from the pipeline thread (series in a stable order).
struct RequestMetricsSnapshot {
  std::vector<SpanSeries> spans;  // the overflow series last, when it was used
  uint64_t span_overflowed = 0;
  std::vector<EdgeSeries> edges;  // the same
  ServiceGraphStats graph;
  uint64_t graph_pending = 0;
  size_t max_series = 0;
};

class RequestMetrics {
 public:
  explicit RequestMetrics(const RequestMetricsOptions& options);

  void record(const SpanRecord& span, uint64_t now_ns) {
    spans_.record(span);
    graph_.record(span, now_ns);
  }
  void expire(uint64_t now_ns) { graph_.expire(now_ns); }
  RequestMetricsSnapshot snapshot() const;

  const SpanMetrics& span_metrics() const { return spans_; }
  const ServiceGraph& service_graph() const { return graph_; }

 private:
  SpanMetrics spans_;
  ServiceGraph graph_;
};

}  // namespace ztrace::metrics
