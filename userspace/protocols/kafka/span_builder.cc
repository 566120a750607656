#include "userspace/protocols/kafka/span_builder.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "userspace/protocols/kafka/api.h"
#include "userspace/protocols/kafka/errors.h"
#include "userspace/protocols/span_conventions.h"
#include "userspace/spans/semconv.h"

namespace ztrace::kafka {
namespace {

namespace mq = semconv::messaging;

// A key is reported when it has a plain string form (the conventions: "If the key has no
// unambiguous, canonical string form, don't include its value").
bool printable(std::string_view key) {
  return std::none_of(key.begin(), key.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

void add_link(spans::Span& span, const spans::SpanLink& link) {
  if (span.links.size() >= SpanBuilder::kMaxLinksPerSpan) return;
  if (std::find(span.links.begin(), span.links.end(), link) == span.links.end()) {
    span.links.push_back(link);
  }
}

}  // namespace

std::vector<spans::Span> SpanBuilder::build(const protocols::ExchangeContext& context,
                                            const Exchange& exchange) {
  std::vector<spans::Span> out;
  learn(context.connection.pid, exchange);
  // Spans describe the client's operations; a traced broker's side has no convention.
  if (context.connection.role == Role::kServer) return out;
  if (exchange.request.api_key == kProduce) build_sends(context, exchange, out);
  if (exchange.request.api_key == kFetch) build_receives(context, exchange, out);
  return out;
}

void SpanBuilder::learn(uint32_t pid, const Exchange& exchange) {
  if (!exchange.group.empty()) {
    if (groups_.size() >= kMaxProcesses && !groups_.contains(pid)) groups_.clear();
    groups_[pid] = exchange.group;
  }
  for (const TopicName& topic : exchange.topic_names) {
    if (topic_names_.size() >= kMaxTopicIds) topic_names_.clear();
    topic_names_[topic.id] = topic.name;
  }
}

spans::Span& SpanBuilder::start(const protocols::ExchangeContext& context, const Exchange& exchange,
                                const PartitionData& partition, std::string_view topic,
                                std::vector<spans::Span>& out) {
  spans::Span& span = out.emplace_back();
  protocols::start_span(context, span);
  if (out.size() > 1) span.span_id = spans::random_span_id();  // a context names one span
  span.set(mq::kMessagingSystem, std::string("kafka"));
  protocols::set_endpoint_attributes(span, context.connection, {});
  if (!topic.empty()) span.set(mq::kMessagingDestinationName, std::string(topic));
  span.set(mq::kMessagingDestinationPartitionId, std::to_string(partition.partition));
  if (!exchange.request.client_id.empty()) {
    span.set(mq::kMessagingClientId, exchange.request.client_id);
  }
  const uint32_t count = partition.records.count;
  // The conventions: not set on spans of a single message.
  if (count != 1) span.set(mq::kMessagingBatchMessageCount, int64_t{count});
  if (count == 1 && partition.records.has_key && printable(partition.records.key)) {
    span.set(mq::kMessagingKafkaMessageKey, partition.records.key);
  }
  const int16_t error = partition.error_code ? partition.error_code : exchange.error_code;
  if (error != 0) {
    span.status_code = spans::StatusCode::kError;
    span.set(semconv::error::kErrorType, error_name(error));
  }
  span.set(semconv::extension::kZtraceKafkaApiVersion, int64_t{exchange.request.api_version});
  if (exchange.truncated || partition.records.incomplete) {
    span.set(semconv::extension::kZtraceCaptureTruncated, true);
  }
  span.start_time_unix_nano = clock_.to_unix_ns(exchange.request_start_ns);
  const uint64_t end_ns =
      exchange.has_response ? exchange.response_end_ns : exchange.request_end_ns;
  span.end_time_unix_nano = clock_.to_unix_ns(std::max(end_ns, exchange.request_start_ns));
  return span;
}

void SpanBuilder::on_produce_call(const zt_kafka_produce_event& event) {
  if (auto call = produce_call_of(event)) produce_calls_.remember(event.pid, std::move(*call));
}

void SpanBuilder::build_sends(const protocols::ExchangeContext& context, const Exchange& exchange,
                              std::vector<spans::Span>& out) {
  std::vector<spans::Span> creates;
  for (const PartitionData& partition : exchange.partitions) {
    spans::Span& span = start(context, exchange, partition, partition.topic, out);
    span.kind = spans::SpanKind::kProducer;
    span.name = "send " + partition.topic;
    span.set(mq::kMessagingOperationType, std::string("send"));
    span.set(mq::kMessagingOperationName, std::string("send"));
    follow_produce_calls(context, partition, span, creates);
    if (partition.base_offset >= 0) {
      span.set(mq::kMessagingKafkaOffset, partition.base_offset);
      remember_send(partition.topic, partition, span);
    }
    if (exchange.acks != 0 && !exchange.has_response) {
      span.status_code = spans::StatusCode::kError;
      span.set(semconv::error::kErrorType, std::string(semconv::error::kZtraceNoResponse));
    }
    // The contexts the application put in its records: each message's creation context.
    for (const spans::TraceParent& header : partition.records.traceparents) {
      add_link(span, {header.trace_id, header.parent_span_id, header.trace_flags});
    }
  }
  for (spans::Span& create : creates) out.push_back(std::move(create));
}

void SpanBuilder::follow_produce_calls(const protocols::ExchangeContext& context,
                                       const PartitionData& partition, spans::Span& send,
                                       std::vector<spans::Span>& creates) {
  const uint32_t pid = context.connection.pid;
  std::vector<std::pair<int64_t, ProduceCall>> calls;  // (offset in the request, its call)
  for (const RecordFingerprint& record : partition.records.fingerprints) {
    if (auto call = produce_calls_.take(pid, partition.topic, record.hash)) {
      calls.emplace_back(record.offset, std::move(*call));
    }
  }
  if (calls.empty()) return;
  const spans::SpanLink& first = calls.front().second.request;
  const bool one_request = calls.size() == partition.records.count &&
                           std::all_of(calls.begin(), calls.end(),
                                       [&](const auto& c) { return c.second.request == first; });
  if (one_request) {
    send.trace_id = first.trace_id;
    send.parent_span_id = first.span_id;
    send.trace_flags = first.trace_flags;
    return;
  }
  send.kind = spans::SpanKind::kClient;
  for (auto& [offset, call] : calls) {
    spans::Span& create = creates.emplace_back();
    create.trace_id = call.request.trace_id;
    create.parent_span_id = call.request.span_id;
    create.trace_flags = call.request.trace_flags;
    create.span_id = spans::random_span_id();
    create.kind = spans::SpanKind::kProducer;
    create.resource = context.connection.resource;
    create.name = "create " + partition.topic;
    create.set(mq::kMessagingSystem, std::string("kafka"));
    create.set(mq::kMessagingOperationType, std::string("create"));
    create.set(mq::kMessagingOperationName, std::string("create"));
    create.set(mq::kMessagingDestinationName, partition.topic);
    create.set(mq::kMessagingDestinationPartitionId, std::to_string(partition.partition));
    if (call.key && printable(*call.key)) create.set(mq::kMessagingKafkaMessageKey, *call.key);
    create.start_time_unix_nano = clock_.to_unix_ns(call.timestamp_ns);
    create.end_time_unix_nano = create.start_time_unix_nano;
    if (partition.base_offset >= 0) {
      const int64_t at = partition.base_offset + offset;
      create.set(mq::kMessagingKafkaOffset, at);
      remember(partition.topic, partition.partition, at, at, create);
    }
    add_link(send, {create.trace_id, create.span_id, create.trace_flags});
  }
}

void SpanBuilder::build_receives(const protocols::ExchangeContext& context,
                                 const Exchange& exchange, std::vector<spans::Span>& out) {
  const std::string* group = nullptr;
  if (!exchange.group.empty()) {
    group = &exchange.group;
  } else if (auto it = groups_.find(context.connection.pid); it != groups_.end()) {
    group = &it->second;
  }
  for (const PartitionData& partition : exchange.partitions) {
    // Long polls that return nothing are the consumer's idle loop, not a receive.
    if (partition.records.count == 0 && partition.error_code == 0) continue;
    const std::string* topic = &partition.topic;
    if (partition.has_topic_id) {
      auto it = topic_names_.find(partition.topic_id);
      if (it != topic_names_.end()) topic = &it->second;
    }
    spans::Span& span = start(context, exchange, partition, *topic, out);
    span.kind = spans::SpanKind::kClient;
    span.name = topic->empty() ? std::string("receive") : "receive " + *topic;
    span.set(mq::kMessagingOperationType, std::string("receive"));
    span.set(mq::kMessagingOperationName, std::string("receive"));
    if (group) span.set(mq::kMessagingConsumerGroupName, *group);
    if (partition.records.count > 0) {
      span.set(mq::kMessagingKafkaOffset, partition.records.first_offset);
    }
    for (const spans::TraceParent& header : partition.records.traceparents) {
      add_link(span, {header.trace_id, header.parent_span_id, header.trace_flags});
    }
    if (!topic->empty()) {
      link_sends(*topic, partition, span);
      remember_receive(*topic, partition, span, group);
    }
  }
}

void SpanBuilder::remember_receive(const std::string& topic, const PartitionData& partition,
                                   const spans::Span& span, const std::string* group) {
  if (partition.records.count == 0) return;
  if (receives_.size() >= kMaxReceivePartitions &&
      !receives_.contains({topic, partition.partition}))
    receives_.clear();
  auto& receives = receives_[{topic, partition.partition}];
  if (receives.size() >= kMaxReceivesPerPartition) receives.pop_front();
  Receive& receive = receives.emplace_back();
  receive.first_offset = partition.records.first_offset;
  receive.last_offset = partition.records.last_offset;
  receive.context = {span.trace_id, span.span_id, span.trace_flags};
  if (group) receive.group = *group;
  const auto& headers = partition.records.traceparents;
  const auto& offsets = partition.records.traceparent_offsets;
  for (size_t i = 0; i < headers.size() && i < offsets.size(); ++i) {
    receive.headers.emplace_back(
        offsets[i],
        spans::SpanLink{headers[i].trace_id, headers[i].parent_span_id, headers[i].trace_flags});
  }
}

std::optional<spans::Span> SpanBuilder::on_message_polled(const zt_kafka_message_event& event) {
  if (event.topic_bytes == 0 || event.topic_bytes > sizeof(event.topic) || event.offset < 0) {
    return std::nullopt;
  }
  const std::string topic(event.topic, event.topic_bytes);
  spans::Span span;
  std::memcpy(span.trace_id.data(), event.trace_id, span.trace_id.size());
  std::memcpy(span.span_id.data(), event.span_id, span.span_id.size());
  span.trace_flags = event.trace_flags;
  span.kind = spans::SpanKind::kConsumer;
  span.name = "process " + topic;
  span.set(mq::kMessagingSystem, std::string("kafka"));
  span.set(mq::kMessagingOperationType, std::string("process"));
  span.set(mq::kMessagingOperationName, std::string("process"));
  span.set(mq::kMessagingDestinationName, topic);
  span.set(mq::kMessagingDestinationPartitionId, std::to_string(event.partition));
  span.set(mq::kMessagingKafkaOffset, event.offset);
  // The poll's return: the calls the message causes follow it.
  span.start_time_unix_nano = clock_.to_unix_ns(event.timestamp_ns);
  span.end_time_unix_nano = span.start_time_unix_nano;
  std::string group;
  if (auto it = groups_.find(event.pid); it != groups_.end()) group = it->second;
  const PartitionKey key{topic, event.partition};
  if (auto it = receives_.find(key); it != receives_.end()) {
    for (const Receive& receive : it->second) {
      if (event.offset < receive.first_offset || event.offset > receive.last_offset) continue;
      add_link(span, receive.context);
      for (const auto& [offset, header] : receive.headers) {
        if (offset == event.offset) add_link(span, header);
      }
      if (group.empty()) group = receive.group;
    }
  }
  if (auto it = sends_.find(key); it != sends_.end()) {
    for (const Send& send : it->second) {
      if (event.offset >= send.first_offset && event.offset <= send.last_offset) {
        add_link(span, send.context);
      }
    }
  }
  if (!group.empty()) span.set(mq::kMessagingConsumerGroupName, group);
  return span;
}

void SpanBuilder::remember_send(const std::string& topic, const PartitionData& partition,
                                const spans::Span& span) {
  const int64_t count = std::max<int64_t>(partition.records.count, 1);
  const int64_t last = partition.base_offset > INT64_MAX - count
                           ? INT64_MAX  // a wire value near 2^63: no overflow
                           : partition.base_offset + count - 1;
  remember(topic, partition.partition, partition.base_offset, last, span);
}

void SpanBuilder::remember(const std::string& topic, int32_t partition, int64_t first, int64_t last,
                           const spans::Span& span) {
  if (sends_.size() >= kMaxPartitions && !sends_.contains({topic, partition})) sends_.clear();
  auto& sends = sends_[{topic, partition}];
  if (sends.size() >= kMaxSendsPerPartition) sends.pop_front();
  sends.push_back({first, last, {span.trace_id, span.span_id, span.trace_flags}});
}

void SpanBuilder::link_sends(const std::string& topic, const PartitionData& partition,
                             spans::Span& span) {
  if (partition.records.count == 0) return;
  auto it = sends_.find({topic, partition.partition});
  if (it == sends_.end()) return;
  for (const Send& send : it->second) {
    if (send.last_offset >= partition.records.first_offset &&
        send.first_offset <= partition.records.last_offset) {
      add_link(span, send.context);
    }
  }
}

}  // namespace ztrace::kafka
