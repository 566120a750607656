#pragma once

// A bounded memory of one value per trace id: the newest `capacity` traces, the oldest
// forgotten first (a decision made for a trace, say, for its spans that come later).

#include <cstddef>
#include <deque>
#include <unordered_map>

#include "userspace/spans/span.h"

namespace ztrace::spans {

template <typename Value>
class RecentTraces {
 public:
  explicit RecentTraces(size_t capacity) : capacity_(capacity) {}

  // False, and the value kept, when the trace is remembered already.
  bool remember(const TraceId& id, Value value) {
    if (!values_.emplace(id, std::move(value)).second) return false;
    order_.push_back(id);
    if (order_.size() > capacity_) {
      values_.erase(order_.front());
      order_.pop_front();
    }
    return true;
  }
  // Null when not remembered.
  const Value* find(const TraceId& id) const {
    auto it = values_.find(id);
    return it == values_.end() ? nullptr : &it->second;
  }
  bool empty() const { return values_.empty(); }

 private:
  size_t capacity_;
  std::unordered_map<TraceId, Value, TraceIdHash> values_;
  std::deque<TraceId> order_;
};

}  // namespace ztrace::spans
