#pragma once

// `ztrace view --web`: the web view served over HTTP on a local address until the process is
// stopped (Ctrl-C).

#include <iosfwd>
#include <string>

#include "userspace/view/view_command.h"

namespace ztrace::view {

// "HOST:PORT" (port 0: any free one). Returns the exit code: 1 when it cannot listen.
int serve_web(const ViewOptions& options, const std::string& listen, std::ostream& notes);

}  // namespace ztrace::view
