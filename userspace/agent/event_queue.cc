#include "userspace/agent/event_queue.h"

#include <algorithm>

namespace ztrace::agent {

void EventBatch::Storage::grow(size_t n) {
  constexpr size_t kFirstBytes = 64 << 10;
  const size_t bytes = std::max({n, capacity * 2, kFirstBytes});
  auto fresh = std::make_unique_for_overwrite<uint64_t[]>((bytes + 7) / 8);
  if (used > 0) __builtin_memcpy(fresh.get(), words.get(), used);
  words = std::move(fresh);
  capacity = (bytes + 7) / 8 * 8;
}

void EventBatch::append(std::span<const uint8_t> event) {
  const uint64_t len = event.size();
  const size_t pos = bytes_.size();
  bytes_.resize(pos + sizeof(len) + padded(len));
  __builtin_memcpy(bytes_.data() + pos, &len, sizeof(len));
  __builtin_memcpy(bytes_.data() + pos + sizeof(len), event.data(), len);
  ++events_;
}

bool EventQueue::push(EventBatch& batch) {
  if (batch.empty()) return true;
  {
    std::lock_guard lock(mutex_);
    if (!closed_ && queued_bytes_ + batch.bytes() <= max_bytes_) {
      queued_bytes_ += batch.bytes();
      queued_.push_back(std::move(batch));
      batch = EventBatch();
      if (!spare_.empty()) {
        batch = std::move(spare_.back());
        spare_.pop_back();
      }
      ready_.notify_one();
      return true;
    }
  }
  dropped_events_.fetch_add(batch.events(), std::memory_order_relaxed);
  batch.clear();
  return false;
}

bool EventQueue::pop_all(std::vector<EventBatch>& out, std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, wait, [this] { return !queued_.empty() || closed_; });
  if (queued_.empty()) return !closed_;
  for (auto& batch : queued_) out.push_back(std::move(batch));
  queued_.clear();
  queued_bytes_ = 0;
  return true;
}

void EventQueue::recycle(std::vector<EventBatch>& spent) {
  {
    std::lock_guard lock(mutex_);
    for (EventBatch& batch : spent) {
      if (spare_.size() >= kMaxSpareBatches) break;
      if (batch.capacity() == 0 || batch.capacity() > kMaxSpareBytes) continue;
      batch.clear();
      spare_.push_back(std::move(batch));
    }
  }
  spent.clear();  // the rest are freed here, outside the lock
}

void EventQueue::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  ready_.notify_all();
}

}  // namespace ztrace::agent
