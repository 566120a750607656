#include "userspace/control/request_metrics_text.h"

#include <string>

namespace ztrace::control {
namespace {

const Labels kOverflowLabels = {{"otel_metric_overflow", "true"}};

Labels span_labels(const metrics::SpanSeries& s) {
  if (s.overflow) return kOverflowLabels;
  Labels labels = {{"service", s.service},
                   {"span_name", s.span_name},
                   {"span_kind", std::string(metrics::kind_label(s.kind))},
                   {"status_code", std::string(metrics::status_label(s.status))}};
  if (!s.route.empty()) labels.emplace_back("http_route", s.route);
  return labels;
}

Labels edge_labels(const metrics::EdgeSeries& e) {
  if (e.overflow) return kOverflowLabels;
  return {{"client", e.client}, {"server", e.server}, {"connection_type", e.connection_type}};
}

}  // namespace

void render_request_metrics(MetricsText& m, const metrics::RequestMetricsSnapshot& s) {
  m.counter("traces_spanmetrics_calls_total",
            "Spans by service, name, kind, status and route, counted before sampling");
  for (const auto& series : s.spans) {
    m.sample("traces_spanmetrics_calls_total", static_cast<double>(series.calls),
             span_labels(series));
  }
  m.histogram("traces_spanmetrics_latency", "Span durations in seconds, before sampling");
  for (const auto& series : s.spans) {
    m.histogram_sample("traces_spanmetrics_latency", metrics::kSpanLatencyBuckets,
                       series.latency.counts(), series.latency.sum(), span_labels(series));
  }
  m.counter("traces_service_graph_request_total", "Requests from a client to a server service");
  for (const auto& edge : s.edges) {
    m.sample("traces_service_graph_request_total", static_cast<double>(edge.requests),
             edge_labels(edge));
  }
  m.counter("traces_service_graph_request_failed_total",
            "Requests from a client to a server service where either end's span is an error");
  for (const auto& edge : s.edges) {
    m.sample("traces_service_graph_request_failed_total", static_cast<double>(edge.failed),
             edge_labels(edge));
  }
  m.histogram("traces_service_graph_request_server_seconds",
              "The server span's duration of each request of an edge, in seconds");
  for (const auto& edge : s.edges) {
    m.histogram_sample("traces_service_graph_request_server_seconds", metrics::kServiceGraphBuckets,
                       edge.server_seconds.counts(), edge.server_seconds.sum(), edge_labels(edge));
  }
  m.histogram("traces_service_graph_request_client_seconds",
              "The client span's duration of each request of an edge, in seconds");
  for (const auto& edge : s.edges) {
    m.histogram_sample("traces_service_graph_request_client_seconds", metrics::kServiceGraphBuckets,
                       edge.client_seconds.counts(), edge.client_seconds.sum(), edge_labels(edge));
  }
  m.counter("ztrace_request_metrics_overflow_total",
            "Spans and requests folded into the overflow series (more series than max_series)")
      .sample("ztrace_request_metrics_overflow_total", static_cast<double>(s.span_overflowed),
              {{"metric", "traces_spanmetrics"}})
      .sample("ztrace_request_metrics_overflow_total", static_cast<double>(s.graph.overflowed),
              {{"metric", "traces_service_graph"}});
  m.gauge("ztrace_request_metrics_max_series", "The bound on series per metric")
      .sample("ztrace_request_metrics_max_series", static_cast<double>(s.max_series));
  m.counter("ztrace_service_graph_spans_total",
            "How spans became service graph edges: paired by ids, by the peer's address, or not");
  s.graph.for_each([&](std::string_view outcome, uint64_t value) {
    m.sample("ztrace_service_graph_spans_total", static_cast<double>(value),
             {{"outcome", std::string(outcome)}});
  });
  m.gauge("ztrace_service_graph_pending_spans", "Spans waiting for the other end of their request")
      .sample("ztrace_service_graph_pending_spans", static_cast<double>(s.graph_pending));
}

}  // namespace ztrace::control
