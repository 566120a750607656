#include "userspace/view/trace_output.h"

#include <algorithm>
#include <ostream>

namespace ztrace::view {

bool passes(const TraceFilter& filter, const TraceSummary& trace) {
  if (filter.errors_only && !trace.error) return false;
  if (trace.duration_ns() < filter.min_duration_ns) return false;
  if (!trace.trace_id.starts_with(filter.trace_id_prefix)) return false;
  if (filter.from_unix_ns && trace.start_ns < *filter.from_unix_ns) return false;
  if (filter.to_unix_ns && trace.start_ns >= *filter.to_unix_ns) return false;
  if (!filter.services.empty() &&
      std::none_of(filter.services.begin(), filter.services.end(), [&](const std::string& s) {
        return std::find(trace.services.begin(), trace.services.end(), s) != trace.services.end();
      })) {
    return false;
  }
  return true;
}

TraceSummary summarize(std::vector<ViewSpan>& spans) {
  std::stable_sort(spans.begin(), spans.end(),
                   [](const ViewSpan& a, const ViewSpan& b) { return a.start_ns < b.start_ns; });
  TraceSummary trace;
  for (const auto& span : spans) trace.add(span);
  return trace;
}

std::string trace_header(const TraceSummary& trace, size_t span_count) {
  std::string services;
  for (const auto& service : trace.services) services += (services.empty() ? "" : ", ") + service;
  return "trace " + trace.trace_id + "  " + std::to_string(span_count) +
         (span_count == 1 ? " span  " : " spans  ") + format_duration(trace.duration_ns()) + "  " +
         format_time(trace.start_ns) + (trace.error ? "  ERROR" : "") +
         (services.empty() ? "" : "  [" + services + "]") + "\n";
}

void print_trace(std::vector<ViewSpan> spans, const WaterfallOptions& options, std::ostream& out) {
  const TraceSummary trace = summarize(spans);
  out << trace_header(trace, spans.size()) << render_waterfall(std::move(spans), options) << "\n";
}

}  // namespace ztrace::view
