#include <yaml-cpp/yaml.h>

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "userspace/common/duration.h"
#include "userspace/sampling/settings_sources.h"
#include "userspace/sampling/tail_sampler.h"
#include "userspace/sampling/tracing_settings.h"
#include "userspace/spans/semconv.h"

using namespace ztrace::sampling;
namespace spans = ztrace::spans;
namespace fs = std::filesystem;

namespace {

std::string write_config(const std::string& name, const std::string& yaml) {
  const fs::path path = fs::temp_directory_path() / ("ztrace-sampling-test-" + name + ".yaml");
  std::ofstream(path, std::ios::trunc) << yaml;
  return path.string();
}

}  // namespace

TEST_CASE("sampling: a ratio's threshold over the trace id's 56 random bits") {
  CHECK(threshold_for_ratio(1.0) == 0);
  CHECK(threshold_for_ratio(0.0) == kMaxThreshold);
  CHECK(threshold_for_ratio(0.5) == kMaxThreshold / 2);
  CHECK(threshold_for_ratio(0.1) == 0xe6666666666666ULL);  // (1 - 0.1) * 2^56, rounded
  CHECK(threshold_for_ratio(-1) == kMaxThreshold);
  CHECK(threshold_for_ratio(2) == 0);
  ztrace::spans::TraceId id{};
  id[9] = 0xff;  // the randomness is bytes 9..15
  CHECK(randomness_of(id) == 0xff000000000000ULL);
  id[8] = 0xff;  // not part of it
  CHECK(randomness_of(id) == 0xff000000000000ULL);
  CHECK(sampled(id, threshold_for_ratio(0.5)));
  CHECK_FALSE(sampled(id, threshold_for_ratio(0.0)));
  CHECK(threshold_of({TracingMode::kFullE2e, 0.1}) == 0);
  CHECK(threshold_of({TracingMode::kHybrid, 0.1}) == threshold_for_ratio(0.1));
}

