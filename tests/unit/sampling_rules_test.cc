// On-demand sampling rules: the request bodies of the control API, the rule book, and the
// per-process thresholds they give (what reaches the kernel map and the pipeline).

#include "userspace/sampling/sampling_rules.h"

#include <catch2/catch_test_macros.hpp>
#include <map>
#include <optional>
#include <string>

#include "userspace/sampling/process_sampling.h"
#include "userspace/sampling/tracing_settings.h"

using namespace ztrace::sampling;
namespace spans = ztrace::spans;

namespace {

constexpr uint64_t kSecond = 1'000'000'000;

spans::Resource resource(const std::string& service, const std::string& container = "",
                         const std::string& ns = "", const std::string& pod = "") {
  spans::Resource r;
  r.attributes.push_back({"service.name", service});
  if (!container.empty()) r.attributes.push_back({"container.id", container});
  if (!ns.empty()) r.attributes.push_back({"k8s.namespace.name", ns});
  if (!pod.empty()) r.attributes.push_back({"k8s.pod.name", pod});
  return r;
}

// What the sink was told: the kernel map's contents and its in-use flag.
struct FakeKernel {
  std::map<uint32_t, uint64_t> thresholds;
  bool in_use = false;
  RunningProcesses running;
  int scans = 0;

  ProcessThresholdSink sink() {
    return {[this](uint32_t pid, std::optional<uint64_t> threshold) {
              if (threshold) {
                thresholds[pid] = *threshold;
              } else {
                thresholds.erase(pid);
              }
            },
            [this](bool on) { in_use = on; },
            [this] {
              ++scans;
              return running;
            }};
  }
};

}  // namespace

TEST_CASE("sampling rules: enable requests, with every selector and the defaults") {
  std::string error;
  auto request =
      parse_enable_request(R"({"service": "checkout", "rate": 1.0, "duration": "10m"})", &error);
  REQUIRE(request);
  CHECK(request->selector.service == "checkout");
  CHECK(request->rate == 1.0);
  CHECK(request->duration_ns == 600 * kSecond);

  request = parse_enable_request(R"({"pid": 42})", &error);
  REQUIRE(request);
  CHECK(request->selector.pid == 42u);
  CHECK(request->rate == 1.0);
  CHECK(request->duration_ns == kDefaultRuleDurationNs);

  request = parse_enable_request(
      R"({"k8s.namespace.name": "shop", "k8s.pod.name": "cart-1", "rate": 0.25, "duration": "90s"})",
      &error);
  REQUIRE(request);
  CHECK(request->selector.k8s_namespace == "shop");
  CHECK(request->selector.k8s_pod == "cart-1");
  CHECK(request->rate == 0.25);
  CHECK(request->duration_ns == 90 * kSecond);

  request = parse_enable_request(R"({"container_id": "abc123"})", &error);
  REQUIRE(request);
  CHECK(request->selector.container_id == "abc123");
}

TEST_CASE("sampling rules: bad requests are refused with the reason") {
  const std::map<std::string, std::string> bad = {
      {"", "not a JSON object"},
      {"[1]", "not a JSON object"},
      {R"({"service": "a")", "not a JSON object"},
      {"{}", "no selector"},
      {R"({"rate": 1})", "no selector"},
      {R"({"service": ""})", "service: a non-empty string"},
      {R"({"service": 3})", "service: a non-empty string"},
      {R"({"pid": -1})", "pid: a positive integer"},
      {R"({"pid": 0})", "pid: a positive integer"},
      {R"({"pid": 99999999999})", "pid: a positive integer"},
      {R"({"service": "a", "rate": 1.5})", "rate: a number in [0, 1]"},
      {R"({"service": "a", "rate": "1"})", "rate: a number in [0, 1]"},
      {R"({"service": "a", "duration": "forever"})", "duration:"},
      {R"({"service": "a", "duration": "0s"})", "duration:"},
      {R"({"service": "a", "duration": "25h"})", "duration:"},
      {R"({"service": "a", "duration": 600})", "duration:"},
      {R"({"k8s.pod.name": "p"})", "go together"},
      {R"({"service": "a", "sevice": "b"})", "unknown key 'sevice'"},
  };
  for (const auto& [body, reason] : bad) {
    INFO(body);
    std::string error;
    CHECK_FALSE(parse_enable_request(body, &error));
    CHECK(error.find(reason) != std::string::npos);
  }
  std::string error;
  CHECK_FALSE(parse_disable_request("{}", &error));
  CHECK(error.find("id") != std::string::npos);
  CHECK_FALSE(parse_disable_request(R"({"id": "one"})", &error));
  auto by_id = parse_disable_request(R"({"id": 7})", &error);
  REQUIRE(by_id);
  CHECK(by_id->id == 7u);
  auto by_selector = parse_disable_request(R"({"service": "checkout"})", &error);
  REQUIRE(by_selector);
  CHECK_FALSE(by_selector->id);
  CHECK(by_selector->selector.service == "checkout");
}

TEST_CASE("sampling rules: a selector matches on every field it sets") {
  const ProcessIdentity cart = identity_of(10, resource("cart", "c0ffee", "shop", "cart-1"));
  CHECK(cart.service == "cart");
  CHECK(RuleSelector{.service = "cart"}.matches(cart));
  CHECK(RuleSelector{.pid = 10}.matches(cart));
  CHECK_FALSE(RuleSelector{.pid = 11}.matches(cart));
  CHECK(RuleSelector{.container_id = "c0ffee"}.matches(cart));
  CHECK(RuleSelector{.k8s_namespace = "shop", .k8s_pod = "cart-1"}.matches(cart));
  CHECK_FALSE(RuleSelector{.k8s_namespace = "other", .k8s_pod = "cart-1"}.matches(cart));
  CHECK_FALSE(RuleSelector{.service = "cart", .pid = 11}.matches(cart));
  CHECK_FALSE(RuleSelector{}.matches(cart));  // an empty selector selects nothing
}

