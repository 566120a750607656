#pragma once

// The bytes every Kafka connection parser of the process keeps of the messages in flight,
// against one budget. A message is kept whole up to ConnectionParser::kMaxKeptBytes while the
// total of what they keep past each message's first kUnbudgetedBytes stays within the budget; past
// it, the rest of the message is skipped as if it had not been captured (its spans say so) and
// counted. So 1,000 connections each in the middle of a large Fetch hold the budget, not 1,000
// times a message.

#include <cstddef>
#include <utility>

namespace ztrace::kafka {

inline constexpr size_t kKeptBytesBudget = 64u << 20;
// The first bytes of every message are kept outside the budget: its header (which pairs a
// response with its request) and small messages whole, whatever the others hold.
inline constexpr size_t kUnbudgetedBytes = 4096;

// The process's bytes kept, against kKeptBytesBudget.
size_t kept_bytes_in_use();

// A message's share of the budget: given back when the message is done (or the parser goes).
class KeptBytesShare {
 public:
  KeptBytesShare() = default;
  KeptBytesShare(KeptBytesShare&& other) noexcept : held_(std::exchange(other.held_, 0)) {}
  KeptBytesShare& operator=(KeptBytesShare&& other) noexcept {
    if (this != &other) {
      release();
      held_ = std::exchange(other.held_, 0);
    }
    return *this;
  }
  KeptBytesShare(const KeptBytesShare&) = delete;
  KeptBytesShare& operator=(const KeptBytesShare&) = delete;
  ~KeptBytesShare() { release(); }

  // Up to `wanted` more bytes from the budget; returns how many were granted.
  size_t take(size_t wanted);
  void release();
  size_t held() const { return held_; }

 private:
  size_t held_ = 0;
};

}  // namespace ztrace::kafka
