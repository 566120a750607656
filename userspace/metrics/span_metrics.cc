#include "userspace/metrics/span_metrics.h"

#include <algorithm>

#include "userspace/metrics/route.h"

namespace ztrace::metrics {

std::string_view kind_label(spans::SpanKind kind) {
  switch (kind) {
    case spans::SpanKind::kInternal:
      return "SPAN_KIND_INTERNAL";
    case spans::SpanKind::kServer:
      return "SPAN_KIND_SERVER";
    case spans::SpanKind::kClient:
      return "SPAN_KIND_CLIENT";
    case spans::SpanKind::kProducer:
      return "SPAN_KIND_PRODUCER";
    case spans::SpanKind::kConsumer:
      return "SPAN_KIND_CONSUMER";
  }
  return "SPAN_KIND_UNSPECIFIED";
}

std::string_view status_label(spans::StatusCode status) {
  switch (status) {
    case spans::StatusCode::kUnset:
      return "STATUS_CODE_UNSET";
    case spans::StatusCode::kOk:
      return "STATUS_CODE_OK";
    case spans::StatusCode::kError:
      return "STATUS_CODE_ERROR";
  }
  return "STATUS_CODE_UNSET";
}

std::string_view service_name(const spans::Resource* resource) {
  if (!resource) return {};
  for (const auto& attribute : resource->attributes) {
    if (attribute.key == std::string_view("service.name")) {
      if (const auto* name = std::get_if<std::string>(&attribute.value)) return *name;
    }
  }
  return {};
}

SpanMetrics::SpanMetrics(size_t max_series) : max_series_(std::max<size_t>(max_series, 2)) {
  overflow_.overflow = true;
}

void SpanMetrics::record(const SpanRecord& span) {
  std::string_view route = span.route;
  if (route.empty() && !span.path.empty()) {
    if (span.path != route_of_) {  // the same path again (common): the same route
      route_of_.assign(span.path);
      normalize_path(span.path, route_);
    }
    route = route_;
  }
  if (SpanSeries* last = last_series_;
      last && last->kind == span.kind && last->status == span.status && last->route == route &&
      last->span_name == span.name && last->service == span.service) {
    ++last->calls;
    last->latency.observe(kSpanLatencyBuckets, span.duration_ns / 1e9);
    return;
  }
  key_.clear();
  key_.append(span.service).append(1, '\x1f').append(span.name).append(1, '\x1f');
  key_.append(1, static_cast<char>('0' + static_cast<int>(span.kind)));
  key_.append(1, static_cast<char>('0' + static_cast<int>(span.status)));
  key_.append(route);
  SpanSeries* series;
  if (auto it = series_.find(std::string_view(key_)); it != series_.end()) {
    series = &it->second;
  } else if (series_.size() + 1 < max_series_) {
    series = &series_[key_];
    series->service = span.service;
    series->span_name = span.name;
    series->route = route;
    series->kind = span.kind;
    series->status = span.status;
  } else {
    series = &overflow_;
    ++overflowed_spans_;
  }
  last_series_ = series == &overflow_ ? nullptr : series;
  ++series->calls;
  series->latency.observe(kSpanLatencyBuckets, span.duration_ns / 1e9);
}

}  // namespace ztrace::metrics
