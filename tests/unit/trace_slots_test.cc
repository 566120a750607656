#include "userspace/spans/trace_slots.h"

#include <catch2/catch_test_macros.hpp>

namespace ztrace::spans {
namespace {

TraceId id_with_low_bits(uint8_t high, uint8_t low) {
  TraceId id{};
  id[0] = high;
  id[8] = low;  // TraceIdHash reads the last 8 bytes, little endian
  return id;
}

}  // namespace

TEST_CASE("trace slots: a mark is found by its trace only; a newer trace takes its slot") {
  TraceSlots<uint64_t> slots(4);  // 16 slots
  const TraceId a = id_with_low_bits(1, 3);
  const TraceId same_slot = id_with_low_bits(2, 3 + 16);
  const TraceId other_slot = id_with_low_bits(1, 4);
  CHECK(slots.find(a) == nullptr);
  CHECK(slots.find(TraceId{}) == nullptr);  // an unused slot never matches the zero id
  slots.mark(a, 7);
  REQUIRE(slots.find(a) != nullptr);
  CHECK(*slots.find(a) == 7);
  CHECK(slots.find(same_slot) == nullptr);
  CHECK(slots.find(other_slot) == nullptr);
  slots.mark(same_slot, 9);
  CHECK(slots.find(a) == nullptr);  // forgotten: reads as never marked
  REQUIRE(slots.find(same_slot) != nullptr);
  CHECK(*slots.find(same_slot) == 9);
  slots.mark(other_slot, 11);
  REQUIRE(slots.find(same_slot) != nullptr);
  CHECK(*slots.find(same_slot) == 9);
  CHECK(*slots.find(other_slot) == 11);
}

}  // namespace ztrace::spans
