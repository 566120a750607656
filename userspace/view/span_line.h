#pragma once

// One span of the JSON-lines output (README "JSON lines output"), as the viewer needs it.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ztrace::view {

struct SpanLink {
  std::string trace_id;
  std::string span_id;
};

struct ViewSpan {
  std::string trace_id;        // 32 hex
  std::string span_id;         // 16 hex
  std::string parent_span_id;  // "" for a root
  std::string name;
  std::string kind;     // SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL
  std::string service;  // resource service.name
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  bool error = false;
  std::string status_message;
  std::string detail;   // what the row shows after the name: a path, a status code
  std::string outcome;  // the protocol's status: 200, OK, 23505, ... ("" when none)
  std::vector<SpanLink> links;
  std::string attributes_json;  // the attributes object as written, for the web page

  uint64_t duration_ns() const { return end_ns > start_ns ? end_ns - start_ns : 0; }
};

// Parses one line; false (and `error`) when it is not a span object.
bool parse_span_line(std::string_view line, ViewSpan* span, std::string* error);

}  // namespace ztrace::view
