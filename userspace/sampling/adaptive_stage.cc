#include "userspace/sampling/adaptive_stage.h"

namespace ztrace::sampling {

bool TraceBudget::admit(const spans::TraceId& trace_id, uint64_t now_ns) {
  if (const bool* admitted = decisions_.find(trace_id)) {
    spans_refused_ += *admitted ? 0 : 1;
    return *admitted;
  }
  const uint64_t second = now_ns / 1'000'000'000;
  if (second != second_) {
    second_ = second;
    admitted_this_second_ = 0;
  }
  const bool admitted = admitted_this_second_ < per_second_;
  admitted_this_second_ += admitted ? 1 : 0;
  if (!admitted) {
    ++traces_refused_;
    ++spans_refused_;
  }
  decisions_.remember(trace_id, admitted);
  return admitted;
}

void AdaptiveStage::configure(std::optional<AdaptiveSettings> settings) {
  std::lock_guard lock(handover_mutex_);
  handover_ = settings;
  handover_pending_.store(true, std::memory_order_release);
}

void AdaptiveStage::take_settings() {
  if (!handover_pending_.exchange(false, std::memory_order_acquire)) return;
  std::optional<std::optional<AdaptiveSettings>> handover;
  {
    std::lock_guard lock(handover_mutex_);
    handover.swap(handover_);
  }
  if (!handover) return;
  const std::optional<AdaptiveSettings>& settings = *handover;
  if (!settings) {
    if (sampler_ && on_boosts_) on_boosts_({});
    sampler_.reset();
  } else if (sampler_) {
    sampler_->reconfigure(*settings);
  } else {
    sampler_ = std::make_unique<AdaptiveSampler>(*settings);
  }
  const uint64_t budget = settings ? settings->max_traces_per_second : 0;
  if (budget == 0 && budget_) {
    budget_traces_refused_ += budget_->traces_refused();
    budget_spans_refused_ += budget_->spans_refused();
    budget_.reset();
  } else if (budget > 0 && budget_) {
    budget_->set_rate(budget);
  } else if (budget > 0) {
    budget_ = std::make_unique<TraceBudget>(budget);
  }
}

void AdaptiveStage::observe(std::string_view service, spans::SpanKind kind, uint64_t duration_ns,
                            bool error, uint64_t now_ns) {
  if (handover_pending_.load(std::memory_order_relaxed)) take_settings();
  if (!sampler_ || kind != spans::SpanKind::kServer) return;
  sampler_->observe(service, duration_ns, error, now_ns);
}

bool AdaptiveStage::admit(const spans::Span& span) {
  return !budget_ || budget_->admit(span.trace_id, span.end_time_unix_nano);
}

void AdaptiveStage::tick(uint64_t now_ns) {
  take_settings();
  if (sampler_ && sampler_->evaluate(now_ns) && on_boosts_) on_boosts_(sampler_->boosts());
}

AdaptiveSnapshot AdaptiveStage::snapshot(uint64_t now_ns) const {
  AdaptiveSnapshot snapshot;
  snapshot.budget_traces_refused = budget_traces_refused_;
  snapshot.budget_spans_refused = budget_spans_refused_;
  if (budget_) {
    snapshot.budget_traces_refused += budget_->traces_refused();
    snapshot.budget_spans_refused += budget_->spans_refused();
  }
  if (!sampler_) return snapshot;
  snapshot.enabled = true;
  snapshot.settings = sampler_->settings();
  snapshot.stats = sampler_->stats();
  snapshot.services = sampler_->health(now_ns);
  return snapshot;
}

}  // namespace ztrace::sampling
