#pragma once

// `ztrace view`: traces from JSON-lines files as waterfalls, filtered, in plain text (a
// pipe, a test) or followed live as the agent writes them.

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "userspace/view/trace_output.h"
#include "userspace/view/waterfall.h"

namespace ztrace::view {

struct ViewOptions {
  std::vector<std::string> files;
  TraceFilter filter;
  WaterfallOptions waterfall;
  size_t last = 0;  // only the last N traces (0: all)
  bool follow = false;
  // A terminal view to pick a trace, fold and scroll (stdin and stdout are terminals and
  // --plain is not given); otherwise plain text.
  bool interactive = false;
  // --follow: a trace is shown once no span of it came for this long.
  std::chrono::milliseconds settle{2000};
};

// Returns the exit code: 0, 1 when no file could be read.
int run_view(const ViewOptions& options, std::ostream& out, std::ostream& notes);

// "2026-12-05T12:00:00Z" (fraction optional) or unix seconds; nullopt otherwise.
std::optional<uint64_t> parse_time_unix_ns(const std::string& text);

}  // namespace ztrace::view
