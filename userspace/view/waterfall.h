#pragma once

// A trace as a waterfall in plain text: the span tree by parent, one row per span with its
// service, kind, name, outcome and duration, and a bar placed on the trace's time span.
// Spans whose parent is not in the trace hang under a marked "parent not seen" row.

#include <string>
#include <vector>

#include "userspace/view/span_line.h"

namespace ztrace::view {

struct WaterfallOptions {
  int bar_width = 40;
  int name_width = 72;  // the widest the tree and name column gets, in terminal columns
};

// `spans`: one trace's spans, in any order.
std::string render_waterfall(std::vector<ViewSpan> spans, const WaterfallOptions& options);

// "12.345 ms", "1.200 s", "850 us".
std::string format_duration(uint64_t ns);
// "2026-12-05T12:00:00.123Z".
std::string format_time(uint64_t unix_ns);

}  // namespace ztrace::view
