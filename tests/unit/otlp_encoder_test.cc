// Spans → ExportTraceServiceRequest: grouping, scope, schema URL, every field.
#include "userspace/export/otlp/otlp_encoder.h"

#include <catch2/catch_test_macros.hpp>
#include <memory>
#include <string>

#include "userspace/export/otlp/reference/message_encoder.h"

namespace ztrace::otlp {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;

std::shared_ptr<const spans::Resource> make_resource(std::string service, int64_t pid) {
  auto resource = std::make_shared<spans::Resource>();
  resource->attributes.push_back({"service.name", std::move(service)});
  resource->attributes.push_back({"process.pid", pid});
  resource->attributes.push_back({"host.name", std::string("node-1")});
  return resource;
}

spans::Span make_span(uint8_t id, std::shared_ptr<const spans::Resource> resource) {
  spans::Span span;
  span.trace_id = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                   0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, id};
  span.span_id = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, id};
  span.name = "GET";
  span.kind = spans::SpanKind::kServer;
  span.start_time_unix_nano = 1'700'000'000'000'000'000ULL + id;
  span.end_time_unix_nano = 1'700'000'000'001'000'000ULL + id;
  span.set("http.request.method", std::string("GET"));
  span.set("http.response.status_code", int64_t{200});
  span.resource = std::move(resource);
  return span;
}

std::string attribute_text(const common::AnyValue& value) {
  switch (value.value_case()) {
    case common::AnyValue::kStringValue:
      return "s:" + value.string_value();
    case common::AnyValue::kIntValue:
      return "i:" + std::to_string(value.int_value());
    case common::AnyValue::kDoubleValue:
      return "d:" + std::to_string(value.double_value());
    case common::AnyValue::kBoolValue:
      return value.bool_value() ? "b:true" : "b:false";
    default:
      return "?";
  }
}

std::map<std::string, std::string> attributes_of(
    const google::protobuf::RepeatedPtrField<common::KeyValue>& attributes) {
  std::map<std::string, std::string> out;
  for (const auto& kv : attributes) out[kv.key()] = attribute_text(kv.value());
  return out;
}

TEST_CASE("otlp encoder: one ResourceSpans per resource, scope ztrace, schema URL",
          "[otlp][encoder]") {
  auto python = make_resource("python3", 10);
  auto curl = make_resource("curl", 20);
  const std::vector<spans::Span> batch = {make_span(1, python), make_span(2, curl),
                                          make_span(3, python), make_span(4, curl),
                                          make_span(5, python)};
  OtlpEncoder encoder({.agent_version = "1.2.3"});
  ExportRequest request;
  encoder.encode(batch, &request);

  REQUIRE(request.resource_spans_size() == 2);
  const auto& first = request.resource_spans(0);
  const auto& second = request.resource_spans(1);
  CHECK(attributes_of(first.resource().attributes()) ==
        std::map<std::string, std::string>{
            {"service.name", "s:python3"}, {"process.pid", "i:10"}, {"host.name", "s:node-1"}});
  CHECK(attributes_of(second.resource().attributes()).at("service.name") == "s:curl");
  for (const auto* rs : {&first, &second}) {
    CHECK(rs->schema_url() == kSchemaUrl);
    REQUIRE(rs->scope_spans_size() == 1);
    CHECK(rs->scope_spans(0).scope().name() == "ztrace");
    CHECK(rs->scope_spans(0).scope().version() == "1.2.3");
    CHECK(rs->scope_spans(0).schema_url() == kSchemaUrl);
  }
  // Order of first appearance, and span order kept within a resource.
  const auto& python_spans = first.scope_spans(0).spans();
  const auto& curl_spans = second.scope_spans(0).spans();
  REQUIRE(python_spans.size() == 3);
  REQUIRE(curl_spans.size() == 2);
  CHECK(static_cast<uint8_t>(python_spans[0].span_id().back()) == 1);
  CHECK(static_cast<uint8_t>(python_spans[1].span_id().back()) == 3);
  CHECK(static_cast<uint8_t>(python_spans[2].span_id().back()) == 5);
  CHECK(static_cast<uint8_t>(curl_spans[0].span_id().back()) == 2);
  CHECK(static_cast<uint8_t>(curl_spans[1].span_id().back()) == 4);

  // The same request object reused for a smaller batch holds exactly that batch.
  encoder.encode(std::span(batch).subspan(3, 1), &request);
  REQUIRE(request.resource_spans_size() == 1);
  REQUIRE(request.resource_spans(0).scope_spans(0).spans_size() == 1);
  CHECK(static_cast<uint8_t>(request.resource_spans(0).scope_spans(0).spans(0).span_id().back()) ==
        4);
}

