#pragma once

// An index of JSON-lines span files by trace, built in one streaming pass: a trace's spans
// are read back from their files when it is shown, so a file of any size is never held in
// memory. The index keeps 16 bytes per span and a summary per trace (README "ztrace view").

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "userspace/view/span_line.h"

namespace ztrace::view {

struct SpanLocation {
  uint32_t file = 0;
  uint64_t offset = 0;  // of the line's first byte
};

struct TraceSummary {
  std::string trace_id;
  uint64_t start_ns = UINT64_MAX;
  uint64_t end_ns = 0;
  bool error = false;
  std::vector<std::string> services;  // in order of first appearance
  std::vector<SpanLocation> spans;

  uint64_t duration_ns() const { return end_ns > start_ns ? end_ns - start_ns : 0; }
  // Takes in one span's time, status and service (not its location).
  void add(const ViewSpan& span);
};

// What reading the files found besides spans.
struct ReadProblems {
  uint64_t malformed_lines = 0;
  std::string first_malformed;   // "FILE:LINE: reason"
  uint64_t truncated_lines = 0;  // a last line without its line feed (a file still written)
  std::vector<std::string> unreadable_files;  // "FILE: reason"

  bool any() const { return malformed_lines || truncated_lines || !unreadable_files.empty(); }
  std::string describe() const;  // one line per kind of problem
};

class TraceIndex {
 public:
  explicit TraceIndex(std::vector<std::string> files) : files_(std::move(files)) {}

  // Reads every file from the start. Unreadable files and bad lines are noted, not fatal.
  void build();
  // Traces ordered by start time.
  std::vector<const TraceSummary*> traces() const;
  // The spans of one trace, read back from the files (in file order).
  std::vector<ViewSpan> load(const TraceSummary& trace, ReadProblems* problems) const;

  const ReadProblems& problems() const { return problems_; }
  uint64_t span_count() const { return spans_; }

 private:
  void add(const ViewSpan& span, SpanLocation location);

  std::vector<std::string> files_;
  std::unordered_map<std::string, TraceSummary> traces_;
  ReadProblems problems_;
  uint64_t spans_ = 0;
};

}  // namespace ztrace::view
