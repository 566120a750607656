// Adaptive sampling: per-service windows (p95 latency, error rate), boosts and recoveries, the
// export budget, the config keys, and boosts reaching the per-process thresholds.

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "userspace/sampling/adaptive_sampler.h"
#include "userspace/sampling/adaptive_stage.h"
#include "userspace/sampling/process_sampling.h"
#include "userspace/sampling/settings_sources.h"

using namespace ztrace::sampling;
namespace spans = ztrace::spans;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSecond = 1'000 * kMs;

AdaptiveSettings settings() {
  AdaptiveSettings s;
  s.latency_threshold_ns = 100 * kMs;
  s.error_rate_threshold = 0.2;
  s.rate = 1.0;
  s.window_ns = 6 * kSecond;  // slices of 1 s
  return s;
}

spans::Span server_span(const std::string& service, uint64_t end_ns, uint64_t duration_ns,
                        bool error = false, uint8_t id = 1) {
  spans::Span span;
  span.kind = spans::SpanKind::kServer;
  span.trace_id[15] = id;
  span.end_time_unix_nano = end_ns;
  span.start_time_unix_nano = end_ns - duration_ns;
  span.status_code = error ? spans::StatusCode::kError : spans::StatusCode::kUnset;
  auto resource = std::make_shared<spans::Resource>();
  resource->attributes.push_back({"service.name", service});
  span.resource = resource;
  return span;
}

}  // namespace