TEST_CASE("otlp encoder: every span field", "[otlp][encoder]") {
  spans::Span span = make_span(7, make_resource("svc", 1));
  span.parent_span_id = {1, 2, 3, 4, 5, 6, 7, 8};
  span.kind = spans::SpanKind::kClient;
  span.status_code = spans::StatusCode::kError;
  span.status_message = "boom";
  span.set("ratio", 0.5);
  span.set("flag", true);
  span.trace_flags = 0x03;  // sampled + random (W3C trace context level 2)
  span.trace_state = "ot=th:c";
  OtlpEncoder encoder({.agent_version = "0.1.0"});
  ExportRequest request;
  encoder.encode(std::span(&span, 1), &request);
  const trace::Span& out = request.resource_spans(0).scope_spans(0).spans(0);
  CHECK(out.trace_id() == std::string(span.trace_id.begin(), span.trace_id.end()));
  CHECK(out.span_id() == std::string(span.span_id.begin(), span.span_id.end()));
  CHECK(out.parent_span_id() == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  CHECK(out.trace_state() == "ot=th:c");
  CHECK(out.name() == "GET");
  CHECK(out.kind() == trace::Span::SPAN_KIND_CLIENT);
  CHECK(out.start_time_unix_nano() == span.start_time_unix_nano);
  CHECK(out.end_time_unix_nano() == span.end_time_unix_nano);
  CHECK(out.status().code() == trace::Status::STATUS_CODE_ERROR);
  CHECK(out.status().message() == "boom");
  CHECK(out.flags() == 3);
  CHECK(out.links_size() == 0);
  CHECK(attributes_of(out.attributes()) ==
        std::map<std::string, std::string>{{"http.request.method", "s:GET"},
                                           {"http.response.status_code", "i:200"},
                                           {"ratio", "d:0.500000"},
                                           {"flag", "b:true"}});

  // No parent: the field stays empty (not 8 zero bytes); UNSET status without message:
  // no Status at all.
  spans::Span root = make_span(8, nullptr);
  encoder.encode(std::span(&root, 1), &request);
  const trace::Span& root_out = request.resource_spans(0).scope_spans(0).spans(0);
  CHECK(root_out.parent_span_id().empty());
  CHECK_FALSE(root_out.has_status());
  CHECK(root_out.kind() == trace::Span::SPAN_KIND_SERVER);
  CHECK(request.resource_spans(0).resource().attributes_size() == 0);  // null resource
}

TEST_CASE("otlp encoder: the agent's resource attributes never override the process's",
          "[otlp][encoder]") {
  auto resource = make_resource("svc", 1);
  OtlpEncoder encoder(
      {.agent_version = "0.1.0",
       .extra_resource_attributes = {{"deployment.environment", std::string("prod")},
                                     {"service.name", std::string("agent")}}});
  spans::Span span = make_span(1, resource);
  ExportRequest request;
  encoder.encode(std::span(&span, 1), &request);
  const auto attributes = attributes_of(request.resource_spans(0).resource().attributes());
  CHECK(attributes.at("service.name") == "s:svc");
  CHECK(attributes.at("deployment.environment") == "s:prod");
  CHECK(attributes.size() == 4);
}

TEST_CASE("otlp encoder: invalid UTF-8 from captured traffic becomes U+FFFD", "[otlp][encoder]") {
  spans::Span span = make_span(1, make_resource("svc", 1));
  span.set("url.path", std::string("/a\xff\xfe/\xc3\xa9t\xc3\xa9/\xe2\x82"));  // bad, é, cut
  span.set("ascii.long", std::string("0123456789abcdefghijklmnopqrstuvwxyz"));
  span.name = "G\x80T";
  OtlpEncoder encoder({.agent_version = "0.1.0"});
  ExportRequest request;
  encoder.encode(std::span(&span, 1), &request);
  const trace::Span& out = request.resource_spans(0).scope_spans(0).spans(0);
  const auto attributes = attributes_of(out.attributes());
  CHECK(attributes.at("url.path") ==
        "s:/a\xef\xbf\xbd\xef\xbf\xbd/\xc3\xa9t\xc3\xa9/\xef\xbf\xbd\xef\xbf\xbd");
  CHECK(attributes.at("ascii.long") == "s:0123456789abcdefghijklmnopqrstuvwxyz");
  CHECK(out.name() == "G\xef\xbf\xbdT");
  // A strict proto3 parser accepts the result.
  std::string bytes;
  REQUIRE(request.SerializeToString(&bytes));
  ExportRequest parsed;
  CHECK(parsed.ParseFromString(bytes));
  CHECK(parsed.resource_spans(0).scope_spans(0).spans(0).name() == out.name());
}

TEST_CASE("otlp encoder: spans serialized one by one and framed give the same bytes",
          "[otlp][encoder]") {
  auto python = make_resource("python3", 10);
  auto curl = make_resource("curl", 20);
  std::vector<spans::Span> batch = {make_span(1, python), make_span(2, curl), make_span(3, nullptr),
                                    make_span(4, python)};
  batch[1].status_code = spans::StatusCode::kError;
  batch[1].set("url.path", std::string("/bad\xff"));
  // Span links (a Kafka receive's), with and without W3C flags.
  batch[1].links.push_back({batch[0].trace_id, batch[0].span_id, 0x01});
  batch[3].links.push_back({batch[2].trace_id, batch[2].span_id, 0x00});
  batch[3].links.push_back({batch[1].trace_id, batch[1].span_id, 0x01});
  const EncoderOptions options{
      .agent_version = "1.2.3",
      .extra_resource_attributes = {{"deployment.environment", std::string("prod")}}};
  ExportRequest request;
  OtlpEncoder(options).encode(batch, &request);
  std::string expected;
  REQUIRE(request.SerializeToString(&expected));

  SpanSerializer serializer;
  std::vector<SerializedSpan> serialized;
  for (const auto& span : batch) {
    SerializedSpan s;
    serializer.serialize(span, &s.bytes);
    s.resource = span.resource;
    serialized.push_back(std::move(s));
  }
  std::string framed = "stale content is replaced";
  const RequestFramer framer(options);
  framer.frame(serialized, &framed);
  CHECK(framed == expected);
  // Again with the same framer: its resources now come from its cache.
  std::string framed_again;
  framer.frame(serialized, &framed_again);
  CHECK(framed_again == expected);
  ExportRequest parsed;
  REQUIRE(parsed.ParseFromString(framed));
  CHECK(parsed.resource_spans_size() == 3);
  const trace::Span& linked = parsed.resource_spans(1).scope_spans(0).spans(0);
  REQUIRE(linked.links_size() == 1);
  CHECK(linked.links(0).span_id() == std::string(batch[0].span_id.begin(), batch[0].span_id.end()));
  CHECK(linked.links(0).flags() == 1);
  CHECK(parsed.resource_spans(0).scope_spans(0).spans_size() == 2);

  // Many spans: lengths above one varint byte everywhere.
  std::vector<spans::Span> many;
  for (int i = 0; i < 300; ++i) many.push_back(make_span(static_cast<uint8_t>(i), python));
  OtlpEncoder(options).encode(many, &request);
  serialized.clear();
  for (const auto& span : many) {
    SerializedSpan s;
    serializer.serialize(span, &s.bytes);
    s.resource = span.resource;
    serialized.push_back(std::move(s));
  }
  RequestFramer(options).frame(serialized, &framed);
  CHECK(framed == request.SerializeAsString());
  RequestFramer(options).frame({}, &framed);
  CHECK(framed.empty());
}

TEST_CASE("otlp encoder: the direct span writer gives the generated serializer's bytes",
          "[otlp][encoder]") {
  // Each variation changes one field shape the writer handles on its own.
  std::vector<spans::Span> variants;
  auto add = [&](auto change) {
    spans::Span span = make_span(static_cast<uint8_t>(variants.size()), nullptr);
    change(span);
    variants.push_back(std::move(span));
  };
  add([](spans::Span&) {});
  add([](spans::Span& s) { s.parent_span_id = {1, 2, 3, 4, 5, 6, 7, 8}; });
  add([](spans::Span& s) { s.trace_flags = 0; });
  add([](spans::Span& s) { s.trace_state = "ot=th:e6666666666666"; });
  add([](spans::Span& s) {
    s.trace_state = "ot=th:8";
    s.parent_span_id = {1, 2, 3, 4, 5, 6, 7, 8};
  });
  add([](spans::Span& s) { s.kind = spans::SpanKind::kInternal; });
  add([](spans::Span& s) { s.name.clear(); });
  add([](spans::Span& s) { s.start_time_unix_nano = s.end_time_unix_nano = 0; });
  add([](spans::Span& s) { s.status_code = spans::StatusCode::kError; });
  add([](spans::Span& s) { s.status_code = spans::StatusCode::kOk; });
  add([](spans::Span& s) { s.status_message = "connection closed before a response"; });
  add([](spans::Span& s) {
    s.status_code = spans::StatusCode::kError;
    s.status_message = "bad \xc3";
  });
  add([](spans::Span& s) {
    s.set("double", 2.5);
    s.set("bool.true", true);
    s.set("bool.false", false);
    s.set("int.zero", int64_t{0});
    s.set("int.negative", int64_t{-42});
    s.set("int.large", int64_t{1} << 62);
    s.set("string.empty", std::string());
    s.set("string.long", std::string(300, 'x'));  // two-byte lengths
    s.set(spans::AttributeKey::intern("bad\xffkey"), std::string("bad \xe2\x82 value"));
    s.name = "GET \xf0";
  });
  add([](spans::Span& s) {
    for (int i = 0; i < 40; ++i)
      s.set(spans::AttributeKey::intern("a" + std::to_string(i)), int64_t{i});  // > inline slots
  });
  // Strings of every short length with one non-ASCII byte (a bad one, or the lead of a valid
  // "é") at each position: the word-wise ASCII check and the short copies at every edge.
  for (size_t length = 1; length <= 24; ++length) {
    for (const char lead : {'\xff', '\xc3'}) {
      add([&](spans::Span& s) {
        for (size_t at = 0; at < length; ++at) {
          std::string text(length, 'a');
          text[at] = lead;
          if (lead == '\xc3' && at + 1 < length) text[at + 1] = '\xa9';
          s.set(spans::AttributeKey::intern("k" + std::to_string(at)), text);
        }
        s.set("ascii", std::string(length, 'b'));
      });
    }
  }
  SpanSerializer serializer;
  for (size_t i = 0; i < variants.size(); ++i) {
    INFO("variant " << i);
    ExportRequest request;
    OtlpEncoder({}).encode(std::span(&variants[i], 1), &request);
    const std::string expected =
        request.resource_spans(0).scope_spans(0).spans(0).SerializeAsString();
    std::string written;
    serializer.serialize(variants[i], &written);
    CHECK(written == expected);
  }
}

}  // namespace
}  // namespace ztrace::otlp
