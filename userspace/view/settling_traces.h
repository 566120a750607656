#pragma once

// Spans gathered per trace as they arrive, each trace handed on once no span of it came for a
// while (it is then most likely whole). Bounded: beyond the limit of waiting traces the oldest
// is handed on as it is. Used by `ztrace view --follow` and `ztrace run --view`.

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "userspace/view/span_line.h"

namespace ztrace::view {

class SettlingTraces {
 public:
  using Clock = std::chrono::steady_clock;
  using Trace = std::vector<ViewSpan>;

  explicit SettlingTraces(std::chrono::milliseconds settle, size_t max_traces = 10000)
      : settle_(settle), max_traces_(max_traces) {}

  // Adds a span; a trace pushed out by the bound is appended to `done`.
  void add(ViewSpan span, Clock::time_point now, std::vector<Trace>* done);
  // Appends the traces quiet for the settle time (all of them with `everything`) to `done`.
  void take_settled(Clock::time_point now, std::vector<Trace>* done, bool everything = false);
  size_t waiting() const { return pending_.size(); }

 private:
  struct Pending {
    Trace spans;
    Clock::time_point last_span;
  };
  std::chrono::milliseconds settle_;
  size_t max_traces_;
  std::map<std::string, Pending> pending_;  // by trace id
};

}  // namespace ztrace::view
