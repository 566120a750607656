#pragma once

// An output's errors in the log without flooding it: the first error of a kind is logged at
// once, then at most one line per interval and kind, with the count of those held back.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ztrace::exporter {

class RateLimitedLog {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimitedLog(Clock::duration interval = std::chrono::seconds(30))
      : interval_(interval) {}

  // Logs `message` as an error unless one of `kind` was logged less than an interval ago.
  void error(std::string_view kind, std::string_view message);

 private:
  struct Entry {
    Clock::time_point last_logged;
    uint64_t held_back = 0;
  };
  const Clock::duration interval_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace ztrace::exporter
