#include "userspace/view/settling_traces.h"

#include <algorithm>

namespace ztrace::view {

void SettlingTraces::add(ViewSpan span, Clock::time_point now, std::vector<Trace>* done) {
  if (pending_.size() >= max_traces_ && !pending_.count(span.trace_id)) {
    // The one waiting longest goes first.
    const auto oldest = std::min_element(
        pending_.begin(), pending_.end(),
        [](const auto& a, const auto& b) { return a.second.last_span < b.second.last_span; });
    done->push_back(std::move(oldest->second.spans));
    pending_.erase(oldest);
  }
  Pending& trace = pending_[span.trace_id];
  trace.spans.push_back(std::move(span));
  trace.last_span = now;
}

void SettlingTraces::take_settled(Clock::time_point now, std::vector<Trace>* done,
                                  bool everything) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (everything || now - it->second.last_span >= settle_) {
      done->push_back(std::move(it->second.spans));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace ztrace::view
