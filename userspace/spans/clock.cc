#include "userspace/spans/clock.h"

#include <time.h>

#include <limits>

namespace ztrace::spans {

namespace {

uint64_t read_clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

KernelClock::KernelClock() : offset_ns_(measure_offset_ns()) {}

void KernelClock::refresh() { offset_ns_.store(measure_offset_ns(), std::memory_order_relaxed); }

uint64_t KernelClock::monotonic_now_ns() { return read_clock_ns(CLOCK_MONOTONIC); }
uint64_t KernelClock::realtime_now_ns() { return read_clock_ns(CLOCK_REALTIME); }

int64_t KernelClock::measure_offset_ns() {
  // A preemption between the reads would skew a single sample by the preempted time; the
  // narrowest bracket bounds the error by its own width / 2.
  constexpr int kSamples = 8;
  uint64_t best_width_ns = std::numeric_limits<uint64_t>::max();
  int64_t best_offset_ns = 0;
  for (int i = 0; i < kSamples; ++i) {
    const uint64_t before_ns = monotonic_now_ns();
    const uint64_t realtime_ns = realtime_now_ns();
    const uint64_t after_ns = monotonic_now_ns();
    const uint64_t width_ns = after_ns - before_ns;
    if (width_ns < best_width_ns) {
      best_width_ns = width_ns;
      const uint64_t midpoint_ns = before_ns + width_ns / 2;
      best_offset_ns = static_cast<int64_t>(realtime_ns - midpoint_ns);
    }
  }
  return best_offset_ns;
}

}  // namespace ztrace::spans
