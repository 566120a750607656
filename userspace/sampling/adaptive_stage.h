#pragma once

// Adaptive sampling in the pipeline: every finished SERVER span is observed (sampled or not,
// so the windows are exact), boosts are evaluated each second and handed to a listener (which
// gives the boosted services' processes their rate, process_sampling.h), and the
// max_traces_per_second budget is applied to what would be exported.
//
// Settings come from any thread (configure); everything else runs on the pipeline thread.
// Without adaptive settings each call returns at its first check.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "userspace/sampling/adaptive_sampler.h"
#include "userspace/spans/recent_traces.h"
#include "userspace/spans/span.h"

namespace ztrace::sampling {

// A cap on the traces exported per second: a trace's first span takes one of its second's
// slots or is refused; the trace's later spans follow that first decision while it is
// remembered (kRemembered, oldest forgotten).
class TraceBudget {
 public:
  static constexpr size_t kRemembered = 65'536;

  explicit TraceBudget(uint64_t traces_per_second) : per_second_(traces_per_second) {}
  void set_rate(uint64_t traces_per_second) { per_second_ = traces_per_second; }
  bool admit(const spans::TraceId& trace_id, uint64_t now_ns);

  uint64_t traces_refused() const { return traces_refused_; }
  uint64_t spans_refused() const { return spans_refused_; }

 private:
  uint64_t per_second_;
  uint64_t second_ = 0;
  uint64_t admitted_this_second_ = 0;
  spans::RecentTraces<bool> decisions_{kRemembered};
  uint64_t traces_refused_ = 0;
  uint64_t spans_refused_ = 0;
};

struct AdaptiveSnapshot {
  bool enabled = false;
  AdaptiveSettings settings;
  AdaptiveStats stats;
  std::vector<ServiceHealth> services;
  uint64_t budget_traces_refused = 0;
  uint64_t budget_spans_refused = 0;
};

class AdaptiveStage {
 public:
  using BoostListener = std::function<void(const std::map<std::string, double>& boosts)>;
  explicit AdaptiveStage(BoostListener on_boosts = {}) : on_boosts_(std::move(on_boosts)) {}

  // Any thread; nullopt turns it off (boosts end at once).
  void configure(std::optional<AdaptiveSettings> settings);

  // Pipeline thread. Whether observe() wants spans now (cheap: callers skip the work).
  bool watching() const { return sampler_ || handover_pending_.load(std::memory_order_relaxed); }
  // Every finished span, sampled or not (only SERVER spans count); times on
  // the monotonic clock.
  void observe(std::string_view service, spans::SpanKind kind, uint64_t duration_ns, bool error,
               uint64_t now_ns);
  // False when the export budget refuses the span's trace.
  bool admit(const spans::Span& span);
  void tick(uint64_t now_ns);
  // Pipeline thread (the agent copies it with the pipeline's stats).
  AdaptiveSnapshot snapshot(uint64_t now_ns) const;

 private:
  void take_settings();

  BoostListener on_boosts_;
  std::mutex handover_mutex_;
  std::optional<std::optional<AdaptiveSettings>> handover_;  // guarded by handover_mutex_
  std::atomic<bool> handover_pending_{false};
  std::unique_ptr<AdaptiveSampler> sampler_;  // null: off
  std::unique_ptr<TraceBudget> budget_;       // null: no budget
  uint64_t budget_traces_refused_ = 0;        // of budgets since replaced
  uint64_t budget_spans_refused_ = 0;
};

}  // namespace ztrace::sampling
