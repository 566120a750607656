#pragma once

// A lossy memory of one value per trace id, for a mark made on every request where a map
// node per request would cost more than the mark is worth: one slot per low bits of the id
// (random in every trace id), and a newer trace takes an older one's slot. A trace forgotten
// that way reads as never marked.

#include <array>
#include <cstddef>
#include <vector>

#include "userspace/spans/span.h"

namespace ztrace::spans {

template <typename Value>
class TraceSlots {
 public:
  // `slots_log2`: the memory holds 2^slots_log2 traces at most.
  explicit TraceSlots(unsigned slots_log2)
      : slots_(size_t{1} << slots_log2), mask_((size_t{1} << slots_log2) - 1) {}

  void mark(const TraceId& id, Value value) {
    Slot& slot = slots_[TraceIdHash{}(id)&mask_];
    slot.id = id;
    slot.value = std::move(value);
    slot.used = true;
  }
  // Null when not marked, or its slot was taken since.
  const Value* find(const TraceId& id) const {
    const Slot& slot = slots_[TraceIdHash{}(id)&mask_];
    return slot.used && slot.id == id ? &slot.value : nullptr;
  }

 private:
  struct Slot {
    TraceId id{};
    Value value{};
    bool used = false;
  };
  std::vector<Slot> slots_;
  size_t mask_;
};

}  // namespace ztrace::spans
