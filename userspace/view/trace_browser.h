#pragma once

// The interactive view's state, apart from the terminal: a list of traces to pick from, and a
// trace's waterfall with subtrees folded and unfolded, both scrolled to keep the cursor shown.
// It turns keys into state and state into screen text, so it is tested without a terminal.

#include <functional>
#include <string>
#include <vector>

#include "userspace/view/terminal.h"
#include "userspace/view/trace_index.h"
#include "userspace/view/waterfall.h"

namespace ztrace::view {

// The traces the list offers; only the shown ones are asked for.
struct TraceSource {
  size_t count = 0;
  std::function<TraceSummary(size_t)> summary;
  std::function<std::vector<ViewSpan>(size_t)> load;
};

class TraceBrowser {
 public:
  TraceBrowser(TraceSource source, const WaterfallOptions& options)
      : source_(std::move(source)), options_(options) {}

  // One key; false once the user quits. `page_rows`: the body's height, for paging.
  bool handle(const KeyPress& key, int page_rows);
  // The whole screen: a title line, the body, a help line; each line cut to `columns` and
  // ended by "\r\n" but the last, the cursor's line in reverse video.
  std::string screen(int rows, int columns);

  bool in_trace() const { return in_trace_; }

 private:
  void open_trace();
  void toggle(bool unfold, bool fold);
  std::vector<size_t> visible_rows() const;
  void move(int delta, size_t count);
  std::string list_line(size_t trace) const;

  TraceSource source_;
  WaterfallOptions options_;
  bool in_trace_ = false;
  size_t list_cursor_ = 0;
  size_t list_top_ = 0;
  // The open trace.
  std::string header_;
  std::vector<ViewSpan> spans_;
  std::vector<WaterfallRow> rows_;
  std::vector<bool> folded_;
  size_t cursor_ = 0;  // among the visible rows
  size_t top_ = 0;
};

}  // namespace ztrace::view
