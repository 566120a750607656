#pragma once

// `ztrace view --follow`: spans are gathered per trace as the files grow, and a trace is shown
// once no span of it came for a while. A file that is truncated is read again from its start;
// a file that is replaced (rotated) is read to its end, then the new one from its start.

#include <chrono>
#include <functional>
#include <iosfwd>
#include <stop_token>
#include <string>
#include <vector>

#include "userspace/view/trace_output.h"

namespace ztrace::view {

struct FollowOptions {
  std::vector<std::string> files;
  TraceFilter filter;
  // A trace is settled once no span of it came for this long.
  std::chrono::milliseconds settle{2000};
  std::chrono::milliseconds poll{200};
};

// Hands each settled trace (its spans, in the order read) that passes the filter to `show`,
// until `stop` is requested; then returns, the traces still waiting shown as they are.
void follow_files(const FollowOptions& options, std::stop_token stop,
                  const std::function<void(std::vector<ViewSpan>)>& show, std::ostream& notes);

}  // namespace ztrace::view
