#pragma once

// Bounded hand-off of raw kernel events from the intake thread (ring buffer reader) to the
// pipeline thread. The intake never waits: when the queue is full a whole batch is dropped
// and its events counted.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
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
  size_t capacity() const { return bytes_.capacity; }
  bool empty() const { return events_ == 0; }
  void clear() {
    bytes_.clear();
    events_ = 0;
  }

 private:
  static size_t padded(size_t len) { return (len + 7) & ~size_t{7}; }

  // uint64_t storage keeps every record 8-byte aligned; viewed as bytes. Grown without
  // zero-filling (every byte up to `used` is written by append), and kept across clear(), so a
  // recycled batch takes events with no allocation.
  struct Storage {
    std::unique_ptr<uint64_t[]> words;
    size_t capacity = 0;  // bytes
    size_t used = 0;      // bytes
    Storage() = default;
    Storage(Storage&& other) noexcept { *this = std::move(other); }
    Storage& operator=(Storage&& other) noexcept {
      words = std::move(other.words);
      capacity = std::exchange(other.capacity, 0);
      used = std::exchange(other.used, 0);
      return *this;
    }
    uint8_t* data() { return reinterpret_cast<uint8_t*>(words.get()); }
    const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(words.get()); }
    size_t size() const { return used; }
    void clear() { used = 0; }
    void resize(size_t n) {
      if (n > capacity) grow(n);
      used = n;
    }
    void grow(size_t n);
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
  // Batches the pipeline is done with (`spent` is left empty): push() hands their storage back
  // to the intake, so that a steady stream of batches allocates and zeroes nothing.
  void recycle(std::vector<EventBatch>& spent);
  void close();

  uint64_t dropped_events() const { return dropped_events_.load(std::memory_order_relaxed); }

 private:
  const size_t max_bytes_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<EventBatch> queued_;  // guarded by mutex_
  // Emptied batches with their storage, for the intake's next ones; a few, none larger than
  // kMaxSpareBytes (a burst's large batch is freed, not kept).
  static constexpr size_t kMaxSpareBatches = 4;
  static constexpr size_t kMaxSpareBytes = 8u << 20;
  std::vector<EventBatch> spare_;   // guarded by mutex_
  size_t queued_bytes_ = 0;         // guarded by mutex_
  bool closed_ = false;             // guarded by mutex_
  std::atomic<uint64_t> dropped_events_{0};
};

}  // namespace ztrace::agent
