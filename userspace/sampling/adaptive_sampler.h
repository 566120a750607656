#pragma once

// Adaptive sampling: each service's SERVER spans are watched over a sliding window (p95
// latency and error rate). While either passes its threshold, the service is "boosted": its
// processes start new traces at the configured rate instead of the head ratio (applied by
// process_sampling.h, as an on-demand rule would be). It returns when both are back under.
//
// The p95 comes from a log-scale histogram (4 buckets per octave, so within 19%), per slice of
// the window; slices older than the window are dropped. A service needs kMinRequests in the
// window before it can be boosted. Services are bounded (kMaxServices); spans of services past
// that are counted, not watched.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "userspace/sampling/tracing_settings.h"

namespace ztrace::sampling {

struct ServiceHealth {
  std::string service;
  uint64_t requests = 0;  // in the window
  double error_rate = 0;
  uint64_t p95_ns = 0;
  bool boosted = false;
};

struct AdaptiveStats {
  uint64_t boosts = 0;            // a service rose to the adaptive rate
  uint64_t recoveries = 0;        // and came back
  uint64_t untracked_spans = 0;   // of services past kMaxServices
  uint64_t boosted_services = 0;  // now
};

class AdaptiveSampler {
 public:
  static constexpr size_t kMaxServices = 1024;
  static constexpr uint64_t kMinRequests = 20;
  static constexpr int kSlices = 6;
  static constexpr int kBuckets = 128;  // 4 per octave from 1 µs: up to about 70 minutes

  explicit AdaptiveSampler(AdaptiveSettings settings) : settings_(settings) {}

  // New thresholds or window; what was observed stays.
  void reconfigure(AdaptiveSettings settings) { settings_ = settings; }
  const AdaptiveSettings& settings() const { return settings_; }

  // A finished SERVER span of `service`.
  void observe(std::string_view service, uint64_t duration_ns, bool error, uint64_t now_ns);
  // Boosts and recoveries due at `now_ns`, each logged; true when the set of boosted services
  // changed.
  bool evaluate(uint64_t now_ns);

  // Boosted services and the rate they get.
  std::map<std::string, double> boosts() const;
  std::vector<ServiceHealth> health(uint64_t now_ns) const;
  const AdaptiveStats& stats() const { return stats_; }

  // The histogram bucket of a duration, and the duration a bucket stands for (its geometric
  // middle); exposed for tests.
  static int bucket_of(uint64_t duration_ns);
  static uint64_t bucket_middle_ns(int bucket);

 private:
  struct Slice {
    uint64_t epoch = 0;  // which slice of time it holds (now / slice length)
    uint64_t requests = 0;
    uint64_t errors = 0;
    std::array<uint32_t, kBuckets> latency{};
  };
  struct Service {
    std::array<Slice, kSlices> slices;
    bool boosted = false;
  };

  uint64_t slice_ns() const;
  ServiceHealth health_of(const std::string& name, const Service& service, uint64_t now_ns) const;

  AdaptiveSettings settings_;
  std::unordered_map<std::string, Service> services_;
  AdaptiveStats stats_;
};

}  // namespace ztrace::sampling
