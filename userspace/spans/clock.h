#pragma once

// Kernel timestamps (bpf_ktime_get_ns, CLOCK_MONOTONIC) to unix time for span export.

#include <atomic>
#include <cstdint>

namespace ztrace::spans {

class KernelClock {
 public:
  // Measures the offset once; call refresh() periodically (e.g. every minute) to follow NTP
  // steps of the realtime clock, which CLOCK_MONOTONIC does not see.
  KernelClock();

  // Thread-safe; cheap (one relaxed atomic load).
  uint64_t to_unix_ns(uint64_t monotonic_ns) const {
    return monotonic_ns + static_cast<uint64_t>(offset_ns_.load(std::memory_order_relaxed));
  }

  // Re-measures realtime - monotonic. Thread-safe.
  void refresh();

  int64_t offset_ns() const { return offset_ns_.load(std::memory_order_relaxed); }

  // Current CLOCK_MONOTONIC / CLOCK_REALTIME in ns.
  static uint64_t monotonic_now_ns();
  static uint64_t realtime_now_ns();

  // realtime - monotonic, from the tightest of a few monotonic-bracketed realtime reads.
  static int64_t measure_offset_ns();

 private:
  std::atomic<int64_t> offset_ns_;
};

}  // namespace ztrace::spans
