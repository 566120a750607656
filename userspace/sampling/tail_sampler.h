#pragma once

// Tail sampling on the node: the spans of a trace are held until a decision time has passed,
// then the whole trace is kept when any span is an error or slower than a threshold, and the
// rest by the same consistent ratio as head sampling (so every node that sees a trace keeps
// it or drops it alike when no rule applies).
//
// When the wait starts: at a trace's first span, and again at each local root (a SERVER span
// or one without a parent): children end before their root, so the root is what completes a
// node's part of a trace. A span that comes after its trace's decision follows it, as long
// as the decision is remembered (kRememberedDecisions); later it starts a trace anew.
//
// Memory is bounded by max_traces and max_spans: when either is reached the oldest trace is
// decided at once on what it holds, and counted as decided early.

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "userspace/sampling/tracing_settings.h"
#include "userspace/spans/recent_traces.h"
#include "userspace/spans/span.h"

namespace ztrace::sampling {

struct TailLimits {
  size_t max_traces = 10'000;
  size_t max_spans = 100'000;
};

struct TailStats {
  uint64_t traces_kept_error = 0;
  uint64_t traces_kept_latency = 0;
  uint64_t traces_kept_ratio = 0;
  uint64_t traces_dropped = 0;
  uint64_t traces_decided_early = 0;  // a limit was reached before their wait ended
  uint64_t late_spans_kept = 0;       // came after their trace was decided
  uint64_t late_spans_dropped = 0;
  uint64_t spans_held = 0;  // now
  uint64_t traces_held = 0;

  // The counters (not the two "held" gauges), for logs and metrics.
  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit("kept_error", traces_kept_error);
    visit("kept_latency", traces_kept_latency);
    visit("kept_ratio", traces_kept_ratio);
    visit("dropped", traces_dropped);
    visit("decided_early", traces_decided_early);
    visit("late_spans_kept", late_spans_kept);
    visit("late_spans_dropped", late_spans_dropped);
  }
};

class TailSampler {
 public:
  // `ratio_threshold`: threshold_for_ratio() of the ratio the traces no rule keeps get.
  TailSampler(TailSettings settings, uint64_t ratio_threshold, TailLimits limits = {});

  // Takes a finished span at `now_ns`; spans whose trace is decided now go to `kept`.
  void add(spans::Span&& span, uint64_t now_ns, std::vector<spans::Span>* kept);
  // Decides every trace whose wait ended by `now_ns`.
  void decide_due(uint64_t now_ns, std::vector<spans::Span>* kept);
  // Decides every held trace now (shutdown, or new settings).
  void decide_all(std::vector<spans::Span>* kept);
  // New settings: what is held is decided first, under the old ones (the same settings again
  // change nothing). Counters go on.
  void reconfigure(TailSettings settings, uint64_t ratio_threshold, std::vector<spans::Span>* kept);

  const TailStats& stats() const { return stats_; }
  const TailSettings& settings() const { return settings_; }
  uint64_t ratio_threshold() const { return ratio_threshold_; }

 private:
  struct HeldTrace {
    std::vector<spans::Span> spans;
    uint64_t decide_at_ns = 0;
    uint64_t arrival = 0;  // order of arrival, for the oldest-first overflow rule
  };
  using Traces = std::unordered_map<spans::TraceId, HeldTrace, spans::TraceIdHash>;

  void decide(Traces::iterator it, std::vector<spans::Span>* kept);
  // The span's latency_rules threshold, else the global one (0: none).
  uint64_t latency_threshold_of(const spans::Span& span) const;
  void make_room(std::vector<spans::Span>* kept);
  // Drops the front entries of arrival_order_ whose trace was decided.
  void trim_arrival_order();

  TailSettings settings_;
  uint64_t ratio_threshold_;
  const TailLimits limits_;
  Traces traces_;
  uint64_t next_arrival_ = 0;
  // (arrival, trace) in arrival order; entries of decided traces are dropped lazily.
  std::deque<std::pair<uint64_t, spans::TraceId>> arrival_order_;
  uint64_t spans_held_ = 0;
  // fnmatch needs a terminated string: the route is copied here, its capacity reused.
  mutable std::string route_scratch_;
  // Recent decisions, for spans that come late; bounded, oldest forgotten.
  static constexpr size_t kRememberedDecisions = 65'536;
  spans::RecentTraces<bool> decisions_{kRememberedDecisions};
  TailStats stats_;
};

}  // namespace ztrace::sampling
