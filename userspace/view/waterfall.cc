#include "userspace/view/waterfall.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace ztrace::view {
namespace {

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

struct Node {
  const ViewSpan* span = nullptr;  // null: a missing parent
  std::string missing_parent_id;
  std::vector<Node*> children;
};

class Renderer {
 public:
  Renderer(const WaterfallOptions& options, uint64_t trace_start, uint64_t trace_end)
      : options_(options),
        start_(trace_start),
        span_ns_(std::max<uint64_t>(trace_end - trace_start, 1)) {}

  void row(const Node& node, const std::string& prefix, const std::string& child_prefix) {
    if (!visited_.insert(&node).second) return;  // parent ids that form a cycle
    const size_t first = rows_.size();
    if (node.span == nullptr) {
      rows_.push_back({prefix + "? parent not seen (" + node.missing_parent_id + ")", ""});
    } else {
      span_row(*node.span, prefix);
      for (const auto& link : node.span->links) {
        rows_.push_back({child_prefix + (node.children.empty() ? "  " : "│ ") + "↪ link to trace " +
                             link.trace_id + " span " + link.span_id,
                         ""});
      }
    }
    for (size_t i = 0; i < node.children.size(); ++i) {
      const bool last = i + 1 == node.children.size();
      row(*node.children[i], child_prefix + (last ? "└─ " : "├─ "),
          child_prefix + (last ? "   " : "│  "));
    }
    rows_[first].subtree_end = rows_.size();
  }

  bool visited(const Node& node) const { return visited_.count(&node) > 0; }

  // The rows, the tree and name column as wide as its widest entry (up to the option's).
  std::vector<WaterfallRow> take() const {
    size_t width = 0;
    for (const auto& row : rows_) {
      if (!row.rest.empty()) width = std::max(width, columns(row.tree_and_name));
    }
    width = std::min<size_t>(width, options_.name_width);
    std::vector<WaterfallRow> rows;
    for (size_t i = 0; i < rows_.size(); ++i) {
      const Row& row = rows_[i];
      rows.push_back(
          {row.rest.empty() ? row.tree_and_name : fit(row.tree_and_name, width) + row.rest,
           std::max(row.subtree_end, i + 1), row.span});
    }
    return rows;
  }

 private:
  void span_row(const ViewSpan& span, const std::string& prefix) {
    std::string name = span.name.empty() ? "(unnamed)" : span.name;
    if (!span.detail.empty()) name += " " + span.detail;
    std::string outcome = span.outcome;
    if (span.error) outcome = "!" + (outcome.empty() ? std::string("ERR") : outcome);
    char line[128];
    std::snprintf(line, sizeof(line), " %-16s %-8s %-6s %11s ",
                  fit(span.service.empty() ? "?" : span.service, 16).c_str(),
                  lowercase(span.kind).substr(0, 8).c_str(), outcome.substr(0, 6).c_str(),
                  format_duration(span.duration_ns()).c_str());
    rows_.push_back({prefix + name, std::string(line) + bar(span), 0, &span});
  }

  // "[   =====      ]": where the span lies on the trace's time span.
  std::string bar(const ViewSpan& span) const {
    const int width = options_.bar_width;
    const uint64_t from = std::clamp(span.start_ns, start_, start_ + span_ns_) - start_;
    const uint64_t to = std::clamp(span.end_ns, start_, start_ + span_ns_) - start_;
    int first = static_cast<int>(from * width / span_ns_);
    int last = static_cast<int>((to * width + span_ns_ - 1) / span_ns_);  // rounded up
    first = std::min(first, width - 1);
    last = std::clamp(last, first + 1, width);
    return "[" + std::string(first, ' ') + std::string(last - first, '=') +
           std::string(width - last, ' ') + "]";
  }

  const WaterfallOptions& options_;
  const uint64_t start_;
  const uint64_t span_ns_;
  struct Row {
    std::string tree_and_name;
    std::string rest;  // "": a row of its own (a marker, a link), not fitted to the column
    size_t subtree_end = 0;
    const ViewSpan* span = nullptr;
  };
  std::unordered_set<const Node*> visited_;
  std::vector<Row> rows_;
};

bool earlier(const Node* a, const Node* b) {
  const uint64_t a_start = a->span ? a->span->start_ns : 0;
  const uint64_t b_start = b->span ? b->span->start_ns : 0;
  if (a_start != b_start) return a_start < b_start;
  return (a->span ? a->span->span_id : a->missing_parent_id) <
         (b->span ? b->span->span_id : b->missing_parent_id);
}

}  // namespace

