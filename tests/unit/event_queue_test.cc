#include "userspace/agent/event_queue.h"

#include <catch2/catch_test_macros.hpp>
#include <numeric>

namespace ztrace::agent {
namespace {

std::vector<uint8_t> event_of(size_t size, uint8_t first) {
  std::vector<uint8_t> bytes(size);
  std::iota(bytes.begin(), bytes.end(), first);
  return bytes;
}

std::vector<std::vector<uint8_t>> events_in(const std::vector<EventBatch>& batches) {
  std::vector<std::vector<uint8_t>> events;
  for (const auto& batch : batches) {
    batch.for_each([&](std::span<const uint8_t> e) { events.emplace_back(e.begin(), e.end()); });
  }
  return events;
}

}  // namespace

TEST_CASE("event queue: batches keep their events and order across growth and recycling") {
  EventQueue queue(1 << 20);
  EventBatch intake;
  std::vector<EventBatch> popped;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::vector<uint8_t>> sent;
    // Enough bytes to grow the storage past its first 64 KiB, with odd sizes (padding).
    for (size_t i = 0; i < 200; ++i) {
      sent.push_back(event_of(1 + (i * 37) % 1000, static_cast<uint8_t>(i + round)));
      intake.append(sent.back());
    }
    REQUIRE(queue.push(intake));
    CHECK(intake.empty());
    REQUIRE(queue.pop_all(popped, std::chrono::milliseconds(0)));
    CHECK(events_in(popped) == sent);
    const size_t capacity = popped.front().capacity();
    queue.recycle(popped);
    CHECK(popped.empty());
    // The next push hands the intake the recycled storage: no allocation for the next batch.
    intake.append(event_of(8, 0));
    REQUIRE(queue.push(intake));
    CHECK(intake.capacity() == capacity);
    REQUIRE(queue.pop_all(popped, std::chrono::milliseconds(0)));
    CHECK(events_in(popped) == std::vector<std::vector<uint8_t>>{event_of(8, 0)});
    queue.recycle(popped);
  }
}

TEST_CASE("event queue: a full queue drops and counts the whole batch, and keeps its storage") {
  EventQueue queue(64);
  EventBatch intake;
  intake.append(event_of(100, 1));
  CHECK_FALSE(queue.push(intake));
  CHECK(queue.dropped_events() == 1);
  CHECK(intake.empty());
  CHECK(intake.capacity() > 0);
}

}  // namespace ztrace::agent
