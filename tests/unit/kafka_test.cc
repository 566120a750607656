// Kafka: detection, framing and pairing, every API version spans need (table tests written from
// the protocol guide, since the clients here stop short of the newest versions: Produce v9+ and
// Fetch v13+ with topic ids are covered only here), record batches in every codec, bad input,
// and the spans.
#include <catch2/catch_test_macros.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tests/unit/kafka_test_support.h"
#include "userspace/conntrack/protocols.h"
#include "userspace/protocols/kafka/compression.h"
#include "userspace/protocols/kafka/protocol.h"

namespace ztrace::kafka {
namespace {

using namespace testing;

constexpr std::string_view kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct Conversation {
  ConnectionParser parser{Role::kClient, false};
  uint64_t now = 1000;
  std::vector<Exchange> exchanges;

  void send(std::string_view bytes) { feed(Direction::kEgress, bytes); }
  void receive(std::string_view bytes) { feed(Direction::kIngress, bytes); }
  void feed(Direction d, std::string_view bytes, uint64_t gap = 0) {
    parser.on_data(d, bytes, gap, now += 10, true);
    take();
  }
  void take() {
    for (auto& e : parser.take_exchanges()) exchanges.push_back(std::move(e));
  }
};

std::string str(const spans::Span& span, std::string_view key) {
  const auto* v = span.find(key);
  return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : "<absent>";
}
int64_t num(const spans::Span& span, std::string_view key) {
  const auto* v = span.find(key);
  return v && std::holds_alternative<int64_t>(*v) ? std::get<int64_t>(*v) : -1;
}

std::string api_versions_request(int16_t version = 3) {
  Writer body(version >= 3);
  if (version >= 3) body.str("librdkafka").str("2.0.2").tags();
  return request(18, version, 1, "rdkafka", body.data());
}

}  // namespace

TEST_CASE("kafka detect: client requests, never HTTP, HTTP/2, TLS or PostgreSQL", "[kafka]") {
  CHECK(detect(api_versions_request()));
  CHECK(detect(api_versions_request(0)));
  CHECK(detect(request(3, 12, 2, "", Writer(true).array(0).i8(1).i8(0).tags().data())));
  CHECK(detect(request(0, 11, 2, "kafkajs", produce_request_body(11, {{"t", 0, ""}}))));
  CHECK_FALSE(detect("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK_FALSE(detect("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  CHECK_FALSE(detect(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) +
                     std::string(40, 'r')));
  // PostgreSQL StartupMessage: protocol 3.0 reads as Metadata v0, but its "client id" holds
  // the NUL-separated parameters.
  const std::string startup =
      std::string("\0\0\0\x23\0\x03\0\0user\0postgres\0database\0db\0\0", 35);
  CHECK_FALSE(detect(startup));
  CHECK_FALSE(detect(std::string("\0\0\0\x08\x04\xd2\x16\x2f", 8)));  // SSLRequest
  // Unknown API key, version past the newest, a control byte in the client id.
  CHECK_FALSE(detect(request(999, 0, 1, "c", "")));
  CHECK_FALSE(detect(request(0, 40, 1, "c", "")));
  CHECK_FALSE(detect(request(18, 0, 1, "bad\x01id", "")));
}

TEST_CASE(
    "kafka in the registry: Kafka, HTTP/1, HTTP/2 and PostgreSQL connections each find "
    "theirs",
    "[kafka]") {
  using Registry = conntrack::Protocols;
  // The protocol whose parser detection chose, by the parser's type.
  const auto chosen_is = []<typename Protocol>(std::string_view first_bytes) {
    Registry::Parser parser;
    Registry::detect(first_bytes, Role::kClient, false, parser);
    return std::holds_alternative<typename Protocol::Parser>(parser);
  };
  CHECK(chosen_is.operator()<kafka::Protocol>(api_versions_request()));
  CHECK(chosen_is.operator()<http1::Protocol>("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(chosen_is.operator()<http2::Protocol>("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  CHECK(chosen_is.operator()<postgresql::Protocol>(
      std::string("\0\0\0\x23\0\x03\0\0user\0postgres\0database\0db\0\0", 35)));
}

TEST_CASE("kafka produce: every version v0..v12 gives one send span per partition", "[kafka]") {
  spans::KernelClock clock;
  for (int16_t v = 0; v <= 12; ++v) {
    INFO("Produce v" << v);
    const std::string records =
        v >= 3 ? batch_v2(0, {{"order-1", "x", {{"traceparent", std::string(kTraceparent)}}}})
               : message_set(v >= 2 ? 1 : 0, 0, {{"order-1", "x", {}}});
    Conversation c;
    c.send(request(0, v, 7, "ztrace-test", produce_request_body(v, {{"orders", 1, records}})));
    CHECK(c.exchanges.empty());
    c.receive(response(0, v, 7, produce_response_body(v, {{"orders", 1, ""}}, 42)));
    REQUIRE(c.exchanges.size() == 1);
    const Exchange& e = c.exchanges[0];
    REQUIRE(e.partitions.size() == 1);
    CHECK(e.partitions[0].records.count == 1);
    CHECK(e.partitions[0].base_offset == 42);
    CHECK(e.partitions[0].records.key == "order-1");

    SpanBuilder builder({}, clock);
    auto spans = builder.build({view()}, e);
    REQUIRE(spans.size() == 1);
    const spans::Span& s = spans[0];
    CHECK(s.name == "send orders");
    CHECK(s.kind == spans::SpanKind::kProducer);
    CHECK(str(s, "messaging.system") == "kafka");
    CHECK(str(s, "messaging.operation.type") == "send");
    CHECK(str(s, "messaging.destination.name") == "orders");
    CHECK(str(s, "messaging.destination.partition.id") == "1");
    CHECK(num(s, "messaging.kafka.offset") == 42);
    CHECK(str(s, "messaging.kafka.message.key") == "order-1");
    CHECK(str(s, "messaging.client.id") == "ztrace-test");
    CHECK(s.find("messaging.batch.message_count") == nullptr);  // one message
    CHECK(str(s, "server.address") == "127.0.0.1");
    CHECK(num(s, "server.port") == 9092);
    CHECK(s.links.size() == (v >= 3 ? 1u : 0u));
    CHECK(num(s, "ztrace.kafka.api_version") == v);
  }
}

TEST_CASE("kafka produce: multi-topic, multi-partition requests give a span for each", "[kafka]") {
  spans::KernelClock clock;
  Conversation c;
  const std::vector<TopicRecords> topics = {
      {"orders", 0, batch_v2(0, {{"a", "1", {}}, {"b", "2", {}}})},
      {"payments", 3, batch_v2(0, {{"\x01null", "3", {}}})}};
  c.send(request(0, 7, 1, "multi", produce_request_body(7, topics)));
  c.receive(response(0, 7, 1, produce_response_body(7, topics, 10, 0)));
  REQUIRE(c.exchanges.size() == 1);
  SpanBuilder builder({}, clock);
  auto spans = builder.build({view()}, c.exchanges[0]);
  REQUIRE(spans.size() == 2);
  CHECK(spans[0].name == "send orders");
  CHECK(num(spans[0], "messaging.batch.message_count") == 2);
  CHECK(spans[0].find("messaging.kafka.message.key") == nullptr);  // a batch has no one key
  CHECK(spans[1].name == "send payments");
  CHECK(str(spans[1], "messaging.destination.partition.id") == "3");
  CHECK(spans[1].find("messaging.kafka.message.key") == nullptr);  // a null key
  CHECK(spans[0].span_id != spans[1].span_id);
}

TEST_CASE("kafka produce: a partition error is error.type, acks=0 needs no response", "[kafka]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  Conversation c;
  const std::vector<TopicRecords> topics = {{"orders", 0, batch_v2(0, {{"k", "v", {}}})}};
  c.send(request(0, 9, 1, "p", produce_request_body(9, topics)));
  c.receive(response(0, 9, 1, produce_response_body(9, topics, -1, 6)));
  REQUIRE(c.exchanges.size() == 1);
  auto spans = builder.build({view()}, c.exchanges[0]);
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].status_code == spans::StatusCode::kError);
  CHECK(str(spans[0], "error.type") == "NOT_LEADER_OR_FOLLOWER");

  c.send(request(0, 9, 2, "p", produce_request_body(9, topics, 0)));
  REQUIRE(c.exchanges.size() == 2);  // at once: the broker does not answer acks=0
  spans = builder.build({view()}, c.exchanges[1]);
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].status_code == spans::StatusCode::kUnset);
}