size_t columns(const std::string& text) {
  return std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; });
}

std::string fit(const std::string& text, size_t width) {
  if (columns(text) <= width) return text + std::string(width - columns(text), ' ');
  if (width == 0) return "";
  std::string cut;
  size_t used = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool starts_char = (text[i] & 0xC0) != 0x80;
    if (starts_char && used + 1 == width) break;  // room for the ellipsis
    if (starts_char) ++used;
    cut += text[i];
  }
  return cut + "…";
}

std::string format_duration(uint64_t ns) {
  char text[32];
  if (ns >= 1'000'000'000) {
    std::snprintf(text, sizeof(text), "%.3f s", ns / 1e9);
  } else if (ns >= 1'000'000) {
    std::snprintf(text, sizeof(text), "%.3f ms", ns / 1e6);
  } else {
    std::snprintf(text, sizeof(text), "%" PRIu64 " us", ns / 1000);
  }
  return text;
}

std::string format_time(uint64_t unix_ns) {
  const time_t seconds = static_cast<time_t>(unix_ns / 1'000'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof(text) - n, ".%03uZ",
                static_cast<unsigned>(unix_ns / 1'000'000 % 1000));
  return text;
}

std::string render_waterfall(std::vector<ViewSpan> spans, const WaterfallOptions& options) {
  std::string text;
  for (const auto& row : waterfall_rows(spans, options)) text += row.text + "\n";
  return text;
}

std::vector<WaterfallRow> waterfall_rows(std::vector<ViewSpan>& spans,
                                         const WaterfallOptions& options) {
  if (spans.empty()) return {};
  uint64_t start = UINT64_MAX;
  uint64_t end = 0;
  for (const auto& span : spans) {
    start = std::min(start, span.start_ns);
    end = std::max(end, span.end_ns);
  }
  // A span id seen twice (a file given twice, say) is shown once.
  std::unordered_set<std::string> seen;
  std::erase_if(spans, [&](const ViewSpan& span) { return !seen.insert(span.span_id).second; });

  std::vector<Node> nodes(spans.size());
  std::unordered_map<std::string, Node*> by_id;
  for (size_t i = 0; i < spans.size(); ++i) {
    nodes[i].span = &spans[i];
    by_id[spans[i].span_id] = &nodes[i];
  }
  std::map<std::string, Node> missing_parents;  // by the parent id the spans name
  std::vector<Node*> roots;
  for (auto& node : nodes) {
    const std::string& parent = node.span->parent_span_id;
    if (parent.empty() || parent == node.span->span_id) {
      roots.push_back(&node);
    } else if (const auto it = by_id.find(parent); it != by_id.end()) {
      it->second->children.push_back(&node);
    } else {
      Node& placeholder = missing_parents[parent];
      placeholder.missing_parent_id = parent;
      placeholder.children.push_back(&node);
    }
  }
  for (auto& [id, placeholder] : missing_parents) roots.push_back(&placeholder);
  for (auto& node : nodes) std::sort(node.children.begin(), node.children.end(), earlier);
  for (auto& [id, placeholder] : missing_parents) {
    std::sort(placeholder.children.begin(), placeholder.children.end(), earlier);
  }
  std::sort(roots.begin(), roots.end(), [](const Node* a, const Node* b) {
    // A placeholder sorts by its first child.
    const Node* a_first = a->span ? a : a->children.front();
    const Node* b_first = b->span ? b : b->children.front();
    return earlier(a_first, b_first);
  });

  Renderer renderer(options, start, end);
  for (const Node* root : roots) renderer.row(*root, "", "");
  // Spans whose parents form a cycle are reached from no root: shown, marked.
  for (const auto& node : nodes) {
    if (!renderer.visited(node)) renderer.row(node, "↻ ", "  ");
  }
  return renderer.take();
}

}  // namespace ztrace::view
