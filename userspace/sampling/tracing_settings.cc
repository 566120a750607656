#include "userspace/sampling/tracing_settings.h"

#include <cmath>
#include <cstdio>

namespace ztrace::sampling {

std::optional<TracingMode> parse_mode(std::string_view text) {
  if (text == "off") return TracingMode::kOff;
  if (text == "system-only") return TracingMode::kSystemOnly;
  if (text == "hybrid") return TracingMode::kHybrid;
  if (text == "full-e2e") return TracingMode::kFullE2e;
  return std::nullopt;
}

std::string_view to_string(TracingMode mode) {
  switch (mode) {
    case TracingMode::kOff:
      return "off";
    case TracingMode::kSystemOnly:
      return "system-only";
    case TracingMode::kHybrid:
      return "hybrid";
    case TracingMode::kFullE2e:
      return "full-e2e";
  }
  return "?";
}

std::string TracingSettings::describe() const {
  char ratio_text[32];
  std::snprintf(ratio_text, sizeof(ratio_text), "%g", ratio);
  std::string text = "mode=" + std::string(to_string(mode)) + " ratio=" + ratio_text;
  if (tail) {
    char tail_text[96];
    std::snprintf(tail_text, sizeof(tail_text), " tail(wait=%gs keep_errors=%s latency>=%gs",
                  tail->decision_wait_ns / 1e9, tail->keep_errors ? "true" : "false",
                  tail->latency_threshold_ns / 1e9);
    text += tail_text;
    if (!tail->latency_rules.empty()) {
      text += " +" + std::to_string(tail->latency_rules.size()) + " latency rules";
    }
    text += ")";
  }
  if (adaptive) {
    char adaptive_text[160];
    std::snprintf(adaptive_text, sizeof(adaptive_text),
                  " adaptive(p95>%gs or errors>%g over %gs: rate %g; max %llu traces/s)",
                  adaptive->latency_threshold_ns / 1e9, adaptive->error_rate_threshold,
                  adaptive->window_ns / 1e9, adaptive->rate,
                  static_cast<unsigned long long>(adaptive->max_traces_per_second));
    text += adaptive_text;
  }
  return text;
}

uint64_t threshold_for_ratio(double ratio) {
  if (!(ratio > 0)) return kMaxThreshold;  // NaN too
  if (ratio >= 1) return 0;
  // T = 2^56 - round(p * 2^56): p * 2^56 is below 2^53, exact in a double; (1 - p) * 2^56
  // would not be.
  return kMaxThreshold -
         static_cast<uint64_t>(std::llround(ratio * std::ldexp(1.0, kRandomnessBits)));
}

uint64_t threshold_of(const TracingSettings& settings) {
  const bool head_ratio = settings.mode == TracingMode::kHybrid && !settings.tail;
  return head_ratio ? threshold_for_ratio(settings.ratio) : 0;
}

std::string th_tracestate(uint64_t threshold) {
  char digits[16];
  std::snprintf(digits, sizeof(digits), "%014llx",
                static_cast<unsigned long long>(threshold & (kMaxThreshold - 1)));
  std::string_view hex(digits, 14);
  while (hex.size() > 1 && hex.back() == '0') hex.remove_suffix(1);
  return "ot=th:" + std::string(hex);
}

uint64_t randomness_of(const spans::TraceId& trace_id) {
  uint64_t randomness = 0;
  for (size_t i = trace_id.size() - kRandomnessBits / 8; i < trace_id.size(); ++i) {
    randomness = randomness << 8 | trace_id[i];
  }
  return randomness;
}

}  // namespace ztrace::sampling
