#pragma once

// `ztrace view`: traces from JSON-lines files as waterfalls, filtered, in plain text (a
// pipe, a test) or followed live as the agent writes them.

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

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

struct ViewOptions {
  std::vector<std::string> files;
  TraceFilter filter;
  WaterfallOptions waterfall;
  size_t last = 0;  // only the last N traces (0: all)
  bool follow = false;
  // --follow: a trace is shown once no span of it came for this long.
  std::chrono::milliseconds settle{2000};
};

// Returns the exit code: 0, 1 when no file could be read.
int run_view(const ViewOptions& options, std::ostream& out, std::ostream& notes);

// "2026-12-05T12:00:00Z" (fraction optional) or unix seconds; nullopt otherwise.
std::optional<uint64_t> parse_time_unix_ns(const std::string& text);

}  // namespace ztrace::view
