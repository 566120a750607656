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
//
// librdkafka writes a Produce request from its own broker thread: the produce calls its
// application threads made (ProduceCalls) say which request each message belongs to. A send
// whose messages all came from one request is that request's child; one that carries
// messages of several requests (a batch) gets a PRODUCER `create {topic}` span per message,
// the child of its request, and links to them, as the conventions' batch publishing says
// (v1.27.0, "Trace structure": a "Create" span per message, the "Publish" span links to each;
// its kind is then CLIENT, since its context is no message's creation context).
//
// librdkafka's consumers read a Fetch on the broker thread; the application thread gets each
// message from a poll (bpf/rdkafka_probes.bpf.c), whose new context its calls take as their
// parent. That context is a CONSUMER `process {topic}` span (v1.27.0, "process" operation),
// linked to the receive that fetched the message, to the send (or create) span of the same
// offset, and to the message's own `traceparent` header.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "bpf/rdkafka_probes.h"
#include "userspace/protocols/kafka/connection_parser.h"
#include "userspace/protocols/kafka/produce_calls.h"
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
  // A librdkafka produce call by a thread serving a request (bpf/rdkafka_probes.h).
  void on_produce_call(const zt_kafka_produce_event& event);
  const ProduceCalls& produce_calls() const { return produce_calls_; }
  // A message a consumer thread polled (bpf/rdkafka_probes.h): its `process` span, without
  // resource; nullopt when the event is malformed.
  std::optional<spans::Span> on_message_polled(const zt_kafka_message_event& event);

  static constexpr size_t kMaxReceivesPerPartition = 8;
  static constexpr size_t kMaxReceivePartitions = 1024;

 private:
  struct Send {
    int64_t first_offset = 0;
    int64_t last_offset = 0;
    spans::SpanLink context;
  };
  using PartitionKey = std::tuple<std::string, int32_t>;
  struct Receive {
    int64_t first_offset = 0;
    int64_t last_offset = 0;
    spans::SpanLink context;
    std::vector<std::pair<int64_t, spans::SpanLink>> headers;  // by record offset
    std::string group;
  };

  void learn(uint32_t pid, const Exchange& exchange);
  void build_sends(const protocols::ExchangeContext& context, const Exchange& exchange,
                   std::vector<spans::Span>& out);
  void build_receives(const protocols::ExchangeContext& context, const Exchange& exchange,
                      std::vector<spans::Span>& out);
  spans::Span& start(const protocols::ExchangeContext& context, const Exchange& exchange,
                     const PartitionData& partition, std::string_view topic,
                     std::vector<spans::Span>& out);
  // The send's messages' produce calls: its parent, or create spans (added to `creates`).
  void follow_produce_calls(const protocols::ExchangeContext& context,
                            const PartitionData& partition, spans::Span& send,
                            std::vector<spans::Span>& creates);
  void remember_send(const std::string& topic, const PartitionData& partition,
                     const spans::Span& span);
  void remember(const std::string& topic, int32_t partition, int64_t first, int64_t last,
                const spans::Span& span);
  void link_sends(const std::string& topic, const PartitionData& partition, spans::Span& span);
  void remember_receive(const std::string& topic, const PartitionData& partition,
                        const spans::Span& span, const std::string* group);

  std::map<Uuid, std::string> topic_names_;           // topic ids are cluster-unique
  std::unordered_map<uint32_t, std::string> groups_;  // pid → its consumer group
  std::map<PartitionKey, std::deque<Send>> sends_;
  std::map<PartitionKey, std::deque<Receive>> receives_;
  ProduceCalls produce_calls_;
};

}  // namespace ztrace::kafka