TEST_CASE("kafka fetch: every version v0..v17, topic ids named by Metadata", "[kafka]") {
  spans::KernelClock clock;
  for (int16_t v = 0; v <= 17; ++v) {
    INFO("Fetch v" << v);
    SpanBuilder builder({}, clock);
    Conversation c;
    // Metadata v12 names topic id 0x07.. (another connection of the process would do).
    c.send(request(3, 12, 1, "consumer", Writer(true).array(0).i8(1).i8(0).tags().data()));
    c.receive(response(3, 12, 1, metadata_response_body(12, "orders", 7)));
    REQUIRE(c.exchanges.size() == 1);
    CHECK(builder.build({view()}, c.exchanges[0]).empty());
    const std::string records =
        v >= 4 ? batch_v2(5, {{"k1", "a", {{"traceparent", std::string(kTraceparent)}}},
                              {"k2", "b", {}}})
               : message_set(v >= 2 ? 1 : 0, 5, {{"k1", "a", {}}, {"k2", "b", {}}});
    c.send(request(1, v, 2, "consumer", "fetch body is not parsed"));
    c.receive(response(1, v, 2, fetch_response_body(v, {{"orders", 0, records}})));
    REQUIRE(c.exchanges.size() == 2);
    auto spans = builder.build({view()}, c.exchanges[1]);
    REQUIRE(spans.size() == 1);
    const spans::Span& s = spans[0];
    CHECK(s.name == "receive orders");
    CHECK(s.kind == spans::SpanKind::kClient);
    CHECK(str(s, "messaging.operation.type") == "receive");
    CHECK(str(s, "messaging.destination.name") == "orders");
    CHECK(num(s, "messaging.batch.message_count") == 2);
    CHECK(num(s, "messaging.kafka.offset") == 5);
    REQUIRE(s.links.size() == (v >= 4 ? 1u : 0u));
    if (v >= 4) CHECK(spans::to_hex(s.links[0].span_id) == "00f067aa0ba902b7");
  }
}

