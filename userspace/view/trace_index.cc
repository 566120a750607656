#include "userspace/view/trace_index.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace ztrace::view {

std::string ReadProblems::describe() const {
  std::string text;
  for (const auto& file : unreadable_files) text += "note: cannot read " + file + "\n";
  if (malformed_lines > 0) {
    text += "note: skipped " + std::to_string(malformed_lines) +
            " line(s) that are not spans (first: " + first_malformed + ")\n";
  }
  if (truncated_lines > 0) {
    text += "note: " + std::to_string(truncated_lines) +
            " file(s) end in a partial line (still being written?): it was skipped\n";
  }
  return text;
}

void TraceIndex::build() {
  for (uint32_t file = 0; file < files_.size(); ++file) {
    std::ifstream in(files_[file], std::ios::binary);
    if (!in) {
      problems_.unreadable_files.push_back(files_[file] + ": " + std::strerror(errno));
      continue;
    }
    std::string line;
    uint64_t offset = 0;
    uint64_t number = 0;
    ViewSpan span;
    std::string error;
    while (std::getline(in, line)) {
      ++number;
      const uint64_t line_offset = offset;
      offset += line.size() + 1;
      if (in.eof()) {  // no line feed: the writer may be mid-line
        ++problems_.truncated_lines;
        break;
      }
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (!parse_span_line(line, &span, &error)) {
        if (problems_.malformed_lines++ == 0) {
          problems_.first_malformed = files_[file] + ":" + std::to_string(number) + ": " + error;
        }
        continue;
      }
      add(span, {file, line_offset});
    }
  }
}

void TraceSummary::add(const ViewSpan& span) {
  if (trace_id.empty()) trace_id = span.trace_id;
  start_ns = std::min(start_ns, span.start_ns);
  end_ns = std::max(end_ns, span.end_ns);
  error = error || span.error;
  if (!span.service.empty() &&
      std::find(services.begin(), services.end(), span.service) == services.end()) {
    services.push_back(span.service);
  }
}

void TraceIndex::add(const ViewSpan& span, SpanLocation location) {
  TraceSummary& trace = traces_[span.trace_id];
  trace.add(span);
  trace.spans.push_back(location);
  ++spans_;
}

std::vector<const TraceSummary*> TraceIndex::traces() const {
  std::vector<const TraceSummary*> ordered;
  ordered.reserve(traces_.size());
  for (const auto& [id, trace] : traces_) ordered.push_back(&trace);
  std::sort(ordered.begin(), ordered.end(), [](const TraceSummary* a, const TraceSummary* b) {
    return a->start_ns != b->start_ns ? a->start_ns < b->start_ns : a->trace_id < b->trace_id;
  });
  return ordered;
}

std::vector<ViewSpan> TraceIndex::load(const TraceSummary& trace, ReadProblems* problems) const {
  std::vector<ViewSpan> spans;
  std::ifstream in;
  uint32_t open_file = UINT32_MAX;
  std::string line;
  std::string error;
  for (const SpanLocation& location : trace.spans) {
    if (location.file != open_file) {
      in = std::ifstream(files_[location.file], std::ios::binary);
      open_file = location.file;
    }
    in.clear();
    in.seekg(static_cast<std::streamoff>(location.offset));
    ViewSpan span;
    if (std::getline(in, line) && parse_span_line(line, &span, &error)) {
      spans.push_back(std::move(span));
    } else if (problems->malformed_lines++ == 0) {  // the file changed since it was indexed
      problems->first_malformed = files_[location.file] + ": changed since it was read";
    }
  }
  return spans;
}

}  // namespace ztrace::view
