#include "userspace/sampling/adaptive_sampler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace ztrace::sampling {

int AdaptiveSampler::bucket_of(uint64_t duration_ns) {
  const double micros = static_cast<double>(duration_ns) / 1000.0;
  if (micros <= 1.0) return 0;
  return std::min(kBuckets - 1, static_cast<int>(std::floor(4.0 * std::log2(micros))));
}

uint64_t AdaptiveSampler::bucket_middle_ns(int bucket) {
  return static_cast<uint64_t>(1000.0 * std::exp2((bucket + 0.5) / 4.0));
}

uint64_t AdaptiveSampler::slice_ns() const {
  return std::max<uint64_t>(1, settings_.window_ns / kSlices);
}

void AdaptiveSampler::observe(std::string_view service, uint64_t duration_ns, bool error,
                              uint64_t now_ns) {
  auto it = services_.find(std::string(service));
  if (it == services_.end()) {
    if (services_.size() >= kMaxServices) {
      ++stats_.untracked_spans;
      return;
    }
    it = services_.emplace(std::string(service), Service{}).first;
  }
  const uint64_t epoch = now_ns / slice_ns();
  Slice& slice = it->second.slices[epoch % kSlices];
  if (slice.epoch != epoch) slice = Slice{.epoch = epoch};
  ++slice.requests;
  slice.errors += error ? 1 : 0;
  ++slice.latency[bucket_of(duration_ns)];
}

ServiceHealth AdaptiveSampler::health_of(const std::string& name, const Service& service,
                                         uint64_t now_ns) const {
  const uint64_t epoch = now_ns / slice_ns();
  ServiceHealth health{.service = name, .boosted = service.boosted};
  std::array<uint64_t, kBuckets> latency{};
  uint64_t errors = 0;
  for (const Slice& slice : service.slices) {
    if (slice.requests == 0 || slice.epoch + kSlices <= epoch) continue;  // outside the window
    health.requests += slice.requests;
    errors += slice.errors;
    for (int b = 0; b < kBuckets; ++b) latency[b] += slice.latency[b];
  }
  if (health.requests == 0) return health;
  health.error_rate = static_cast<double>(errors) / static_cast<double>(health.requests);
  const uint64_t rank = (health.requests * 95 + 99) / 100;  // the 95th percentile's rank
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += latency[b];
    if (seen >= rank) {
      health.p95_ns = bucket_middle_ns(b);
      break;
    }
  }
  return health;
}

bool AdaptiveSampler::evaluate(uint64_t now_ns) {
  bool changed = false;
  for (auto it = services_.begin(); it != services_.end();) {
    Service& service = it->second;
    const ServiceHealth health = health_of(it->first, service, now_ns);
    const bool slow = health.p95_ns > settings_.latency_threshold_ns;
    const bool failing = health.error_rate > settings_.error_rate_threshold;
    const bool breach = health.requests >= kMinRequests && (slow || failing);
    if (breach != service.boosted) {
      service.boosted = breach;
      changed = true;
      ++(breach ? stats_.boosts : stats_.recoveries);
      spdlog::info(
          "adaptive sampling: {} {} (p95 {:.3f}s, errors {:.1f}% over {} requests in {:g}s; "
          "thresholds {:g}s, {:g}%)",
          it->first, breach ? fmt::format("boosted to rate {:g}", settings_.rate) : "recovered",
          health.p95_ns / 1e9, 100 * health.error_rate, health.requests, settings_.window_ns / 1e9,
          settings_.latency_threshold_ns / 1e9, 100 * settings_.error_rate_threshold);
    }
    // A service with nothing in the window and no boost is forgotten (bounded state).
    if (health.requests == 0 && !service.boosted) {
      it = services_.erase(it);
    } else {
      ++it;
    }
  }
  stats_.boosted_services = std::count_if(services_.begin(), services_.end(),
                                          [](const auto& entry) { return entry.second.boosted; });
  return changed;
}

std::map<std::string, double> AdaptiveSampler::boosts() const {
  std::map<std::string, double> boosts;
  for (const auto& [name, service] : services_) {
    if (service.boosted) boosts.emplace(name, settings_.rate);
  }
  return boosts;
}

std::vector<ServiceHealth> AdaptiveSampler::health(uint64_t now_ns) const {
  std::vector<ServiceHealth> all;
  for (const auto& [name, service] : services_) all.push_back(health_of(name, service, now_ns));
  std::sort(all.begin(), all.end(),
            [](const ServiceHealth& a, const ServiceHealth& b) { return a.service < b.service; });
  return all;
}

}  // namespace ztrace::sampling
