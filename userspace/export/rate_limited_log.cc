#include "userspace/export/rate_limited_log.h"

#include <spdlog/spdlog.h>

namespace ztrace::exporter {

void RateLimitedLog::error(std::string_view kind, std::string_view message) {
  const auto now = Clock::now();
  auto [it, first] = entries_.try_emplace(std::string(kind));
  Entry& entry = it->second;
  if (!first && now - entry.last_logged < interval_) {
    ++entry.held_back;
    return;
  }
  if (entry.held_back > 0) {
    spdlog::error(
        "{} ({} more not logged in the last {} s)", message, entry.held_back,
        std::chrono::duration_cast<std::chrono::seconds>(now - entry.last_logged).count());
  } else {
    spdlog::error("{}", message);
  }
  entry.last_logged = now;
  entry.held_back = 0;
}

}  // namespace ztrace::exporter
