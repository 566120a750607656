// Kafka sends of librdkafka clients: the produce calls the probes saw (bpf/rdkafka_probes.h)
// matched to the records of the Produce request by fingerprint; the send's parent, or a create
// span per message when one batch carries several requests' messages.
#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tests/unit/kafka_test_support.h"
#include "userspace/protocols/kafka/protocol.h"

namespace ztrace::kafka {
namespace {

using namespace testing;

// A produce call of `key`/`value` to `topic` by a thread serving the request whose span id
// ends in `request` (trace id byte 0 = `request` too).
zt_kafka_produce_event call_event(std::string_view topic, std::string_view key,
                                  std::string_view value, uint8_t request, uint32_t pid = 10) {
  zt_kafka_produce_event e{};
  e.type = ZT_EVENT_KAFKA_PRODUCE_CALL;
  e.call = ZT_RDKAFKA_PRODUCEV;
  e.trace_flags = 1;
  e.pid = pid;
  e.timestamp_ns = 5000;
  e.trace_id[0] = request;
  e.parent_span_id[7] = request;
  e.topic_bytes = topic.size();
  std::memcpy(e.topic, topic.data(), topic.size());
  e.key_bytes = key.size();
  e.key_captured = std::min<size_t>(key.size(), ZT_RDKAFKA_PREFIX_BYTES);
  std::memcpy(e.key, key.data(), e.key_captured);
  e.value_bytes = value.size();
  e.value_captured = std::min<size_t>(value.size(), ZT_RDKAFKA_PREFIX_BYTES);
  std::memcpy(e.value, value.data(), e.value_captured);
  return e;
}

int64_t num(const spans::Span& span, std::string_view key) {
  const auto* v = span.find(key);
  return v && std::holds_alternative<int64_t>(*v) ? std::get<int64_t>(*v) : -1;
}

// The spans of one Produce of `records` to topic "web" partition 0, base offset 40.
std::vector<spans::Span> produce(SpanBuilder& builder, const std::vector<TestRecord>& records,
                                 uint32_t pid = 10) {
  ConnectionParser parser{Role::kClient, false};
  const std::vector<TopicRecords> topics = {{"web", 0, batch_v2(0, records)}};
  parser.on_data(Direction::kEgress, request(0, 7, 1, "py", produce_request_body(7, topics)), 0,
                 100, true);
  parser.on_data(Direction::kIngress, response(0, 7, 1, produce_response_body(7, topics, 40)), 0,
                 200, true);
  auto exchanges = parser.take_exchanges();
  REQUIRE(exchanges.size() == 1);
  return builder.build({view(pid)}, exchanges[0]);
}

}  // namespace

TEST_CASE("kafka librdkafka: a send whose messages came from one request is its child",
          "[kafka][kafka-librdkafka]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  const std::string long_value(100, 'v');  // longer than the probe's prefix
  builder.on_produce_call(call_event("web", "a", "1", 7));
  builder.on_produce_call(call_event("web", "b", long_value, 7));
  builder.on_produce_call(call_event("web", "a", "1", 8, /*pid=*/11));  // another process
  auto spans = produce(builder, {{"a", "1", {}}, {"b", long_value, {}}});
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].kind == spans::SpanKind::kProducer);
  CHECK(spans[0].trace_id[0] == 7);
  CHECK(spans[0].parent_span_id[7] == 7);
  CHECK(num(spans[0], "messaging.kafka.offset") == 40);
  // The calls were taken: the same messages again are a root send.
  auto again = produce(builder, {{"a", "1", {}}, {"b", long_value, {}}});
  REQUIRE(again.size() == 1);
  CHECK(spans::is_zero(again[0].parent_span_id));
}

TEST_CASE("kafka librdkafka: what tells messages apart: value, key, topic, process",
          "[kafka][kafka-librdkafka]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  builder.on_produce_call(call_event("web", "a", "other", 7));
  builder.on_produce_call(call_event("web", "x", "1", 7));
  builder.on_produce_call(call_event("orders", "a", "1", 7));
  builder.on_produce_call(call_event("web", "a", "1", 7, /*pid=*/11));
  auto spans = produce(builder, {{"a", "1", {}}});
  REQUIRE(spans.size() == 1);
  CHECK(spans::is_zero(spans[0].parent_span_id));
  CHECK(builder.produce_calls().expired() == 0);
}

TEST_CASE(
    "kafka librdkafka: a batch of several requests' messages gives a create span each, linked",
    "[kafka][kafka-librdkafka]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  builder.on_produce_call(call_event("web", "a", "1", 7));
  builder.on_produce_call(call_event("web", "b", "2", 8));
  // "c" was produced by a thread serving nothing (no event): no create span.
  auto spans = produce(builder, {{"a", "1", {}}, {"b", "2", {}}, {"c", "3", {}}});
  REQUIRE(spans.size() == 3);
  const spans::Span& send = spans[0];
  CHECK(send.kind == spans::SpanKind::kClient);
  CHECK(spans::is_zero(send.parent_span_id));
  REQUIRE(send.links.size() == 2);
  for (int i = 0; i < 2; ++i) {
    const spans::Span& create = spans[1 + i];
    INFO("create " << i);
    CHECK(create.name == "create web");
    CHECK(create.kind == spans::SpanKind::kProducer);
    CHECK(create.trace_id[0] == 7 + i);
    CHECK(create.parent_span_id[7] == 7 + i);
    CHECK(num(create, "messaging.kafka.offset") == 40 + i);
    CHECK(send.links[i].span_id == create.span_id);
  }
  // A receive of offset 41 links to that message's create span (and to the send).
  ConnectionParser consumer{Role::kClient, false};
  consumer.on_data(Direction::kEgress, request(1, 11, 1, "c", ""), 0, 300, true);
  consumer.on_data(
      Direction::kIngress,
      response(1, 11, 1, fetch_response_body(11, {{"web", 0, batch_v2(41, {{"b", "2", {}}})}})), 0,
      400, true);
  auto fetched = consumer.take_exchanges();
  REQUIRE(fetched.size() == 1);
  auto receives = builder.build({view(12)}, fetched[0]);
  REQUIRE(receives.size() == 1);
  const auto linked = [&](const spans::SpanId& id) {
    return std::any_of(receives[0].links.begin(), receives[0].links.end(),
                       [&](const spans::SpanLink& l) { return l.span_id == id; });
  };
  CHECK(linked(spans[2].span_id));
  CHECK(linked(send.span_id));
  CHECK_FALSE(linked(spans[1].span_id));
}

