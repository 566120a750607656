#include "userspace/sampling/tail_sampler.h"

#include <fnmatch.h>

#include <algorithm>
#include <string>

#include "userspace/spans/semconv.h"

namespace ztrace::sampling {
namespace {

bool is_local_root(const spans::Span& span) {
  return span.kind == spans::SpanKind::kServer || spans::is_zero(span.parent_span_id);
}

// A string attribute's value; empty when absent or not a string.
std::string_view string_value(const spans::Attributes& attributes, std::string_view key) {
  for (const spans::Attribute& attribute : attributes) {
    if (attribute.key == key) {
      const auto* text = std::get_if<std::string>(&attribute.value);
      return text ? std::string_view(*text) : std::string_view();
    }
  }
  return {};
}

}  // namespace

TailSampler::TailSampler(TailSettings settings, uint64_t ratio_threshold, TailLimits limits)
    : settings_(settings), ratio_threshold_(ratio_threshold), limits_(limits) {}

void TailSampler::add(spans::Span&& span, uint64_t now_ns, std::vector<spans::Span>* kept) {
  if (const bool* keep = decisions_.find(span.trace_id)) {
    if (*keep) {
      ++stats_.late_spans_kept;
      kept->push_back(std::move(span));
    } else {
      ++stats_.late_spans_dropped;
    }
    return;
  }
  auto [it, inserted] = traces_.try_emplace(span.trace_id);
  HeldTrace& trace = it->second;
  if (inserted) {
    trace.arrival = next_arrival_++;
    trace.decide_at_ns = now_ns + settings_.decision_wait_ns;
    arrival_order_.emplace_back(trace.arrival, span.trace_id);
  } else if (is_local_root(span)) {
    trace.decide_at_ns = std::max(trace.decide_at_ns, now_ns + settings_.decision_wait_ns);
  }
  trace.spans.push_back(std::move(span));
  ++spans_held_;
  if (traces_.size() > limits_.max_traces || spans_held_ > limits_.max_spans) make_room(kept);
  stats_.spans_held = spans_held_;
  stats_.traces_held = traces_.size();
}

void TailSampler::decide_due(uint64_t now_ns, std::vector<spans::Span>* kept) {
  for (auto it = traces_.begin(); it != traces_.end();) {
    auto next = std::next(it);
    if (it->second.decide_at_ns <= now_ns) decide(it, kept);
    it = next;
  }
  trim_arrival_order();
  stats_.spans_held = spans_held_;
  stats_.traces_held = traces_.size();
}

void TailSampler::decide_all(std::vector<spans::Span>* kept) {
  while (!traces_.empty()) decide(traces_.begin(), kept);
  arrival_order_.clear();
  stats_.spans_held = 0;
  stats_.traces_held = 0;
}

void TailSampler::reconfigure(TailSettings settings, uint64_t ratio_threshold,
                              std::vector<spans::Span>* kept) {
  // A reload that leaves them as they were (every SIGHUP re-applies them) changes nothing.
  if (settings == settings_ && ratio_threshold == ratio_threshold_) return;
  decide_all(kept);
  settings_ = settings;
  ratio_threshold_ = ratio_threshold;
}

void TailSampler::make_room(std::vector<spans::Span>* kept) {
  while (!traces_.empty() &&
         (traces_.size() > limits_.max_traces || spans_held_ > limits_.max_spans)) {
    trim_arrival_order();
    const auto oldest = traces_.find(arrival_order_.front().second);
    arrival_order_.pop_front();
    ++stats_.traces_decided_early;
    decide(oldest, kept);
  }
}

void TailSampler::trim_arrival_order() {
  while (!arrival_order_.empty()) {
    const auto& [arrival, id] = arrival_order_.front();
    const auto it = traces_.find(id);
    if (it != traces_.end() && it->second.arrival == arrival) return;
    arrival_order_.pop_front();
  }
}

uint64_t TailSampler::latency_threshold_of(const spans::Span& span) const {
  for (const LatencyRule& rule : settings_.latency_rules) {
    if (!rule.service.empty() &&
        (!span.resource ||
         string_value(span.resource->attributes, semconv::service::kServiceName) != rule.service)) {
      continue;
    }
    if (!rule.route.empty()) {
      std::string_view route = string_value(span.attributes, semconv::http::kHttpRoute);
      if (route.empty()) route = string_value(span.attributes, semconv::url::kUrlPath);
      if (route.empty()) continue;
      route_scratch_.assign(route);
      if (fnmatch(rule.route.c_str(), route_scratch_.c_str(), 0) != 0) {
        continue;
      }
    }
    return rule.threshold_ns;
  }
  return settings_.latency_threshold_ns;
}

void TailSampler::decide(Traces::iterator it, std::vector<spans::Span>* kept) {
  const spans::TraceId id = it->first;
  std::vector<spans::Span>& spans = it->second.spans;
  const bool error = settings_.keep_errors && std::any_of(spans.begin(), spans.end(), [](auto& s) {
                       return s.status_code == spans::StatusCode::kError;
                     });
  const bool slow = std::any_of(spans.begin(), spans.end(), [&](const spans::Span& span) {
    const uint64_t threshold = latency_threshold_of(span);
    return threshold > 0 && spans::duration_ns(span) >= threshold;
  });
  const bool by_ratio = sampled(id, ratio_threshold_);
  const bool keep = error || slow || by_ratio;
  if (error) {
    ++stats_.traces_kept_error;
  } else if (slow) {
    ++stats_.traces_kept_latency;
  } else if (by_ratio) {
    ++stats_.traces_kept_ratio;
  } else {
    ++stats_.traces_dropped;
  }
  spans_held_ -= spans.size();
  if (keep) {
    for (spans::Span& span : spans) kept->push_back(std::move(span));
  }
  traces_.erase(it);
  decisions_.remember(id, keep);
}

}  // namespace ztrace::sampling