TEST_CASE("kafka fetch: the consumer group from the group APIs, empty polls give no span",
          "[kafka]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  Conversation c;
  // JoinGroup v5 (not flexible) and Heartbeat v4 (flexible) name the group.
  c.send(request(11, 5, 1, "c", Writer().str("checkout").i32(10000).data()));
  c.receive(response(11, 5, 1, Writer().i32(0).i16(0).data()));
  c.send(request(12, 4, 2, "c", Writer(true).str("checkout").i32(1).str("m").tags().data()));
  c.receive(response(12, 4, 2, Writer(true).i32(0).i16(0).tags().data()));
  c.send(request(1, 11, 3, "c", ""));
  c.receive(response(1, 11, 3, fetch_response_body(11, {{"orders", 0, ""}})));
  c.send(request(1, 11, 4, "c", ""));
  c.receive(
      response(1, 11, 4, fetch_response_body(11, {{"orders", 0, batch_v2(9, {{"k", "v", {}}})}})));
  REQUIRE(c.exchanges.size() == 3);  // the group once, then both fetches
  std::vector<spans::Span> all;
  for (const Exchange& e : c.exchanges) {
    for (auto& s : builder.build({view()}, e)) all.push_back(std::move(s));
  }
  REQUIRE(all.size() == 1);  // the empty poll made none
  CHECK(str(all[0], "messaging.consumer.group.name") == "checkout");
  CHECK(num(all[0], "messaging.kafka.offset") == 9);
  CHECK(str(all[0], "messaging.kafka.message.key") == "k");
}

