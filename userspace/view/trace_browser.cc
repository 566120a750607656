#include "userspace/view/trace_browser.h"

#include <algorithm>

#include "userspace/view/trace_output.h"

namespace ztrace::view {
namespace {

constexpr char kListHelp[] = "↑↓ PgUp PgDn Home End: move   Enter: open   q: quit";
constexpr char kTraceHelp[] =
    "↑↓ PgUp PgDn: move   Enter/Space: fold/unfold   ←→: fold, unfold   Esc/b: back   q: quit";

// The first row shown so that `cursor` is in a window of `height` rows starting near `top`.
size_t scrolled_top(size_t top, size_t cursor, size_t height) {
  if (height == 0) return cursor;
  if (cursor < top) return cursor;
  if (cursor >= top + height) return cursor + 1 - height;
  return top;
}

}  // namespace

std::string TraceBrowser::list_line(size_t trace) const {
  TraceSummary summary = source_.summary(trace);
  std::sort(summary.services.begin(), summary.services.end());  // the index keeps file order
  std::string services;
  for (const auto& service : summary.services) {
    services += (services.empty() ? "" : ", ") + service;
  }
  return format_time(summary.start_ns) + "  " + fit(format_duration(summary.duration_ns()), 11) +
         "  " + (summary.error ? "ERROR  " : "       ") + summary.trace_id + "  " + services;
}

void TraceBrowser::open_trace() {
  if (source_.count == 0) return;
  spans_ = source_.load(list_cursor_);
  const TraceSummary summary = summarize(spans_);
  header_ = trace_header(summary, spans_.size());
  header_.pop_back();  // its line feed
  rows_ = waterfall_rows(spans_, options_);
  folded_.assign(rows_.size(), false);
  cursor_ = top_ = 0;
  in_trace_ = true;
}

std::vector<size_t> TraceBrowser::visible_rows() const {
  std::vector<size_t> visible;
  for (size_t i = 0; i < rows_.size(); i = folded_[i] ? rows_[i].subtree_end : i + 1) {
    visible.push_back(i);
  }
  return visible;
}

void TraceBrowser::toggle(bool unfold, bool fold) {
  const std::vector<size_t> visible = visible_rows();
  if (cursor_ >= visible.size()) return;
  const size_t row = visible[cursor_];
  if (rows_[row].subtree_end == row + 1) return;  // no children
  if (folded_[row] ? unfold : fold) folded_[row] = !folded_[row];
}

void TraceBrowser::move(int delta, size_t count) {
  size_t& cursor = in_trace_ ? cursor_ : list_cursor_;
  if (count == 0) return;
  const long target = static_cast<long>(cursor) + delta;
  cursor = static_cast<size_t>(std::clamp<long>(target, 0, static_cast<long>(count) - 1));
}

bool TraceBrowser::handle(const KeyPress& key, int page_rows) {
  const int page = std::max(page_rows - 1, 1);
  const size_t count = in_trace_ ? visible_rows().size() : source_.count;
  const char ch = key.key == Key::kChar ? key.ch : 0;
  if (ch == 'q' || key.key == Key::kClosed) return false;
  if (key.key == Key::kUp || ch == 'k') move(-1, count);
  if (key.key == Key::kDown || ch == 'j') move(1, count);
  if (key.key == Key::kPageUp) move(-page, count);
  if (key.key == Key::kPageDown) move(page, count);
  if (key.key == Key::kHome || ch == 'g') move(-static_cast<int>(count), count);
  if (key.key == Key::kEnd || ch == 'G') move(static_cast<int>(count), count);
  if (!in_trace_) {
    if (key.key == Key::kEnter || key.key == Key::kRight || ch == 'l') open_trace();
    if (key.key == Key::kEscape) return false;
    return true;
  }
  if (key.key == Key::kEnter || key.key == Key::kSpace) toggle(true, true);
  if (key.key == Key::kLeft || ch == 'h') toggle(false, true);
  if (key.key == Key::kRight || ch == 'l') toggle(true, false);
  if (key.key == Key::kEscape || key.key == Key::kBackspace || ch == 'b') {
    in_trace_ = false;
    spans_.clear();
    rows_.clear();
  }
  return true;
}

std::string TraceBrowser::screen(int rows, int screen_columns) {
  const size_t width = static_cast<size_t>(std::max(screen_columns, 1));
  const size_t body = static_cast<size_t>(std::max(rows - 2, 0));
  std::vector<std::string> lines;
  size_t cursor_line = SIZE_MAX;
  if (!in_trace_) {
    lines.push_back("ztrace view: " + std::to_string(source_.count) + " traces");
    list_top_ = scrolled_top(list_top_, list_cursor_, body);
    for (size_t i = list_top_; i < source_.count && i < list_top_ + body; ++i) {
      if (i == list_cursor_) cursor_line = lines.size();
      lines.push_back(list_line(i));
    }
    if (source_.count == 0) lines.push_back("(no trace matches)");
  } else {
    lines.push_back(header_);
    const std::vector<size_t> visible = visible_rows();
    top_ = scrolled_top(top_, cursor_, body);
    for (size_t i = top_; i < visible.size() && i < top_ + body; ++i) {
      const WaterfallRow& row = rows_[visible[i]];
      const bool parent = row.subtree_end > visible[i] + 1;
      if (i == cursor_) cursor_line = lines.size();
      lines.push_back((parent ? (folded_[visible[i]] ? "▸ " : "▾ ") : "  ") + row.text);
    }
  }
  lines.resize(body + 1);
  lines.push_back(in_trace_ ? kTraceHelp : kListHelp);
  std::string text;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string line = lines[i];
    if (i == cursor_line) {
      line = "\x1b[7m" + fit(line, width) + "\x1b[0m";  // the whole width, reversed
    } else if (columns(line) > width) {
      line = fit(line, width);
    }
    text += line + (i + 1 < lines.size() ? "\x1b[K\r\n" : "\x1b[K");
  }
  return text;
}

}  // namespace ztrace::view