TEST_CASE("kafka librdkafka: a malformed or short-read call event is not kept",
          "[kafka][kafka-librdkafka]") {
  auto e = call_event("web", "a", "1", 7);
  e.key_captured = ZT_RDKAFKA_PREFIX_BYTES + 1;
  CHECK_FALSE(produce_call_of(e));
  e = call_event("web", "a", "12345", 7);
  e.value_captured = 2;  // the probe could not read the whole prefix
  CHECK_FALSE(produce_call_of(e));
  e = call_event("web", "a", "1", 7);
  e.topic_bytes = sizeof(e.topic) + 1;
  CHECK_FALSE(produce_call_of(e));
  e = call_event("web", "a", "1", 7);
  e.key_bytes = ZT_RDKAFKA_ABSENT;  // a null key
  e.key_captured = 0;
  auto call = produce_call_of(e);
  REQUIRE(call);
  CHECK(call->fingerprint == message_fingerprint(std::nullopt, std::string_view("1")));
  CHECK_FALSE(call->key);
}

}  // namespace ztrace::kafka

namespace ztrace::kafka {
namespace {

constexpr std::string_view kHeader = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

zt_kafka_message_event polled(std::string_view topic, int32_t partition, int64_t offset) {
  zt_kafka_message_event e{};
  e.type = ZT_EVENT_KAFKA_MESSAGE_POLLED;
  e.trace_flags = 1;
  e.pid = 20;
  e.partition = partition;
  e.offset = offset;
  e.timestamp_ns = 9000;
  e.trace_id[0] = 0x33;
  e.span_id[7] = 0x44;
  e.topic_bytes = topic.size();
  std::memcpy(e.topic, topic.data(), topic.size());
  return e;
}

std::vector<spans::SpanLink> links(const spans::Span& span) { return span.links; }

}  // namespace

TEST_CASE(
    "kafka librdkafka consumer: a polled message's process span links to its receive, "
    "its send and its header",
    "[kafka][kafka-librdkafka-consumer]") {
  using namespace testing;
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  // The producer (pid 10): a send of offsets 40-41 of web/0.
  auto sends = produce(builder, {{"a", "1", {}}, {"b", "2", {}}});
  REQUIRE(sends.size() == 1);
  // The consumer (pid 20) fetches them; the second carries a traceparent.
  ConnectionParser parser{Role::kClient, false};
  const std::string records =
      batch_v2(40, {{"a", "1", {}}, {"b", "2", {{"traceparent", std::string(kHeader)}}}});
  parser.on_data(Direction::kEgress, request(1, 11, 3, "c", "fetch body is not parsed"), 0, 300,
                 true);
  parser.on_data(Direction::kIngress,
                 response(1, 11, 3, fetch_response_body(11, {{"web", 0, records}})), 0, 400, true);
  auto exchanges = parser.take_exchanges();
  REQUIRE(exchanges.size() == 1);
  auto receives = builder.build({view(20)}, exchanges[0]);
  REQUIRE(receives.size() == 1);

  auto process = builder.on_message_polled(polled("web", 0, 41));
  REQUIRE(process);
  CHECK(process->name == "process web");
  CHECK(process->kind == spans::SpanKind::kConsumer);
  CHECK(process->trace_id[0] == 0x33);
  CHECK(process->span_id[7] == 0x44);
  CHECK(spans::is_zero(process->parent_span_id));
  CHECK(num(*process, "messaging.kafka.offset") == 41);
  const spans::SpanLink receive{receives[0].trace_id, receives[0].span_id, receives[0].trace_flags};
  const spans::SpanLink send{sends[0].trace_id, sends[0].span_id, sends[0].trace_flags};
  const auto header = spans::parse_traceparent(kHeader);
  REQUIRE(header);
  const spans::SpanLink from_header{header->trace_id, header->parent_span_id, header->trace_flags};
  CHECK(links(*process) == std::vector<spans::SpanLink>{receive, from_header, send});
  // The first message has no header; another partition's offset 41 was neither received nor
  // sent here.
  auto first = builder.on_message_polled(polled("web", 0, 40));
  REQUIRE(first);
  CHECK(links(*first) == std::vector<spans::SpanLink>{receive, send});
  auto elsewhere = builder.on_message_polled(polled("web", 1, 41));
  REQUIRE(elsewhere);
  CHECK(elsewhere->links.empty());
  // Malformed: no topic, a topic length past the array, a negative offset.
  auto bad = polled("web", 0, 41);
  bad.topic_bytes = 0;
  CHECK_FALSE(builder.on_message_polled(bad));
  bad.topic_bytes = sizeof(bad.topic) + 1;
  CHECK_FALSE(builder.on_message_polled(bad));
  CHECK_FALSE(builder.on_message_polled(polled("web", 0, -1)));
}

}  // namespace ztrace::kafka
