#include "userspace/protocols/kafka/produce_calls.h"

#include <algorithm>
#include <cstring>

#include "userspace/protocols/kafka/message_fingerprint.h"

namespace ztrace::kafka {

std::optional<ProduceCall> produce_call_of(const zt_kafka_produce_event& event) {
  if (event.topic_bytes > sizeof(event.topic) || event.key_captured > sizeof(event.key) ||
      event.value_captured > sizeof(event.value)) {
    return std::nullopt;
  }
  const auto length = [](uint64_t bytes) {
    return bytes == ZT_RDKAFKA_ABSENT ? std::nullopt : std::optional<uint64_t>(bytes);
  };
  const std::string_view key(reinterpret_cast<const char*>(event.key), event.key_captured);
  const std::string_view value(reinterpret_cast<const char*>(event.value), event.value_captured);
  // A prefix shorter than its message (and than the capture) is one the probe could not read.
  const auto whole_prefix = [](uint64_t bytes, size_t captured) {
    return bytes == ZT_RDKAFKA_ABSENT ||
           captured == std::min<uint64_t>(bytes, kFingerprintPrefixBytes);
  };
  if (!whole_prefix(event.key_bytes, event.key_captured) ||
      !whole_prefix(event.value_bytes, event.value_captured)) {
    return std::nullopt;
  }
  ProduceCall call;
  call.topic.assign(event.topic, event.topic_bytes);
  call.fingerprint =
      message_fingerprint(length(event.key_bytes), key, length(event.value_bytes), value);
  std::memcpy(call.request.trace_id.data(), event.trace_id, 16);
  std::memcpy(call.request.span_id.data(), event.parent_span_id, 8);
  call.request.trace_flags = event.trace_flags;
  call.timestamp_ns = event.timestamp_ns;
  if (event.key_bytes != ZT_RDKAFKA_ABSENT && event.key_bytes == event.key_captured) {
    call.key.emplace(key);
  }
  return call;
}

void ProduceCalls::remember(uint32_t pid, ProduceCall call) {
  if (calls_.size() >= kMaxProcesses && !calls_.contains(pid)) {
    for (const auto& [other, calls] : calls_) expired_ += calls.size();
    calls_.clear();
  }
  auto& calls = calls_[pid];
  while (!calls.empty() && (calls.size() >= kMaxCallsPerProcess ||
                            calls.front().timestamp_ns + kMaxAgeNs < call.timestamp_ns)) {
    calls.pop_front();
    ++expired_;
  }
  calls.push_back(std::move(call));
}

std::optional<ProduceCall> ProduceCalls::take(uint32_t pid, std::string_view topic,
                                              uint64_t fingerprint) {
  auto it = calls_.find(pid);
  if (it == calls_.end()) return std::nullopt;
  auto& calls = it->second;
  auto match = std::find_if(calls.begin(), calls.end(), [&](const ProduceCall& call) {
    if (call.fingerprint != fingerprint) return false;
    // A name as long as the capture may have been cut there.
    const bool cut = call.topic.size() == ZT_RDKAFKA_TOPIC_BYTES - 1;
    return call.topic.empty() || call.topic == topic || (cut && topic.starts_with(call.topic));
  });
  if (match == calls.end()) return std::nullopt;
  ProduceCall call = std::move(*match);
  calls.erase(match);
  return call;
}

}  // namespace ztrace::kafka
