#pragma once

// Kafka exchanges → spans, per the messaging semantic conventions and their Kafka page
// (v1.27.0, "development"): a Produce gives a PRODUCER `send {topic}` span per partition it
// wrote, a Fetch a CLIENT `receive {topic}` span per partition that returned records, linked
// to the records' `traceparent` headers and to the send spans of the same records (matched by
// topic, partition and offset) when this agent traced their producer.
//
// What one connection cannot know is kept here, for the processes' lifetime in the agent and
// bounded: topic ids → names (Metadata v10+, for Fetch v13+), each process's consumer group,
// and recent send spans by partition and offset.

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "userspace/protocols/kafka/connection_parser.h"
#include "userspace/protocols/protocol.h"
#include "userspace/spans/span.h"

namespace ztrace::kafka {

class SpanBuilder : public protocols::SpanBuilderBase {
 public:
  using SpanBuilderBase::SpanBuilderBase;

  static constexpr size_t kMaxLinksPerSpan = 64;
  static constexpr size_t kMaxSendsPerPartition = 256;
  static constexpr size_t kMaxPartitions = 4096;
  static constexpr size_t kMaxTopicIds = 16384;
  static constexpr size_t kMaxProcesses = 4096;

  // Not const: it learns from every exchange (pipeline thread only).
  std::vector<spans::Span> build(const protocols::ExchangeContext& context,
                                 const Exchange& exchange);

 private:
  struct Send {
    int64_t first_offset = 0;
    int64_t last_offset = 0;
    spans::SpanLink context;
  };
  using PartitionKey = std::tuple<std::string, int32_t>;

  void learn(uint32_t pid, const Exchange& exchange);
  void build_sends(const protocols::ExchangeContext& context, const Exchange& exchange,
                   std::vector<spans::Span>& out);
  void build_receives(const protocols::ExchangeContext& context, const Exchange& exchange,
                      std::vector<spans::Span>& out);
  spans::Span& start(const protocols::ExchangeContext& context, const Exchange& exchange,
                     const PartitionData& partition, std::string_view topic,
                     std::vector<spans::Span>& out);
  void remember_send(const std::string& topic, const PartitionData& partition,
                     const spans::Span& span);
  void link_sends(const std::string& topic, const PartitionData& partition, spans::Span& span);

  std::map<Uuid, std::string> topic_names_;           // topic ids are cluster-unique
  std::unordered_map<uint32_t, std::string> groups_;  // pid → its consumer group
  std::map<PartitionKey, std::deque<Send>> sends_;
};

}  // namespace ztrace::kafka
