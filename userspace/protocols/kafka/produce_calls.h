#pragma once

// The produce calls librdkafka took from threads that served a request
// (bpf/rdkafka_probes.bpf.c), kept until the Produce request that carries their messages is
// seen: librdkafka writes it later, from its broker thread, so the calls say which request
// each message belongs to. Bounded per process and in age; the pipeline thread only.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "bpf/rdkafka_probes.h"
#include "userspace/spans/span.h"

namespace ztrace::kafka {

struct ProduceCall {
  std::string topic;  // empty: the call named a topic handle (rd_kafka_produce)
  uint64_t fingerprint = 0;
  spans::SpanLink request;  // the request the calling thread served
  uint64_t timestamp_ns = 0;
  std::optional<std::string> key;  // when captured whole
};

// The call an event describes; nullopt when the event is malformed.
std::optional<ProduceCall> produce_call_of(const zt_kafka_produce_event& event);

class ProduceCalls {
 public:
  static constexpr size_t kMaxCallsPerProcess = 4096;
  static constexpr size_t kMaxProcesses = 1024;
  static constexpr uint64_t kMaxAgeNs = 60'000'000'000;  // librdkafka's default timeout is 300 s,
                                                         // its linger a few ms

  void remember(uint32_t pid, ProduceCall call);
  // The oldest call of `pid` for `topic` whose message has this fingerprint, taken.
  std::optional<ProduceCall> take(uint32_t pid, std::string_view topic, uint64_t fingerprint);
  void forget(uint32_t pid) { calls_.erase(pid); }
  uint64_t expired() const { return expired_; }

 private:
  std::unordered_map<uint32_t, std::deque<ProduceCall>> calls_;
  uint64_t expired_ = 0;  // calls no Produce request claimed
};

}  // namespace ztrace::kafka
