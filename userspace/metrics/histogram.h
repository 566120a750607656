#pragma once

// A Prometheus histogram's state: a count per bucket (not cumulative; the exposition adds
// them up), the sum and the count. The bucket bounds are shared and fixed.

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace ztrace::metrics {

class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds) : counts_(bounds.size() + 1) {}

  void observe(std::span<const double> bounds, double value) {
    // Prometheus buckets are upper-inclusive (le).
    const size_t bucket = std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin();
    ++counts_[bucket];
    sum_ += value;
    ++count_;
  }

  // counts()[i] for bounds[i]; the last is above every bound (+Inf).
  const std::vector<uint64_t>& counts() const { return counts_; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

}  // namespace ztrace::metrics
