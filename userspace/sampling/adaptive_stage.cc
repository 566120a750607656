#include "userspace/sampling/adaptive_stage.h"

#include <cstring>

namespace ztrace::sampling {

size_t TraceBudget::TraceIdHash::operator()(const spans::TraceId& id) const {
  size_t h;  // ids are random: any 8 bytes hash well
  std::memcpy(&h, id.data() + 8, sizeof(h));
  return h;
}

bool TraceBudget::admit(const spans::TraceId& trace_id, uint64_t now_ns) {
  if (auto it = decisions_.find(trace_id); it != decisions_.end()) {
    spans_refused_ += it->second ? 0 : 1;
    return it->second;
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
  decisions_.emplace(trace_id, admitted);
  decision_order_.push_back(trace_id);
  if (decision_order_.size() > kRemembered) {
    decisions_.erase(decision_order_.front());
    decision_order_.pop_front();
  }
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

void AdaptiveStage::observe(const spans::Span& span) {
  if (handover_pending_.load(std::memory_order_relaxed)) take_settings();
  if (!sampler_ || span.kind != spans::SpanKind::kServer || !span.resource) return;
  std::string_view service;
  for (const auto& attribute : span.resource->attributes) {
    if (attribute.key == "service.name") {
      if (const auto* name = std::get_if<std::string>(&attribute.value)) service = *name;
      break;
    }
  }
  const uint64_t duration_ns = span.end_time_unix_nano > span.start_time_unix_nano
                                   ? span.end_time_unix_nano - span.start_time_unix_nano
                                   : 0;
  sampler_->observe(service, duration_ns, span.status_code == spans::StatusCode::kError,
                    span.end_time_unix_nano);
}

bool AdaptiveStage::admit(const spans::Span& span) {
  return !budget_ || budget_->admit(span.trace_id, span.end_time_unix_nano);
}

void AdaptiveStage::tick(uint64_t now_unix_ns) {
  take_settings();
  if (sampler_ && sampler_->evaluate(now_unix_ns) && on_boosts_) on_boosts_(sampler_->boosts());
}

AdaptiveSnapshot AdaptiveStage::snapshot(uint64_t now_unix_ns) const {
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
  snapshot.services = sampler_->health(now_unix_ns);
  return snapshot;
}

}  // namespace ztrace::sampling
