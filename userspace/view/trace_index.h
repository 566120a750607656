#pragma once

// An index of JSON-lines span files by trace, built in one streaming pass: a trace's spans
// are read back from their files when it is shown, so a file of any size is never held in
// memory. What the index keeps (README "Viewing traces"):
//   per span:  12 bytes (its file and offset, and the next span of its trace);
//   per trace: a fixed record (id, times, error, its list of services as one number) and a
//              hash table entry, about 130 bytes;
//   once:      each distinct service name and each distinct combination of services.
// Nothing of a span's attributes or its line is kept, however long the lines are.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "userspace/view/span_line.h"

namespace ztrace::view {

// A trace's facts, for its header and the filters.
struct TraceSummary {
  std::string trace_id;
  uint64_t start_ns = UINT64_MAX;
  uint64_t end_ns = 0;
  bool error = false;
  std::vector<std::string> services;  // in the order their spans were added

  uint64_t duration_ns() const { return end_ns > start_ns ? end_ns - start_ns : 0; }
  // Takes in one span's time, status and service.
  void add(const ViewSpan& span);
};

// What reading the files found besides spans.
struct ReadProblems {
  uint64_t malformed_lines = 0;
  std::string first_malformed;   // "FILE:LINE: reason"
  uint64_t truncated_lines = 0;  // a last line without its line feed (a file still written)
  std::vector<std::string> unreadable_files;  // "FILE: reason"
  uint64_t too_many_spans = 0;                // beyond the index's limit of 2^32 - 1 spans

  bool any() const {
    return malformed_lines || truncated_lines || too_many_spans || !unreadable_files.empty();
  }
  std::string describe() const;  // one line per kind of problem
};

class TraceIndex {
 public:
  explicit TraceIndex(std::vector<std::string> files) : files_(std::move(files)) {}

  // Reads every file from the start. Unreadable files and bad lines are noted, not fatal.
  void build();

  size_t trace_count() const { return traces_.size(); }
  // Trace numbers (0 .. trace_count()-1) ordered by start time, then id.
  std::vector<uint32_t> by_start() const;
  TraceSummary summary(uint32_t trace) const;
  // The number of the trace with this id, or nullopt.
  std::optional<uint32_t> find(std::string_view trace_id) const;
  // The spans of one trace, read back from the files (in file order).
  std::vector<ViewSpan> load(uint32_t trace, ReadProblems* problems) const;

  const ReadProblems& problems() const { return problems_; }
  uint64_t span_count() const { return span_locations_.size(); }
  // The bytes the index's own containers hold (capacity, hash nodes estimated): the bound the
  // README states, checked by the tests.
  size_t memory_bytes() const;

 private:
  using TraceId = std::array<char, 32>;
  struct TraceIdHash {
    size_t operator()(const TraceId& id) const {
      return std::hash<std::string_view>()(std::string_view(id.data(), id.size()));
    }
  };
  struct IndexedTrace {
    TraceId id;
    uint64_t start_ns = UINT64_MAX;
    uint64_t end_ns = 0;
    uint32_t first_span = 0;  // into span_locations_; the rest chained through next_span_
    uint32_t last_span = 0;
    uint32_t service_list = 0;  // into service_lists_
    bool error = false;
  };
  static constexpr uint32_t kNoSpan = UINT32_MAX;

  void add(const ViewSpan& span, uint32_t file, uint64_t offset);
  uint16_t service_number(const std::string& service);
  uint32_t service_list_with(uint32_t list, uint16_t service);

  std::vector<std::string> files_;
  std::vector<IndexedTrace> traces_;
  std::unordered_map<TraceId, uint32_t, TraceIdHash> trace_numbers_;
  std::vector<uint64_t> span_locations_;  // file << 48 | offset
  std::vector<uint32_t> next_span_;       // the next span of the same trace, or kNoSpan
  std::vector<std::string> services_;
  std::unordered_map<std::string, uint16_t> service_numbers_;
  std::vector<std::vector<uint16_t>> service_lists_{{}};  // list 0: no service
  std::map<std::vector<uint16_t>, uint32_t> service_list_numbers_{{{}, 0}};
  ReadProblems problems_;
};

}  // namespace ztrace::view
