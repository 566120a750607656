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

// The same waterfall as rows, for a view that folds subtrees.
struct WaterfallRow {
  std::string text;
  size_t subtree_end = 0;          // the index after this row's last descendant
  const ViewSpan* span = nullptr;  // into the spans given; null for a marker or a link row
};
// Removes duplicate span ids from `spans`; the rows point into it.
std::vector<WaterfallRow> waterfall_rows(std::vector<ViewSpan>& spans,
                                         const WaterfallOptions& options);

// Terminal columns of UTF-8 text (the tree's box characters are one column each).
size_t columns(const std::string& text);
// `text` cut (with an ellipsis) or padded to exactly `width` columns.
std::string fit(const std::string& text, size_t width);

// "12.345 ms", "1.200 s", "850 us".
std::string format_duration(uint64_t ns);
// "2026-12-05T12:00:00.123Z".
std::string format_time(uint64_t unix_ns);

}  // namespace ztrace::view