TEST_CASE("kafka links: a receive links to the send spans of its records by offset", "[kafka]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  Conversation producer;
  const std::vector<TopicRecords> sent = {
      {"orders", 2, batch_v2(0, {{"a", "1", {}}, {"b", "2", {}}})}};
  producer.send(request(0, 8, 1, "p", produce_request_body(8, sent)));
  producer.receive(response(0, 8, 1, produce_response_body(8, sent, 100)));
  auto sends = builder.build({view(1)}, producer.exchanges.at(0));
  REQUIRE(sends.size() == 1);

  Conversation consumer;
  consumer.send(request(1, 11, 1, "c", ""));
  consumer.receive(response(
      1, 11, 1, fetch_response_body(11, {{"orders", 2, batch_v2(101, {{"b", "2", {}}})}})));
  auto receives = builder.build({view(2)}, consumer.exchanges.at(0));
  REQUIRE(receives.size() == 1);
  REQUIRE(receives[0].links.size() == 1);
  CHECK(receives[0].links[0].span_id == sends[0].span_id);
  CHECK(receives[0].links[0].trace_id == sends[0].trace_id);
  // Another partition's records do not match.
  Conversation other;
  other.send(request(1, 11, 1, "c", ""));
  other.receive(response(
      1, 11, 1, fetch_response_body(11, {{"orders", 1, batch_v2(101, {{"b", "2", {}}})}})));
  CHECK(builder.build({view(2)}, other.exchanges.at(0)).at(0).links.empty());
}

