#include "userspace/metrics/request_metrics.h"

#include <algorithm>
#include <tuple>

namespace ztrace::metrics {

RequestMetrics::RequestMetrics(const RequestMetricsOptions& options)
    : spans_(options.max_series),
      graph_(ServiceGraph::Options{.wait_ns = options.service_graph_wait_ns,
                                   .max_series = options.max_series}) {}

RequestMetricsSnapshot RequestMetrics::snapshot() const {
  RequestMetricsSnapshot s;
  s.max_series = spans_.max_series();
  s.spans.reserve(spans_.series_count() + 1);
  spans_.for_each([&](const SpanSeries& series) { s.spans.push_back(series); });
  std::sort(s.spans.begin(), s.spans.end(), [](const SpanSeries& a, const SpanSeries& b) {
    return std::tie(a.service, a.span_name, a.kind, a.status, a.route) <
           std::tie(b.service, b.span_name, b.kind, b.status, b.route);
  });
  if (spans_.overflow().calls > 0) s.spans.push_back(spans_.overflow());
  s.span_overflowed = spans_.overflowed_spans();
  graph_.for_each([&](const EdgeSeries& edge) { s.edges.push_back(edge); });
  std::sort(s.edges.begin(), s.edges.end(), [](const EdgeSeries& a, const EdgeSeries& b) {
    return std::tie(a.client, a.server, a.connection_type) <
           std::tie(b.client, b.server, b.connection_type);
  });
  if (graph_.overflow().requests > 0) s.edges.push_back(graph_.overflow());
  s.graph = graph_.stats();
  s.graph_pending = graph_.pending();
  return s;
}

}  // namespace ztrace::metrics