TEST_CASE("adaptive: the latency histogram is log scale, 4 buckets per octave") {
  CHECK(AdaptiveSampler::bucket_of(0) == 0);
  CHECK(AdaptiveSampler::bucket_of(1'000) == 0);
  CHECK(AdaptiveSampler::bucket_of(2'000) == 4);
  CHECK(AdaptiveSampler::bucket_of(1'024'000) == 40);
  CHECK(AdaptiveSampler::bucket_of(UINT64_MAX) == AdaptiveSampler::kBuckets - 1);
  for (uint64_t ns : {uint64_t{5'000}, 150 * kMs, 3 * kSecond}) {
    const uint64_t middle = AdaptiveSampler::bucket_middle_ns(AdaptiveSampler::bucket_of(ns));
    CHECK(middle > ns * 0.8);  // within a bucket's width (19%)
    CHECK(middle < ns * 1.2);
  }
}

TEST_CASE("adaptive: a slow service is boosted, then recovers when its window is fast again") {
  AdaptiveSampler sampler(settings());
  uint64_t now = 1'000 * kSecond;
  // 19 slow requests: under kMinRequests, no decision yet.
  for (int i = 0; i < 19; ++i) sampler.observe("api", 300 * kMs, false, now);
  sampler.observe("web", 5 * kMs, false, now);
  CHECK_FALSE(sampler.evaluate(now));
  sampler.observe("api", 300 * kMs, false, now);
  CHECK(sampler.evaluate(now));
  CHECK(sampler.boosts() == std::map<std::string, double>{{"api", 1.0}});
  CHECK(sampler.stats().boosts == 1);
  CHECK(sampler.stats().boosted_services == 1);
  const auto health = sampler.health(now);
  REQUIRE(health.size() == 2);
  CHECK(health[0].service == "api");
  CHECK(health[0].requests == 20);
  CHECK(health[0].p95_ns > 250 * kMs);
  CHECK(health[0].boosted);

  // Fast traffic for a while: the slow slice is still in the window, so still boosted.
  for (int s = 1; s <= 4; ++s) {
    for (int i = 0; i < 100; ++i) sampler.observe("api", 2 * kMs, false, now + s * kSecond);
  }
  // 20 slow of 420: p95 is fast already (the slow ones are under 5%).
  CHECK(sampler.evaluate(now + 4 * kSecond));
  CHECK(sampler.boosts().empty());
  CHECK(sampler.stats().recoveries == 1);
}

TEST_CASE("adaptive: errors over the threshold boost; an idle service is forgotten") {
  AdaptiveSampler sampler(settings());
  const uint64_t now = 50 * kSecond;
  for (int i = 0; i < 30; ++i) sampler.observe("pay", 1 * kMs, i % 3 == 0, now);  // 33% errors
  CHECK(sampler.evaluate(now));
  CHECK(sampler.boosts().count("pay"));
  // Nothing for a whole window: recovered, then forgotten.
  CHECK(sampler.evaluate(now + 7 * kSecond));
  CHECK(sampler.boosts().empty());
  CHECK_FALSE(sampler.evaluate(now + 8 * kSecond));
  CHECK(sampler.health(now + 8 * kSecond).empty());
}

TEST_CASE("adaptive: services are bounded") {
  AdaptiveSampler sampler(settings());
  for (size_t i = 0; i < AdaptiveSampler::kMaxServices + 5; ++i) {
    sampler.observe("s" + std::to_string(i), kMs, false, kSecond);
  }
  CHECK(sampler.stats().untracked_spans == 5);
  CHECK(sampler.health(kSecond).size() == AdaptiveSampler::kMaxServices);
}

TEST_CASE("adaptive: the export budget admits N traces a second; a trace's spans follow") {
  TraceBudget budget(2);
  spans::TraceId a{}, b{}, c{};
  a[15] = 1;
  b[15] = 2;
  c[15] = 3;
  const uint64_t t = 10 * kSecond;
  CHECK(budget.admit(a, t));
  CHECK(budget.admit(b, t + 1));
  CHECK_FALSE(budget.admit(c, t + 2));
  CHECK(budget.admit(a, t + 3));              // a's later span
  CHECK_FALSE(budget.admit(c, t + kSecond));  // c stays refused in the next second
  CHECK(budget.traces_refused() == 1);
  CHECK(budget.spans_refused() == 2);
  spans::TraceId d{};
  d[15] = 4;
  CHECK(budget.admit(d, t + kSecond));  // a new second, new slots
}

TEST_CASE("adaptive: the stage observes every SERVER span and hands boosts to the listener") {
  std::map<std::string, double> boosts;
  int calls = 0;
  AdaptiveStage stage([&](const std::map<std::string, double>& b) {
    boosts = b;
    ++calls;
  });
  const uint64_t now = 100 * kSecond;
  for (int i = 0; i < 25; ++i) stage.observe(server_span("api", now, 400 * kMs));  // off: ignored
  stage.tick(now);
  CHECK(calls == 0);
  CHECK_FALSE(stage.snapshot(now).enabled);

  auto s = settings();
  s.max_traces_per_second = 1;
  stage.configure(s);
  for (int i = 0; i < 25; ++i) stage.observe(server_span("api", now, 400 * kMs));
  stage.tick(now);
  CHECK(calls == 1);
  CHECK(boosts == std::map<std::string, double>{{"api", 1.0}});
  CHECK(stage.admit(server_span("api", now, kMs, false, 1)));
  CHECK_FALSE(stage.admit(server_span("api", now, kMs, false, 2)));
  const AdaptiveSnapshot snapshot = stage.snapshot(now);
  CHECK(snapshot.enabled);
  CHECK(snapshot.stats.boosted_services == 1);
  CHECK(snapshot.budget_traces_refused == 1);

  stage.configure(std::nullopt);  // off: the boosts end at once
  stage.tick(now + kSecond);
  CHECK(calls == 2);
  CHECK(boosts.empty());
  CHECK(stage.admit(server_span("api", now, kMs, false, 3)));
}

TEST_CASE("adaptive: boosts give the service's processes the adaptive rate") {
  std::map<uint32_t, uint64_t> kernel;
  ProcessSampling sampling({[&](uint32_t pid, std::optional<uint64_t> threshold) {
                              if (threshold) {
                                kernel[pid] = *threshold;
                              } else {
                                kernel.erase(pid);
                              }
                            },
                            [](bool) {},
                            [] {
                              auto r = std::make_shared<spans::Resource>();
                              r->attributes.push_back({"service.name", std::string("api")});
                              return RunningProcesses{{7, r}};
                            }});
  sampling.set_active(true);
  sampling.set_service_boosts({{"api", 0.5}});
  CHECK(kernel == std::map<uint32_t, uint64_t>{{7, threshold_for_ratio(0.5)}});
  sampling.set_service_boosts({});
  CHECK(kernel.empty());
}

TEST_CASE("adaptive: config keys, as the issue's contract writes them") {
  const fs::path path = fs::temp_directory_path() / "ztrace-adaptive-test.yaml";
  const auto read = [&](const std::string& yaml, std::string* error) {
    std::ofstream(path, std::ios::trunc) << yaml;
    return read_config_file(path.string(), error);
  };
  std::string error;
  auto file = read(
      "tracing:\n  sampling:\n    adaptive: {enabled: true, latency_threshold: 500ms, rate: 1.0, "
      "max_traces_per_second: 100}\n",
      &error);
  INFO(error);
  REQUIRE(file);
  REQUIRE(file->tracing.adaptive);
  REQUIRE(*file->tracing.adaptive);
  const AdaptiveSettings& a = **file->tracing.adaptive;
  CHECK(a.latency_threshold_ns == 500 * kMs);
  CHECK(a.rate == 1.0);
  CHECK(a.max_traces_per_second == 100);
  CHECK(a.window_ns == 30 * kSecond);
  CHECK(merge(file->tracing, {}, {}).adaptive == a);

  file = read("tracing:\n  sampling:\n    adaptive: {enabled: false, rate: 0.5}\n", &error);
  REQUIRE(file);
  CHECK(file->tracing.adaptive);
  CHECK_FALSE(*file->tracing.adaptive);

  CHECK_FALSE(read("tracing:\n  sampling:\n    adaptive: {rate: 2}\n", &error));
  CHECK(error.find(":3: tracing.sampling.adaptive.rate: must be a number from 0 to 1") !=
        std::string::npos);
  CHECK_FALSE(read("tracing:\n  sampling:\n    adaptive: {window: 10ms}\n", &error));
  CHECK(error.find("tracing.sampling.adaptive.window: must be a duration of 1s or more") !=
        std::string::npos);
  CHECK_FALSE(read("tracing:\n  sampling:\n    adaptive: {latency: 1s}\n", &error));
  CHECK(error.find("tracing.sampling.adaptive.latency: unknown key") != std::string::npos);
}
