#pragma once

// What every way of showing traces shares: the filter a trace must pass, and a trace printed
// as a header line and its waterfall.

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "userspace/view/trace_index.h"
#include "userspace/view/waterfall.h"

namespace ztrace::view {

struct TraceFilter {
  std::vector<std::string> services;  // any span of one of these services
  uint64_t min_duration_ns = 0;       // the trace's time span
  bool errors_only = false;
  std::string trace_id_prefix;
  std::optional<uint64_t> from_unix_ns;  // the trace starts at or after
  std::optional<uint64_t> to_unix_ns;    // the trace starts before
};

bool passes(const TraceFilter& filter, const TraceSummary& trace);

// The trace's facts from its spans (which it sorts by start time).
TraceSummary summarize(std::vector<ViewSpan>& spans);

// "trace ID  N spans  DURATION  START  [ERROR]  [services]".
std::string trace_header(const TraceSummary& trace, size_t span_count);

// The header, the waterfall and a blank line.
void print_trace(std::vector<ViewSpan> spans, const WaterfallOptions& options, std::ostream& out);

}  // namespace ztrace::view