TEST_CASE("kafka records: every codec, message sets v0/v1, bombs and unknown codecs", "[kafka]") {
  const std::vector<TestRecord> records = {
      {"k", "value-1", {{"traceparent", std::string(kTraceparent)}}}, {"k2", "value-2", {}}};
  for (int codec = 0; codec <= 4; ++codec) {
    INFO("codec " << codec);
    RecordStats stats;
    RecordSummary summary;
    summarize_records(batch_v2(3, records, codec), {}, stats, summary);
    CHECK(summary.count == 2);
    CHECK(summary.first_offset == 3);
    CHECK(summary.last_offset == 4);
    CHECK(summary.traceparents.size() == 1);
    CHECK_FALSE(summary.incomplete);
    CHECK(stats.compressed_batches == (codec ? 1u : 0u));
  }
  {  // the xerial framing of the Java client's snappy
    std::string raw = compress(2, "hello hello hello");
    std::string java = std::string("\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16) + std::string("\0\0\0", 3) +
                       static_cast<char>(raw.size()) + raw;
    std::string out;
    CHECK(decompress(2, java, 1024, out) == DecompressResult::kOk);
    CHECK(out == "hello hello hello");
  }
  for (int magic = 0; magic <= 1; ++magic) {
    RecordStats stats;
    RecordSummary summary;
    summarize_records(message_set(magic, 7, {{"a", "1", {}}, {"b", "2", {}}}), {}, stats, summary);
    CHECK(summary.count == 2);
    CHECK(summary.first_offset == 7);
    CHECK(summary.key == "a");
  }
  {  // 64 MiB of zeros in a few KiB: given up at the budget, counted
    std::vector<TestRecord> big = {{"k", std::string(64u << 20, '\0'), {}}};
    for (int codec = 1; codec <= 4; ++codec) {
      RecordStats stats;
      RecordSummary summary;
      summarize_records(batch_v2(0, big, codec), {}, stats, summary);
      CHECK(stats.over_budget == 1);
      CHECK(summary.incomplete);
      CHECK(summary.count == 0);
    }
  }
  {
    std::string batch = batch_v2(0, records, 0);
    batch[22] = 6;  // attributes: codec 6 does not exist
    RecordStats stats;
    RecordSummary summary;
    summarize_records(batch, {}, stats, summary);
    CHECK(stats.unknown_codec == 1);
    CHECK(summary.incomplete);
  }
  {  // corrupt compressed bytes, a truncated batch, a negative length
    std::string batch = batch_v2(0, records, 4);
    batch[batch.size() - 3] ^= 0x55;
    batch[batch.size() - 9] ^= 0x55;
    RecordStats stats;
    RecordSummary summary;
    summarize_records(batch, {}, stats, summary);
    CHECK(stats.corrupt == 1);
    RecordSummary cut;
    summarize_records(batch_v2(0, records).substr(0, 70), {}, stats, cut);
    CHECK(cut.count == 0);
    CHECK_FALSE(cut.incomplete);  // a fetch may end in a partial batch
    std::string negative = batch_v2(0, records);
    negative[8] = '\xff';
    RecordSummary bad;
    summarize_records(negative, {}, stats, bad);
    CHECK(bad.incomplete);
  }
  {  // past the bound on kept contexts: counted
    std::vector<TestRecord> many(40, {"k", "v", {{"traceparent", std::string(kTraceparent)}}});
    RecordStats stats;
    RecordSummary summary;
    summarize_records(batch_v2(0, many), {}, stats, summary);
    CHECK(summary.traceparents.size() == 32);
    CHECK(stats.traceparents_dropped == 8);
  }
}

TEST_CASE("kafka framing: headers by API version, in-flight pairing, unknown APIs", "[kafka]") {
  Conversation c;
  // ApiVersions v3: flexible request (header v2), response header v0 (KIP-511).
  c.send(api_versions_request(3));
  c.receive(response(18, 3, 1, Writer(true).i16(0).array(0).i32(0).tags().data()));
  // Two fetches and a produce in flight, and an API this table does not know in between.
  c.send(request(1, 12, 10, "c", "") + request(1, 12, 11, "c", ""));
  c.send(
      request(0, 9, 12, "c", produce_request_body(9, {{"t", 0, batch_v2(0, {{"k", "v", {}}})}})));
  Writer unknown;
  unknown.i16(1000).i16(0).i32(13).str("c");
  c.send(sized(unknown.data()));
  c.receive(
      response(1, 12, 10, fetch_response_body(12, {{"t", 0, batch_v2(0, {{"k", "v", {}}})}})) +
      response(1, 12, 11, fetch_response_body(12, {{"t", 0, batch_v2(1, {{"k", "v", {}}})}})));
  c.receive(response(0, 9, 12, produce_response_body(9, {{"t", 0, ""}}, 2)));
  c.receive(sized(Writer().i32(13).i16(0).data()));
  REQUIRE(c.exchanges.size() == 3);
  CHECK(c.exchanges[0].request.correlation_id == 10);
  CHECK(c.exchanges[1].partitions.at(0).records.first_offset == 1);
  CHECK(c.exchanges[2].partitions.at(0).base_offset == 2);
  CHECK(c.parser.stats().unknown_api == 1);
  CHECK(c.parser.stats().orphan_responses == 0);
  CHECK_FALSE(c.parser.failed());
}

TEST_CASE("kafka framing: every prefix needs more data, any split gives the same", "[kafka]") {
  const std::string requests =
      api_versions_request() +
      request(
          0, 11, 2, "c",
          produce_request_body(
              11, {{"orders", 0,
                    batch_v2(0, {{"k", "v", {{"traceparent", std::string(kTraceparent)}}}}, 4)}})) +
      request(1, 16, 3, "c", "");
  const std::string responses =
      response(18, 3, 1, Writer(true).i16(0).array(0).i32(0).tags().data()) +
      response(0, 11, 2, produce_response_body(11, {{"orders", 0, ""}}, 5)) +
      response(1, 16, 3, fetch_response_body(16, {{"orders", 0, batch_v2(5, {{"k", "v", {}}})}}));
  // The whole conversation: two exchanges (ApiVersions makes none).
  {
    Conversation c;
    c.send(requests);
    c.receive(responses);
    REQUIRE(c.exchanges.size() == 2);
  }
  // Every prefix of the responses: only exchanges whose response is whole, never a failure,
  // and the rest arrives intact.
  for (size_t cut = 0; cut <= responses.size(); ++cut) {
    Conversation c;
    c.send(requests);
    c.receive(responses.substr(0, cut));
    const size_t before = c.exchanges.size();
    CHECK_FALSE(c.parser.failed());
    c.parser.on_data(Direction::kIngress, std::string_view(responses).substr(cut), 0, 5000, false);
    c.take();
    CHECK(c.exchanges.size() == 2);
    CHECK(before <= 2);
  }
  // Every prefix of the requests, the rest in a later call.
  for (size_t cut = 0; cut <= requests.size(); ++cut) {
    Conversation c;
    c.send(requests.substr(0, cut));
    c.parser.on_data(Direction::kEgress, std::string_view(requests).substr(cut), 0, 5000, false);
    c.receive(responses);
    CHECK(c.exchanges.size() == 2);
    CHECK_FALSE(c.parser.failed());
  }
}

TEST_CASE("kafka framing: a call whose first piece is too short to judge is judged whole",
          "[kafka]") {
  // Joined mid-way (role unknown): the first call that starts a request decides, even when
  // it arrives a byte at a time.
  const std::string fetch = request(1, 11, 1, "c", "");
  const std::string fetched =
      response(1, 11, 1, fetch_response_body(11, {{"t", 0, batch_v2(0, {{"k", "v", {}}})}}));
  ConnectionParser parser(Role::kUnknown, true);
  for (size_t i = 0; i < fetch.size(); ++i) {
    parser.on_data(Direction::kEgress, std::string_view(fetch).substr(i, 1), 0, 10, i == 0);
  }
  for (size_t i = 0; i < fetched.size(); ++i) {
    parser.on_data(Direction::kIngress, std::string_view(fetched).substr(i, 1), 0, 20, i == 0);
  }
  CHECK(parser.role() == Role::kClient);
  CHECK(parser.take_exchanges().size() == 1);
}

TEST_CASE("kafka bad input: corrupt lengths, gaps, junk; counted, bounded, tracing goes on",
          "[kafka]") {
  const std::string fetch = request(1, 11, 1, "c", "");
  const std::string fetched =
      response(1, 11, 1, fetch_response_body(11, {{"t", 0, batch_v2(0, {{"k", "v", {}}})}}));
  {  // junk that is not Kafka at all, first: the parser gives up
    ConnectionParser p(Role::kClient, false);
    p.on_data(Direction::kEgress, "GET / HTTP/1.1\r\n\r\n", 0, 1, true);
    CHECK(p.failed());
  }
  {  // a corrupt length later: lost sync, found again at the next request that starts a call
    Conversation c;
    c.send(fetch);
    c.receive(fetched);
    c.send(std::string("\x7f\xff\xff\xff garbage", 12));
    CHECK(c.parser.stats().lost_sync == 1);
    c.send(request(1, 11, 2, "c", ""));
    c.receive(
        response(1, 11, 2, fetch_response_body(11, {{"t", 0, batch_v2(1, {{"k", "v", {}}})}})));
    CHECK(c.exchanges.size() == 2);
    CHECK_FALSE(c.parser.failed());
  }
  {  // uncaptured bytes inside a response: framed across the gap, marked truncated
    Conversation c;
    c.send(fetch);
    c.feed(Direction::kIngress, std::string_view(fetched).substr(0, 20), fetched.size() - 20);
    REQUIRE(c.exchanges.size() == 1);
    CHECK(c.exchanges[0].truncated);
    CHECK(c.parser.stats().truncated == 1);
    c.send(request(1, 11, 2, "c", ""));
    c.receive(response(1, 11, 2, fetch_response_body(11, {{"t", 0, ""}})));
    CHECK(c.exchanges.size() == 2);
  }
  {  // a size prefix lost in a gap: resynchronized at a response for a pending request
    Conversation c;
    c.send(fetch);
    c.feed(Direction::kIngress, "", 3);
    CHECK(c.parser.stats().lost_sync == 1);
    c.send(request(1, 11, 2, "c", ""));
    c.receive(response(1, 11, 2, fetch_response_body(11, {{"t", 0, ""}})));
    CHECK(c.exchanges.size() == 1);
    CHECK(c.parser.stats().unanswered == 1);
  }
  {  // a large batch captured in part: counted from its header, the span marked truncated
    const std::vector<TestRecord> many(50, {"k", std::string(100, 'v'), {}});
    const std::string produce =
        request(0, 7, 1, "p", produce_request_body(7, {{"t", 0, batch_v2(0, many)}}));
    Conversation c;
    c.feed(Direction::kEgress, std::string_view(produce).substr(0, 200), produce.size() - 200);
    c.receive(response(0, 7, 1, produce_response_body(7, {{"t", 0, ""}}, 40)));
    REQUIRE(c.exchanges.size() == 1);
    const PartitionData& p = c.exchanges[0].partitions.at(0);
    CHECK(p.records.count == 50);
    CHECK(p.records.incomplete);
    CHECK(p.base_offset == 40);
    CHECK(c.exchanges[0].truncated);
  }
  {  // a fetch that ends in a batch the broker cut short: that batch was not delivered
    const std::string records =
        batch_v2(0, {{"k", "v", {}}}) + batch_v2(1, {{"k", "v", {}}}).substr(0, 30);
    Conversation c;
    c.send(request(1, 11, 1, "c", ""));
    c.receive(response(1, 11, 1, fetch_response_body(11, {{"t", 0, records}})));
    REQUIRE(c.exchanges.size() == 1);
    CHECK(c.exchanges[0].partitions.at(0).records.count == 1);
    CHECK_FALSE(c.exchanges[0].partitions.at(0).records.incomplete);
  }
  {  // bytes captured after a gap are not joined to the bytes before it
    const std::string fetched_big =
        response(1, 11, 1,
                 fetch_response_body(
                     11, {{"t", 0, batch_v2(0, std::vector<TestRecord>(20, {"k", "v", {}}))}}));
    Conversation c;
    c.send(request(1, 11, 1, "c", ""));
    c.feed(Direction::kIngress, std::string_view(fetched_big).substr(0, 150), 50);
    c.parser.on_data(Direction::kIngress, std::string_view(fetched_big).substr(200), 0, 99, true);
    c.take();
    REQUIRE(c.exchanges.size() == 1);
    CHECK(c.exchanges[0].partitions.at(0).records.count == 20);  // from the header
    CHECK(c.parser.stats().messages.records.corrupt == 0);
  }
  {  // a flood of requests never answered: bounded
    Conversation c;
    for (int i = 0; i < 1000; ++i) c.send(request(1, 11, i, "c", ""));
    CHECK(c.parser.stats().dropped == 1000 - 256);
  }
}

}  // namespace ztrace::kafka