TEST_CASE("sampling: random ids are kept at the ratio") {
  std::mt19937_64 random(42);
  const uint64_t threshold = threshold_for_ratio(0.25);
  int kept = 0;
  constexpr int kIds = 100000;
  for (int i = 0; i < kIds; ++i) {
    ztrace::spans::TraceId id;
    for (auto& byte : id) byte = static_cast<uint8_t>(random());
    kept += sampled(id, threshold);
  }
  CHECK(kept > 24'400);  // 25,000 +- 4.4 sd
  CHECK(kept < 25'600);
}

TEST_CASE("sampling: the config file's tracing section; errors name the line and the key") {
  std::string error;
  auto layer = read_config_file(
      write_config("good", "# comment\ntracing:\n  mode: full-e2e\n  sampling:\n    ratio: 0.25\n"),
      &error);
  REQUIRE(layer);
  CHECK(layer->tracing.mode == TracingMode::kFullE2e);
  CHECK(layer->tracing.ratio == 0.25);
  CHECK(read_config_file(write_config("empty", ""), &error));
  // The shipped example is a valid file.
  const auto example = read_config_file(
      (fs::path(ZTRACE_TESTDATA_DIR) / "../../config/ztrace.example.yaml").string(), &error);
  INFO(error);
  CHECK((example && example->tracing.mode == TracingMode::kHybrid &&
         example->tracing.ratio == 0.1 && example->api_listen == "127.0.0.1:8401"));

  const auto fails = [&](const std::string& yaml) {
    error.clear();
    const bool read = read_config_file(write_config("bad", yaml), &error).has_value();
    return read ? std::string("(accepted)") : error.substr(error.find(".yaml:") + 6);
  };
  CHECK(fails("tracing:\n  mode: fast\n") ==
        "2: tracing.mode: must be one of off, system-only, hybrid, full-e2e");
  CHECK(fails("tracing:\n  sampling:\n    ratio: 1.5\n") ==
        "3: tracing.sampling.ratio: must be a number from 0 to 1");
  CHECK(fails("tracing:\n  sampling:\n    ratio: lots\n") ==
        "3: tracing.sampling.ratio: must be a number from 0 to 1");
  CHECK(fails("tracing:\n  mood: hybrid\n") == "2: tracing.mood: unknown key");
  CHECK(fails("api:\n  metrics_listen: [9400]\n") == "2: api.metrics_listen: must be a string");
  CHECK(fails("tracing:\n  sampling:\n    tail: {decision_wait: soon}\n") ==
        "3: tracing.sampling.tail.decision_wait: must be a duration such as 500ms, 5s or 1m");
  CHECK(fails("tracing:\n  sampling:\n    tail:\n      keep_errors: maybe\n") ==
        "4: tracing.sampling.tail.keep_errors: must be true or false");
  CHECK(fails("tracing:\n  sampling:\n    tail: {wait: 1s}\n") ==
        "3: tracing.sampling.tail.wait: unknown key");
  CHECK(fails("tracing: [1, 2]\n") == "1: tracing: must be a mapping");
  CHECK(fails("tracing:\n  mode: [off\n").starts_with("3: not YAML: "));
  CHECK(read_config_file("/nonexistent/ztrace.yaml", &error) == std::nullopt);
  CHECK(error == "/nonexistent/ztrace.yaml: cannot read the file");
}

TEST_CASE("config file: probes.java_agent turns the Java TLS agent off; errors name the key") {
  std::string error;
  auto off = read_config_file(write_config("java", "probes:\n  java_agent: false\n"), &error);
  INFO(error);
  REQUIRE(off);
  CHECK(off->java_agent == std::optional<bool>(false));
  auto absent = read_config_file(write_config("java_absent", "api:\n  listen: \"\"\n"), &error);
  REQUIRE(absent);
  CHECK(!absent->java_agent);
  const auto example = read_config_file(
      (fs::path(ZTRACE_TESTDATA_DIR) / "../../config/ztrace.example.yaml").string(), &error);
  CHECK((example && example->java_agent == std::optional<bool>(true)));
  error.clear();
  CHECK(!read_config_file(write_config("java_bad", "probes:\n  java_agent: maybe\n"), &error));
  CHECK(error.ends_with(":2: probes.java_agent: must be true or false"));
  CHECK(!read_config_file(write_config("java_key", "probes:\n  jvm: false\n"), &error));
  CHECK(error.ends_with(":2: probes.jvm: unknown key"));
}

TEST_CASE("sampling: tail settings from the config file; with them the head keeps every trace") {
  std::string error;
  const auto file = read_config_file(
      write_config("tail",
                   "tracing:\n  sampling:\n    ratio: 0.1\n    tail: {decision_wait: "
                   "1.5s, keep_errors: false, latency_threshold: 250ms}\n"),
      &error);
  INFO(error);
  REQUIRE(file);
  REQUIRE(file->tracing.tail);
  CHECK(file->tracing.tail->decision_wait_ns == 1'500'000'000);
  CHECK_FALSE(file->tracing.tail->keep_errors);
  CHECK(file->tracing.tail->latency_threshold_ns == 250'000'000);
  const TracingSettings settings = merge(file->tracing, {}, {});
  CHECK(threshold_of(settings) == 0);  // the ratio applies at the tail
  CHECK(settings.describe() ==
        "mode=hybrid ratio=0.1 tail(wait=1.5s keep_errors=false latency>=0.25s)");

  CHECK(ztrace::parse_duration_ns("5s") == 5'000'000'000);
  CHECK(ztrace::parse_duration_ns("1m") == 60'000'000'000);
  CHECK(ztrace::parse_duration_ns("250us") == 250'000);
  CHECK(ztrace::parse_duration_ns("5") == std::nullopt);
  CHECK(ztrace::parse_duration_ns("-1s") == std::nullopt);
  CHECK(ztrace::parse_duration_ns("s") == std::nullopt);
}

namespace {

spans::Span span_of(uint8_t trace, uint8_t span_number, spans::SpanKind kind, uint64_t duration_ns,
                    bool error = false) {
  spans::Span span;
  span.trace_id.fill(0);
  span.trace_id[15] = trace;  // the randomness (the last 7 bytes) is `trace`
  span.span_id.fill(0);
  span.span_id[7] = span_number;
  span.parent_span_id.fill(0);
  if (kind == spans::SpanKind::kClient) span.parent_span_id[7] = 1;  // child of span 1
  span.kind = kind;
  span.start_time_unix_nano = 1'000'000'000;
  span.end_time_unix_nano = span.start_time_unix_nano + duration_ns;
  if (error) span.status_code = spans::StatusCode::kError;
  return span;
}

std::multiset<int> traces_of(const std::vector<spans::Span>& kept) {
  std::multiset<int> traces;
  for (const auto& span : kept) traces.insert(span.trace_id[15]);
  return traces;
}

constexpr uint64_t kSecond = 1'000'000'000;

}  // namespace

TEST_CASE("tail sampling: whole traces kept for an error or a slow span, the rest by ratio") {
  const TailSettings settings{
      .decision_wait_ns = 2 * kSecond, .keep_errors = true, .latency_threshold_ns = kSecond / 2};
  // Randomness is the id's last 7 bytes: trace ids with byte 15 >= 200 pass this threshold.
  TailSampler sampler(settings, /*ratio_threshold=*/200);
  std::vector<spans::Span> kept;
  // Trace 1: a fast child with an error, its root fine. Trace 2: slow root. Trace 3: nothing
  // special, under the ratio. Trace 250: nothing special, kept by ratio.
  sampler.add(span_of(1, 2, spans::SpanKind::kClient, 1000, /*error=*/true), 0, &kept);
  sampler.add(span_of(1, 1, spans::SpanKind::kServer, 1000), 0, &kept);
  sampler.add(span_of(2, 1, spans::SpanKind::kServer, kSecond), 0, &kept);
  sampler.add(span_of(3, 2, spans::SpanKind::kClient, 1000), 0, &kept);
  sampler.add(span_of(3, 1, spans::SpanKind::kServer, 1000), 0, &kept);
  sampler.add(span_of(250, 1, spans::SpanKind::kServer, 1000), 0, &kept);
  CHECK(kept.empty());
  sampler.decide_due(kSecond, &kept);  // before the wait ends
  CHECK(kept.empty());
  CHECK(sampler.stats().spans_held == 6);
  sampler.decide_due(2 * kSecond, &kept);
  CHECK(traces_of(kept) == std::multiset<int>{1, 1, 2, 250});
  CHECK(sampler.stats().traces_kept_error == 1);
  CHECK(sampler.stats().traces_kept_latency == 1);
  CHECK(sampler.stats().traces_kept_ratio == 1);
  CHECK(sampler.stats().traces_dropped == 1);
  CHECK(sampler.stats().spans_held == 0);

  // Late spans follow their trace's decision.
  kept.clear();
  sampler.add(span_of(1, 3, spans::SpanKind::kClient, 1000), 3 * kSecond, &kept);
  sampler.add(span_of(3, 3, spans::SpanKind::kClient, 1000), 3 * kSecond, &kept);
  CHECK(traces_of(kept) == std::multiset<int>{1});
  CHECK(sampler.stats().late_spans_kept == 1);
  CHECK(sampler.stats().late_spans_dropped == 1);
}

TEST_CASE("tail sampling: a root restarts the wait; limits decide the oldest trace early") {
  const TailSettings settings{.decision_wait_ns = 2 * kSecond, .keep_errors = true};
  TailSampler sampler(settings, kMaxThreshold, TailLimits{.max_traces = 2, .max_spans = 100});
  std::vector<spans::Span> kept;
  sampler.add(span_of(1, 2, spans::SpanKind::kClient, 1000, /*error=*/true), 0, &kept);
  sampler.add(span_of(1, 1, spans::SpanKind::kServer, 1000), kSecond, &kept);  // wait until 3 s
  sampler.decide_due(2 * kSecond, &kept);
  CHECK(kept.empty());
  sampler.decide_due(3 * kSecond, &kept);
  CHECK(kept.size() == 2);

  kept.clear();
  sampler.add(span_of(5, 1, spans::SpanKind::kServer, 1000, true), 4 * kSecond, &kept);
  sampler.add(span_of(6, 1, spans::SpanKind::kServer, 1000), 4 * kSecond, &kept);
  CHECK(kept.empty());
  sampler.add(span_of(7, 1, spans::SpanKind::kServer, 1000), 4 * kSecond, &kept);  // a third
  CHECK(traces_of(kept) == std::multiset<int>{5});  // the oldest, decided at once: an error
  CHECK(sampler.stats().traces_decided_early == 1);
  CHECK(sampler.stats().traces_held == 2);
  sampler.reconfigure(settings, kMaxThreshold, &kept);  // a reload with the same settings
  CHECK(sampler.stats().traces_held == 2);
  sampler.decide_all(&kept);
  CHECK(sampler.stats().traces_dropped == 2);  // 6 and 7: no rule, ratio 0
  CHECK(sampler.stats().traces_held == 0);
}

TEST_CASE("tail sampling: latency thresholds per service and per route; the first rule wins") {
  std::string error;
  const auto file = read_config_file(
      write_config("latency_rules",
                   "tracing:\n  sampling:\n    ratio: 0\n    tail:\n      latency_threshold: 1s\n"
                   "      latency_rules:\n"
                   "        - {service: checkout, route: \"/api/fast/*\", threshold: 10ms}\n"
                   "        - {service: checkout, threshold: 100ms}\n"
                   "        - {route: \"/batch/*\", threshold: 0s}\n"),
      &error);
  INFO(error);
  REQUIRE((file && file->tracing.tail));
  const TailSettings settings = *file->tracing.tail;
  REQUIRE(settings.latency_rules.size() == 3);
  CHECK(settings.latency_rules[0].route == "/api/fast/*");
  CHECK(settings.latency_rules[1].threshold_ns == 100'000'000);
  CHECK(merge(file->tracing, {}, {}).describe() ==
        "mode=hybrid ratio=0 tail(wait=5s keep_errors=true latency>=1s +3 latency rules)");

  auto checkout = std::make_shared<spans::Resource>();
  checkout->attributes.push_back({ztrace::semconv::service::kServiceName, std::string("checkout")});
  auto cart = std::make_shared<spans::Resource>();
  cart->attributes.push_back({ztrace::semconv::service::kServiceName, std::string("cart")});
  const auto span = [](uint8_t trace, std::shared_ptr<spans::Resource> resource,
                       const std::string& path, uint64_t duration_ns) {
    spans::Span s = span_of(trace, 1, spans::SpanKind::kServer, duration_ns);
    s.resource = std::move(resource);
    s.set(ztrace::semconv::url::kUrlPath, path);
    return s;
  };
  TailSampler sampler(settings, kMaxThreshold);
  std::vector<spans::Span> kept;
  sampler.add(span(1, checkout, "/api/fast/x", 20'000'000), 0, &kept);  // 20 ms >= 10 ms
  sampler.add(span(2, checkout, "/api/slow", 50'000'000), 0, &kept);    // 50 ms < 100 ms
  sampler.add(span(3, checkout, "/api/slow", 150'000'000), 0, &kept);   // >= 100 ms
  sampler.add(span(4, cart, "/api/fast/x", 500'000'000), 0, &kept);     // global: < 1 s
  sampler.add(span(5, cart, "/batch/nightly", 5 * kSecond), 0, &kept);  // 0: no latency rule
  sampler.add(span(6, cart, "/api/other", 2 * kSecond), 0, &kept);      // global: >= 1 s
  sampler.decide_all(&kept);
  CHECK(traces_of(kept) == std::multiset<int>{1, 3, 6});
  CHECK(sampler.stats().traces_kept_latency == 3);

  const auto fails = [&](const std::string& rules) {
    error.clear();
    if (read_config_file(write_config("bad_rules",
                                      "tracing:\n  sampling:\n    tail:\n"
                                      "      latency_rules: " +
                                          rules + "\n"),
                         &error)) {
      return std::string("(accepted)");
    }
    return error.substr(error.find(".yaml:") + 6);
  };
  CHECK(fails("[{service: a}]") == "4: tracing.sampling.tail.latency_rules.threshold: is required");
  CHECK(fails("[{threshold: 1s}]") ==
        "4: tracing.sampling.tail.latency_rules: a rule needs a service, a route or both");
  CHECK(fails("[{service: a, threshold: soon}]") ==
        "4: tracing.sampling.tail.latency_rules.threshold: must be a duration such as 500ms, 5s "
        "or 1m");
  CHECK(fails("[{svc: a}]") == "4: tracing.sampling.tail.latency_rules.svc: unknown key");
  CHECK(fails("{service: a}") == "4: tracing.sampling.tail.latency_rules: must be a list of rules");
}

TEST_CASE("sampling: OTEL_TRACES_SAMPLER, and the flags over the environment over the file") {
  std::string error;
  auto env = read_sampler_env(
      {{"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "0.2"}},
      &error);
  REQUIRE(env);
  CHECK(env->mode == TracingMode::kHybrid);
  CHECK(env->ratio == 0.2);
  CHECK(read_sampler_env({{"OTEL_TRACES_SAMPLER", "always_on"}}, &error)->mode ==
        TracingMode::kFullE2e);
  CHECK(read_sampler_env({{"OTEL_TRACES_SAMPLER", "always_off"}}, &error)->ratio == 0.0);
  CHECK_FALSE(read_sampler_env({{"OTEL_TRACES_SAMPLER", "jaeger_remote"}}, &error));
  CHECK_FALSE(read_sampler_env(
      {{"OTEL_TRACES_SAMPLER", "traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "half"}}, &error));
  CHECK(error == "OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1, not 'half'");

  const SettingsLayer file{TracingMode::kOff, 0.5};
  const SettingsLayer from_env{std::nullopt, 0.2};
  const SettingsLayer flags{TracingMode::kHybrid, std::nullopt};
  CHECK(merge(file, from_env, flags) == TracingSettings{TracingMode::kHybrid, 0.2});
  CHECK(merge({}, {}, {}) == TracingSettings{TracingMode::kHybrid, 1.0});
}

// The Collector example is checked for its structure only: no Collector runs here.
TEST_CASE("sampling: the Collector tail-sampling example routes by trace id to tail_sampling") {
  const auto documents = YAML::LoadAllFromFile(
      (fs::path(ZTRACE_TESTDATA_DIR) / "../../config/otelcol-tail-sampling.example.yaml").string());
  REQUIRE(documents.size() == 2);
  const YAML::Node& router = documents[0];
  CHECK(router["exporters"]["loadbalancing"]["routing_key"].as<std::string>() == "traceID");
  CHECK(router["service"]["pipelines"]["traces"]["exporters"][0].as<std::string>() ==
        "loadbalancing");
  CHECK(router["receivers"]["otlp"]["protocols"]["http"]["endpoint"].as<std::string>() ==
        "0.0.0.0:4318");  // the agents' --otlp-protocol http/protobuf
  const YAML::Node& sampler = documents[1];
  const YAML::Node policies = sampler["processors"]["tail_sampling"]["policies"];
  REQUIRE(policies.size() == 3);
  CHECK(policies[0]["status_code"]["status_codes"][0].as<std::string>() == "ERROR");
  CHECK(policies[1]["latency"]["threshold_ms"].as<int>() == 1000);
  CHECK(policies[2]["probabilistic"]["sampling_percentage"].as<int>() == 10);
  CHECK(sampler["service"]["pipelines"]["traces"]["processors"][0].as<std::string>() ==
        "tail_sampling");
}

TEST_CASE("sampling: the threshold in tracestate (ot=th), trailing zeros removed") {
  CHECK(th_tracestate(threshold_for_ratio(1.0)) == "ot=th:0");
  CHECK(th_tracestate(threshold_for_ratio(0.5)) == "ot=th:8");
  CHECK(th_tracestate(threshold_for_ratio(0.25)) == "ot=th:c");
  CHECK(th_tracestate(threshold_for_ratio(0.1)) == "ot=th:e6666666666666");
  CHECK(th_tracestate(threshold_for_ratio(0.01)) == "ot=th:fd70a3d70a3d71");
}
