#pragma once

// Bounded hand-off of raw kernel events from the intake thread (ring buffer reader) to the
// pipeline thread. The intake never waits: when the queue is full a whole batch is dropped
// and its events counted.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace ztrace::agent {

// Events packed as [u64 length][bytes][padding] records, each starting 8-byte aligned so the
// pipeline can read kernel structs from the batch (already a copy of the ring) in place.
class EventBatch {
 public:
  void append(std::span<const uint8_t> event);
  template <typename Fn>
  void for_each(Fn&& fn) const {
    size_t pos = 0;
    while (pos + sizeof(uint64_t) <= bytes_.size()) {
      uint64_t len;
      __builtin_memcpy(&len, bytes_.data() + pos, sizeof(len));
      pos += sizeof(len);
      fn(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes_.data()) + pos, len));
      pos += padded(len);
    }
  }
  size_t events() const { return events_; }
  size_t bytes() const { return bytes_.size(); }
  bool empty() const { return events_ == 0; }
  void clear() {
    bytes_.clear();
    events_ = 0;
  }

 private:
  static size_t padded(size_t len) { return (len + 7) & ~size_t{7}; }

  // uint64_t storage keeps every record 8-byte aligned; viewed as bytes.
  struct Storage {
    std::vector<uint64_t> words;
    size_t used = 0;  // bytes
    uint8_t* data() { return reinterpret_cast<uint8_t*>(words.data()); }
    const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(words.data()); }
    size_t size() const { return used; }
    void clear() { used = 0; }
    void resize(size_t n) {
      if (n > words.size() * 8) words.resize(std::max((n + 7) / 8, words.size() * 2));
      used = n;
    }
  };
  Storage bytes_;
  size_t events_ = 0;
};

class EventQueue {
 public:
  explicit EventQueue(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Moves the batch in (leaving it empty) unless the queue is full. Never blocks.
  bool push(EventBatch& batch);
  // Waits up to `wait` for events; appends everything queued to `out` order-preserving.
  bool pop_all(std::vector<EventBatch>& out, std::chrono::milliseconds wait);
  void close();

  uint64_t dropped_events() const { return dropped_events_.load(std::memory_order_relaxed); }

 private:
  const size_t max_bytes_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<EventBatch> queued_;  // guarded by mutex_
  size_t queued_bytes_ = 0;         // guarded by mutex_
  bool closed_ = false;             // guarded by mutex_
  std::atomic<uint64_t> dropped_events_{0};
};

}  // namespace ztrace::agent