TEST_CASE("sampling rules: the book gives the highest rate, expires, disables, and is bounded") {
  RuleBook book;
  std::string error;
  const auto a = book.add(
      {.selector = {.service = "cart"}, .rate = 0.5, .duration_ns = 10 * kSecond}, 0, &error);
  const auto b =
      book.add({.selector = {.pid = 10}, .rate = 1.0, .duration_ns = 20 * kSecond}, 0, &error);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->id != b->id);
  const ProcessIdentity cart10 = identity_of(10, resource("cart"));
  const ProcessIdentity cart11 = identity_of(11, resource("cart"));
  CHECK(book.rate_for(cart10) == 1.0);
  CHECK(book.rate_for(cart11) == 0.5);
  CHECK_FALSE(book.rate_for(identity_of(12, resource("shop"))));
  CHECK(rule_json(*a, 4 * kSecond) ==
        R"({"id":1,"selector":{"service":"cart"},"rate":0.5,"expires_in_s":6})");

  CHECK(book.expire(10 * kSecond - 1).empty());
  const auto expired = book.expire(10 * kSecond);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].id == a->id);
  CHECK_FALSE(book.rate_for(cart11));

  CHECK(book.remove({.id = 999}).empty());
  CHECK(book.remove({.selector = {.service = "cart"}}).empty());  // b's selector is the pid
  CHECK(book.remove({.id = b->id}).size() == 1);
  CHECK(book.rules().empty());

  for (size_t i = 0; i < RuleBook::kMaxRules; ++i) {
    REQUIRE(book.add({.selector = {.pid = 1}}, 0, &error));
  }
  CHECK_FALSE(book.add({.selector = {.pid = 1}}, 0, &error));
  CHECK(error.find("at most") != std::string::npos);
  CHECK(book.remove({.selector = {.pid = 1}}).size() == RuleBook::kMaxRules);
}

TEST_CASE("process sampling: a rule gives its processes their own threshold, then ends") {
  FakeKernel kernel;
  kernel.running = {{10, std::make_shared<spans::Resource>(resource("checkout"))},
                    {11, std::make_shared<spans::Resource>(resource("cart"))}};
  ProcessSampling sampling(kernel.sink());
  sampling.set_active(true);
  CHECK_FALSE(sampling.threshold_for(10));

  std::string error;
  const auto rule = sampling.enable(
      {.selector = {.service = "checkout"}, .rate = 1.0, .duration_ns = 60 * kSecond}, 0, &error);
  REQUIRE(rule);
  CHECK(kernel.scans == 1);  // processes running before any span of theirs are selected too
  CHECK(kernel.in_use);
  CHECK(kernel.thresholds == std::map<uint32_t, uint64_t>{{10, 0}});
  CHECK(sampling.threshold_for(10) == 0u);
  CHECK_FALSE(sampling.threshold_for(11));

  // A process that starts later is selected when the pipeline first sees it.
  sampling.on_process(12, resource("checkout"));
  CHECK(kernel.thresholds == std::map<uint32_t, uint64_t>{{10, 0}, {12, 0}});
  sampling.on_exit(12);
  CHECK(kernel.thresholds == std::map<uint32_t, uint64_t>{{10, 0}});

  // Out of hybrid mode the rule stays, unapplied; back in, applied again.
  sampling.set_active(false);
  CHECK(kernel.thresholds.empty());
  CHECK_FALSE(kernel.in_use);
  CHECK(sampling.rules().size() == 1);
  sampling.set_active(true);
  CHECK(kernel.thresholds.size() == 1);

  sampling.tick(60 * kSecond - 1);
  CHECK(kernel.thresholds.size() == 1);
  sampling.tick(60 * kSecond);  // expired on time
  CHECK(kernel.thresholds.empty());
  CHECK_FALSE(kernel.in_use);
  CHECK(sampling.rules().empty());
  CHECK_FALSE(sampling.threshold_for(10));
}

TEST_CASE("process sampling: disable by id or selector; the highest rate wins") {
  FakeKernel kernel;
  kernel.running = {{20, std::make_shared<spans::Resource>(resource("api", "ctr"))}};
  ProcessSampling sampling(kernel.sink());
  sampling.set_active(true);
  std::string error;
  const auto low = sampling.enable({.selector = {.service = "api"}, .rate = 0.25}, 0, &error);
  const auto high = sampling.enable({.selector = {.container_id = "ctr"}, .rate = 0.5}, 0, &error);
  REQUIRE(low);
  REQUIRE(high);
  CHECK(kernel.thresholds.at(20) == threshold_for_ratio(0.5));
  CHECK(sampling.disable({.id = high->id}, 0).size() == 1);
  CHECK(kernel.thresholds.at(20) == threshold_for_ratio(0.25));
  CHECK(sampling.disable({.selector = {.service = "nope"}}, 0).empty());
  CHECK(sampling.disable({.selector = {.service = "api"}}, 0).size() == 1);
  CHECK(kernel.thresholds.empty());
  CHECK(sampling.processes_with_own_threshold() == 0);
}