namespace ztrace::kafka {

TEST_CASE("kafka memory: all parsers keep at most the process's budget, the rest is counted",
          "[kafka]") {
  const std::vector<TestRecord> many(80, {"k", std::string(100, 'v'), {}});
  const std::string produce = testing::request(
      0, 7, 1, "p", testing::produce_request_body(7, {{"t", 0, testing::batch_v2(0, many)}}));
  const size_t before = kept_bytes_in_use();
  KeptBytesShare others;  // what every other connection holds: all but 200 bytes
  REQUIRE(others.take(kKeptBytesBudget - before - 200) == kKeptBytesBudget - before - 200);
  KeptBytesShare probe;
  CHECK(probe.take(300) == 200);  // what is left, no more
  probe.release();

  ConnectionParser p(Role::kClient, false);
  p.on_data(Direction::kEgress, produce, 0, 1, true);
  p.on_data(Direction::kIngress,
            testing::response(0, 7, 1, testing::produce_response_body(7, {{"t", 0, ""}}, 40)), 0, 2,
            true);
  auto exchanges = p.take_exchanges();
  REQUIRE(exchanges.size() == 1);
  // The produce was cut after its unbudgeted head and 200 bytes: still framed, its batch
  // counted from the header.
  CHECK(p.stats().over_memory == 1);
  CHECK(exchanges[0].truncated);
  CHECK(exchanges[0].partitions.at(0).records.count == 80);
  CHECK(kept_bytes_in_use() == kKeptBytesBudget - 200);  // a message done gives its share back

  others.release();
  CHECK(kept_bytes_in_use() == before);
  p.on_data(Direction::kEgress, produce, 0, 3, true);
  CHECK(p.stats().over_memory == 1);  // room again: kept whole
}

}  // namespace ztrace::kafka
