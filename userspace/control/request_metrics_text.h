#pragma once

// Span metrics and the service graph on /metrics, under Tempo's metrics generator names:
// traces_spanmetrics_calls_total and traces_spanmetrics_latency{service, span_name,
// span_kind, status_code[, http_route]}, traces_service_graph_request_total,
// traces_service_graph_request_failed_total, traces_service_graph_request_server_seconds and
// traces_service_graph_request_client_seconds{client, server, connection_type}; the overflow
// series carries otel_metric_overflow="true" alone. Then the agent's own counters about them.

#include "userspace/control/metrics_text.h"
#include "userspace/metrics/request_metrics.h"

namespace ztrace::control {

void render_request_metrics(MetricsText& m, const metrics::RequestMetricsSnapshot& s);

}  // namespace ztrace::control
