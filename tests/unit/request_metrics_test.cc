// Span metrics and the service graph (userspace/metrics): buckets, labels, the series bound
// and its overflow, route normalization, and how client and server spans are paired.

#include "userspace/metrics/request_metrics.h"

#include <catch2/catch_test_macros.hpp>
#include <string>

#include "userspace/control/metrics_text.h"
#include "userspace/control/request_metrics_text.h"
#include "userspace/metrics/route.h"

namespace {

using namespace ztrace;
using metrics::SpanRecord;
using spans::SpanKind;
using spans::StatusCode;

std::string normalized(std::string_view path) {
  std::string out;
  metrics::normalize_path(path, out);
  return out;
}

SpanRecord server_span(std::string_view service, uint64_t duration_ns, StatusCode status,
                       std::string_view path = "/") {
  SpanRecord r;
  r.service = service;
  r.name = "GET";
  r.kind = SpanKind::kServer;
  r.status = status;
  r.duration_ns = duration_ns;
  r.path = path;
  return r;
}

const metrics::SpanSeries* find_series(const metrics::RequestMetricsSnapshot& s,
                                       std::string_view service, StatusCode status,
                                       std::string_view route) {
  for (const auto& series : s.spans) {
    if (series.service == service && series.status == status && series.route == route) {
      return &series;
    }
  }
  return nullptr;
}

const metrics::EdgeSeries* find_edge(const metrics::RequestMetricsSnapshot& s,
                                     std::string_view client, std::string_view server) {
  for (const auto& edge : s.edges) {
    if (edge.client == client && edge.server == server) return &edge;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("request metrics: paths become bounded routes", "[request_metrics]") {
  CHECK(normalized("/users/42/orders") == "/users/{id}/orders");
  CHECK(normalized("/items/550e8400-e29b-41d4-a716-446655440000") == "/items/{id}");
  CHECK(normalized("/blob/deadbeef12") == "/blob/{id}");
  CHECK(normalized("/static/app.css") == "/static/app.css");
  CHECK(normalized("/deadbeef") == "/deadbeef");  // all letters: a word, not an id
  CHECK(normalized("/search?q=1") == "/search");
  CHECK(normalized("") == "/");
  CHECK(normalized("/") == "/");
  CHECK(normalized("/a/") == "/a/");
  CHECK(normalized("/" + std::string(41, 'x')) == "/{id}");
  const std::string long_path = "/" + std::string(35, 'a') + "/" + std::string(35, 'b') + "/" +
                                std::string(35, 'c') + "/" + std::string(35, 'd') + "/e";
  const std::string route = normalized(long_path);
  CHECK(route.size() == metrics::kMaxRouteBytes);
  CHECK(route.ends_with("/..."));
}

TEST_CASE("request metrics: calls and latency buckets per service, name, kind, status, route",
          "[request_metrics]") {
  metrics::RequestMetrics m({});
  m.record(server_span("shop", 1'000'000, StatusCode::kUnset, "/users/1"), 0);       // 1 ms
  m.record(server_span("shop", 2'000'000, StatusCode::kUnset, "/users/2"), 0);       // 2 ms: le
  m.record(server_span("shop", 300'000'000, StatusCode::kError, "/users/3"), 0);     // 0.3 s
  m.record(server_span("shop", 20'000'000'000, StatusCode::kUnset, "/users/4"), 0);  // > all
  const auto s = m.snapshot();
  REQUIRE(s.spans.size() == 2);
  const auto* ok = find_series(s, "shop", StatusCode::kUnset, "/users/{id}");
  REQUIRE(ok);
  CHECK(ok->calls == 3);
  const auto& counts = ok->latency.counts();
  REQUIRE(counts.size() == metrics::kSpanLatencyBuckets.size() + 1);
  CHECK(counts[0] == 2);  // 1 ms and exactly 2 ms: le="0.002" holds both
  CHECK(counts.back() == 1);
  CHECK(ok->latency.count() == 3);
  CHECK(ok->latency.sum() == 1e-3 + 2e-3 + 20.0);
  const auto* error = find_series(s, "shop", StatusCode::kError, "/users/{id}");
  REQUIRE(error);
  CHECK(error->calls == 1);
  CHECK(error->latency.counts()[8] == 1);  // 0.256 < 0.3 <= 0.512

  control::MetricsText text;
  control::render_request_metrics(text, s);
  const std::string& t = text.text();
  CHECK(t.find("traces_spanmetrics_calls_total{service=\"shop\",span_name=\"GET\","
               "span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\","
               "http_route=\"/users/{id}\"} 3\n") != std::string::npos);
  CHECK(t.find("traces_spanmetrics_latency_bucket{service=\"shop\",span_name=\"GET\","
               "span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\","
               "http_route=\"/users/{id}\",le=\"0.002\"} 2\n") != std::string::npos);
  CHECK(t.find("le=\"16.384\"} 2\n") != std::string::npos);
  CHECK(t.find("le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(t.find("# TYPE traces_spanmetrics_latency histogram\n") != std::string::npos);
}

TEST_CASE("request metrics: series beyond the bound go to the overflow series, counted",
          "[request_metrics]") {
  metrics::RequestMetrics m({.max_series = 3});
  for (int i = 0; i < 5; ++i) {
    const std::string service = "svc" + std::to_string(i);
    m.record(server_span(service, 1000, StatusCode::kUnset), 0);
    m.record(server_span(service, 1000, StatusCode::kUnset), 0);
  }
  const auto s = m.snapshot();
  REQUIRE(s.spans.size() == 3);  // two series and the overflow, the bound
  CHECK(s.spans[0].service == "svc0");
  CHECK(s.spans[1].service == "svc1");
  CHECK(s.spans[2].overflow);
  CHECK(s.spans[2].calls == 6);
  CHECK(s.span_overflowed == 6);
  control::MetricsText text;
  control::render_request_metrics(text, s);
  CHECK(text.text().find("traces_spanmetrics_calls_total{otel_metric_overflow=\"true\"} 6\n") !=
        std::string::npos);
  CHECK(text.text().find(
            "ztrace_request_metrics_overflow_total{metric=\"traces_spanmetrics\"} 6\n") !=
        std::string::npos);
}

TEST_CASE("service graph: a client span pairs with the server span it called, by ids",
          "[request_metrics]") {
  metrics::RequestMetrics m({});
  SpanRecord client;
  client.service = "frontend";
  client.name = "GET";
  client.kind = SpanKind::kClient;
  client.duration_ns = 300'000'000;
  client.trace_id[0] = 1;
  client.span_id[0] = 7;
  client.peer_address = "127.0.0.1";
  client.peer_port = 8080;
  SpanRecord server = server_span("backend", 150'000'000, StatusCode::kError);
  server.trace_id = client.trace_id;
  server.parent_span_id = client.span_id;
  server.span_id[0] = 9;
  server.local_address = "127.0.0.1";
  server.local_port = 8080;
  m.record(server, 100);  // the server's span usually ends first
  m.record(client, 100);
  auto s = m.snapshot();
  const auto* edge = find_edge(s, "frontend", "backend");
  REQUIRE(edge);
  CHECK(edge->connection_type.empty());
  CHECK(edge->requests == 1);
  CHECK(edge->failed == 1);                      // either end an error
  CHECK(edge->client_seconds.counts()[2] == 1);  // 0.3 s: le 0.4
  CHECK(edge->server_seconds.counts()[1] == 1);  // 0.15 s: le 0.2
  CHECK(s.graph.paired == 1);
  CHECK(s.graph_pending == 0);

  // Unlinked ids: after the wait, by the peer address the server was seen serving on.
  SpanRecord lost = client;
  lost.span_id[0] = 8;
  m.record(lost, 200);
  m.expire(200 + 9'000'000'000);
  CHECK(m.snapshot().graph_pending == 1);
  m.expire(200 + 10'000'000'000);
  s = m.snapshot();
  CHECK(s.graph_pending == 0);
  CHECK(find_edge(s, "frontend", "backend")->requests == 2);
  CHECK(s.graph.by_peer_service == 1);

  // A peer no traced server listens on: a virtual node named by its address.
  SpanRecord outside = client;
  outside.span_id[0] = 10;
  outside.peer_address = "10.1.2.3";
  outside.peer_port = 443;
  m.record(outside, 300);
  m.expire(300 + 10'000'000'000);
  s = m.snapshot();
  const auto* virtual_edge = find_edge(s, "frontend", "10.1.2.3:443");
  REQUIRE(virtual_edge);
  CHECK(virtual_edge->connection_type == "virtual_node");

  // A database call is an edge at once; a root server span and a lone server span are none.
  SpanRecord query = client;
  query.span_id[0] = 11;
  query.peer_kind = metrics::PeerKind::kDatabase;
  query.peer_address = "127.0.0.1";
  query.peer_port = 5432;
  m.record(query, 400);
  SpanRecord root = server_span("backend", 1000, StatusCode::kUnset);
  m.record(root, 400);
  SpanRecord orphan = server;
  orphan.parent_span_id[0] = 99;
  m.record(orphan, 400);
  m.expire(400 + 10'000'000'000);
  s = m.snapshot();
  REQUIRE(find_edge(s, "frontend", "127.0.0.1:5432"));
  CHECK(find_edge(s, "frontend", "127.0.0.1:5432")->connection_type == "database");
  CHECK(s.graph.server_unpaired == 2);
  CHECK(s.edges.size() == 3);

  control::MetricsText text;
  control::render_request_metrics(text, s);
  CHECK(text.text().find("traces_service_graph_request_total{client=\"frontend\","
                         "server=\"backend\",connection_type=\"\"} 2\n") != std::string::npos);
  CHECK(text.text().find("traces_service_graph_request_failed_total{client=\"frontend\","
                         "server=\"backend\",connection_type=\"\"} 1\n") != std::string::npos);
  CHECK(text.text().find("traces_service_graph_request_server_seconds_bucket{client="
                         "\"frontend\",server=\"backend\",connection_type=\"\",le=\"0.1\"} 0\n") !=
        std::string::npos);
}

TEST_CASE("service graph: pending spans are bounded, the excess counted", "[request_metrics]") {
  metrics::ServiceGraph graph({.max_pending = 2});
  for (uint8_t i = 1; i <= 3; ++i) {
    SpanRecord client;
    client.service = "a";
    client.kind = SpanKind::kClient;
    client.span_id[0] = i;
    graph.record(client, 0);
  }
  CHECK(graph.pending() == 2);
  CHECK(graph.stats().dropped_pending == 1);
}
