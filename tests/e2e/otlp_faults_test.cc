// OTLP export when the backend misbehaves: absent at start, killed and restarted, slow,
// answering retryable and non-retryable errors. Nothing may be lost silently: every span the
// agent built is either received exactly once or counted as dropped with its reason, and the
// tracing itself (the JSON lines output) never waits for the backend.
#include <catch2/catch_test_macros.hpp>
#include <set>

#include "tests/e2e/harness.h"
#include "tests/e2e/otlp_support.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

// `count` GET requests on one keep-alive connection: 2 * count spans.
void make_requests(const fs::path& dir, int port, std::string_view tag, int count) {
  std::vector<CurlRequest> requests;
  for (int i = 0; i < count; ++i) {
    requests.push_back({url(port, "/ok/" + std::string(tag) + std::to_string(i))});
  }
  const auto lines = parse_curl_output(must_run(dir, curl_command(requests)));
  REQUIRE(lines.size() == static_cast<size_t>(count));
}

size_t jsonl_lines(const Agent& agent) {
  return fs::exists(agent.jsonl_path()) ? count_lines(read_file(agent.jsonl_path())) : 0;
}

// Waits for an "otlp:" counter line (--stats-interval 1) that satisfies `predicate`.
template <typename Predicate>
std::map<std::string, uint64_t> wait_for_counters(const Agent& agent, Predicate predicate,
                                                  std::chrono::milliseconds timeout = 15s) {
  std::map<std::string, uint64_t> counters;
  wait_until(
      [&] {
        counters = last_otlp_counters(agent.log());
        return !counters.empty() && predicate(counters);
      },
      timeout);
  return counters;
}

std::vector<std::string> otlp_args(const std::string& endpoint, std::vector<std::string> more) {
  std::vector<std::string> args = {"--otlp-endpoint",  endpoint, "--otlp-batch-delay-ms", "50",
                                   "--stats-interval", "1"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::string http_endpoint(int port) { return "http://127.0.0.1:" + std::to_string(port); }

}  // namespace

TEST_CASE("otlp fault: receiver absent at start, then it appears and gets everything",
          "[e2e][otlp][otlp-faults]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24410);
  const int http_port = reserve_port(24411);
  const auto dir = fresh_dir("otlp_absent");
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port}, .extra_args = otlp_args(http_endpoint(http_port), {})});
  make_requests(dir, port, "a", 3);
  // The spans are built and written at once; the export fails and waits.
  REQUIRE(wait_until([&] { return jsonl_lines(agent) == 6; }, 10s));
  const auto failing =
      wait_for_counters(agent, [](const auto& c) { return c.at("requests.failed") >= 1; });
  INFO("agent log:\n" << agent.log_tail());
  CHECK(failing.at("requests.failed") >= 1);
  Receiver receiver(dir, {.http_port = http_port});
  const bool delivered = wait_until([&] { return receiver.spans().size() >= 6; }, 15s);
  CHECK(delivered);
  const std::vector<Span> expected = stop_and_collect(agent);
  check_same_spans(receiver.spans(), expected);
  const auto counters = last_otlp_counters(agent.log());
  INFO(describe(counters));
  CHECK(counters.at("spans.exported") == 6);
  CHECK(counters.at("requests.retries") >= 1);
  CHECK(counters.at("spans.dropped.queue_full") + counters.at("spans.dropped.retries_exhausted") +
            counters.at("spans.dropped.shutdown") ==
        0);
}

TEST_CASE(
    "otlp fault: receiver killed mid-run and restarted: the queue bound is delivered "
    "once, the rest counted as dropped",
    "[e2e][otlp][otlp-faults]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24412);
  const auto dir = fresh_dir("otlp_restart");
  Process server = start_python_server(dir, port);
  auto receiver = std::make_unique<Receiver>(dir, Receiver::Options{.grpc_port = Receiver::kAuto});
  const int grpc_port = receiver->grpc_port();  // the restarted one listens there again
  constexpr int kQueueSpans = 10;
  Agent agent(dir, {.ports = {port},
                    .extra_args = otlp_args(http_endpoint(grpc_port),
                                            {"--otlp-protocol", "grpc", "--otlp-queue-spans",
                                             std::to_string(kQueueSpans)})});
  make_requests(dir, port, "before", 2);
  REQUIRE(wait_until([&] { return receiver->spans().size() == 4; }, 10s));
  // Every answer is back before the kill (no retry may duplicate what was received).
  wait_for_counters(agent, [](const auto& c) { return c.at("spans.exported") == 4; });
  receiver->kill();

  make_requests(dir, port, "during", 12);  // 24 spans while nobody receives
  REQUIRE(wait_until([&] { return jsonl_lines(agent) == 28; }, 10s));
  const auto held = wait_for_counters(agent, [](const auto& c) {
    return c.at("spans.queued") == 4 + kQueueSpans && c.at("requests.failed") >= 1;
  });
  INFO("agent log:\n" << agent.log_tail());
  CHECK(held.at("queue.spans") == kQueueSpans);
  CHECK(held.at("spans.dropped.queue_full") == 24 - kQueueSpans);

  receiver = std::make_unique<Receiver>(dir, Receiver::Options{.grpc_port = grpc_port});
  // The new receiver appends to the same file: 4 before, then the 10 held.
  CHECK(wait_until([&] { return receiver->spans().size() >= 4 + kQueueSpans; }, 15s));
  wait_for_counters(agent, [](const auto& c) { return c.at("queue.spans") == 0; });
  const std::vector<Span> jsonl = stop_and_collect(agent);
  REQUIRE(jsonl.size() == 28);
  // The spans that got into the queue are the first 10 built after the kill, in order.
  std::vector<Span> expected(jsonl.begin(), jsonl.begin() + 4 + kQueueSpans);
  check_same_spans(receiver->spans(), expected);
  const auto counters = last_otlp_counters(agent.log());
  INFO(describe(counters));
  CHECK(counters.at("spans.exported") == 4 + kQueueSpans);
  CHECK(counters.at("spans.dropped.queue_full") == 24 - kQueueSpans);
  CHECK(counters.at("spans.dropped.shutdown") + counters.at("spans.dropped.retries_exhausted") +
            counters.at("spans.dropped.export_error") ==
        0);
}

TEST_CASE("otlp fault: a slow receiver never slows the tracing; the queue bound holds",
          "[e2e][otlp][otlp-faults]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24414);
  const auto dir = fresh_dir("otlp_slow");
  Process server = start_python_server(dir, port);
  Receiver receiver(dir, {.http_port = Receiver::kAuto, .extra_args = {"--delay-ms", "700"}});
  const int http_port = receiver.http_port();
  constexpr int kQueueSpans = 8;
  Agent agent(dir, {.ports = {port},
                    .extra_args = otlp_args(http_endpoint(http_port),
                                            {"--otlp-queue-spans", std::to_string(kQueueSpans)})});
  const auto start = std::chrono::steady_clock::now();
  make_requests(dir, port, "s", 30);
  // All 60 spans are built and written while the receiver would need seconds per batch.
  const bool written = wait_until([&] { return jsonl_lines(agent) == 60; }, 5s);
  CHECK(written);
  CHECK(std::chrono::steady_clock::now() - start < 4s);
  // The queue drains at the receiver's pace.
  wait_for_counters(agent, [](const auto& c) {
    return c.at("queue.spans") == 0 &&
           c.at("spans.queued") + c.at("spans.dropped.queue_full") == 60;
  });
  INFO("agent log:\n" << agent.log_tail());
  const std::vector<Span> jsonl = stop_and_collect(agent);
  REQUIRE(jsonl.size() == 60);
  const auto counters = last_otlp_counters(agent.log());
  INFO(describe(counters));
  const std::vector<Span> received = receiver.spans();
  CHECK(received.size() == counters.at("spans.exported"));
  CHECK(counters.at("spans.exported") == counters.at("spans.queued"));
  CHECK(counters.at("spans.queued") + counters.at("spans.dropped.queue_full") == 60);
  CHECK(counters.at("spans.dropped.queue_full") > 0);
  CHECK(counters.at("spans.queued") >= kQueueSpans);
  // Every received span is one the agent built, once.
  std::set<std::string> built, seen;
  for (const Span& span : jsonl) built.insert(span.span_id);
  for (const Span& span : received) {
    CHECK(built.count(span.span_id) == 1);
    CHECK(seen.insert(span.span_id).second);
  }
  // A request never held more spans than the bound.
  for (const auto& request : receiver.requests()) CHECK(request.value("spans", 0) <= kQueueSpans);
}

TEST_CASE("otlp fault: retryable errors are retried (Retry-After honoured) and delivered once",
          "[e2e][otlp][otlp-faults]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24416);
  const auto dir = fresh_dir("otlp_retryable");
  Process server = start_python_server(dir, port);
  SECTION("HTTP 503 with Retry-After: 1, twice") {
    Receiver receiver(dir, {.http_port = Receiver::kAuto,
                            .extra_args = {"--http-fail-status", "503", "--fail-count", "2",
                                           "--retry-after-s", "1"}});
    Agent agent(
        dir, {.ports = {port}, .extra_args = otlp_args(http_endpoint(receiver.http_port()), {})});
    make_requests(dir, port, "r", 2);
    REQUIRE(wait_until([&] { return receiver.spans().size() >= 4; }, 15s));
    const std::vector<Span> jsonl = stop_and_collect(agent);
    INFO("agent log:\n" << agent.log_tail());
    check_same_spans(receiver.spans(), jsonl);
    const auto requests = receiver.requests();
    REQUIRE(requests.size() >= 3);
    CHECK(requests[0].value("answer", "") == "HTTP 503");
    CHECK(requests[1].value("answer", "") == "HTTP 503");
    CHECK(requests[2].value("answer", "") == "ok");
    const auto counters = last_otlp_counters(agent.log());
    INFO(describe(counters));
    CHECK(counters.at("requests.retries") == 2);
    CHECK(counters.at("requests.failed") == 2);
    CHECK(counters.at("spans.exported") == 4);
    // Two waits of at least the server's 1 s: the slowest latency bucket is not the point,
    // the timeline is: the agent kept quiet for >= 2 s between first and third attempt.
    CHECK(count_occurrences(agent.log(), "HTTP 503") >= 1);
  }
  SECTION("gRPC UNAVAILABLE, twice") {
    Receiver receiver(dir, {.grpc_port = Receiver::kAuto,
                            .extra_args = {"--grpc-fail-code", "14", "--fail-count", "2"}});
    Agent agent(dir, {.ports = {port},
                      .extra_args = otlp_args(http_endpoint(receiver.grpc_port()),
                                              {"--otlp-protocol", "grpc"})});
    make_requests(dir, port, "q", 2);
    REQUIRE(wait_until([&] { return receiver.spans().size() >= 4; }, 15s));
    const std::vector<Span> jsonl = stop_and_collect(agent);
    INFO("agent log:\n" << agent.log_tail());
    check_same_spans(receiver.spans(), jsonl);
    const auto counters = last_otlp_counters(agent.log());
    INFO(describe(counters));
    CHECK(counters.at("requests.retries") == 2);
    CHECK(counters.at("spans.exported") == 4);
  }
  SECTION("gRPC RESOURCE_EXHAUSTED with RetryInfo, once") {
    Receiver receiver(dir, {.grpc_port = Receiver::kAuto,
                            .extra_args = {"--grpc-fail-code", "8", "--fail-count", "1",
                                           "--retry-after-s", "1"}});
    Agent agent(dir, {.ports = {port},
                      .extra_args = otlp_args(http_endpoint(receiver.grpc_port()),
                                              {"--otlp-protocol", "grpc"})});
    make_requests(dir, port, "e", 2);
    REQUIRE(wait_until([&] { return receiver.spans().size() >= 4; }, 15s));
    const std::vector<Span> jsonl = stop_and_collect(agent);
    INFO("agent log:\n" << agent.log_tail());
    check_same_spans(receiver.spans(), jsonl);
    const auto counters = last_otlp_counters(agent.log());
    INFO(describe(counters));
    CHECK(counters.at("requests.retries") == 1);
    CHECK(counters.at("spans.exported") == 4);
  }
}

TEST_CASE("otlp fault: non-retryable errors drop at once, counted, logged once per interval",
          "[e2e][otlp][otlp-faults]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24419);
  const auto dir = fresh_dir("otlp_permanent");
  Process server = start_python_server(dir, port);
  struct Case {
    std::string name;
    bool grpc;
    std::vector<std::string> fail_args;
    std::string log_text;
  };
  const Case cases[] = {
      {"HTTP 400", false, {"--http-fail-status", "400"}, "HTTP 400"},
      {"gRPC INVALID_ARGUMENT", true, {"--grpc-fail-code", "3"}, "gRPC INVALID_ARGUMENT"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const auto case_dir = dir / (c.grpc ? "grpc" : "http");
    fs::create_directories(case_dir);
    Receiver receiver(case_dir, {.grpc_port = c.grpc ? Receiver::kAuto : 0,
                                 .http_port = c.grpc ? 0 : Receiver::kAuto,
                                 .extra_args = c.fail_args});
    const std::vector<std::string> agent_args =
        c.grpc ? otlp_args(http_endpoint(receiver.grpc_port()), {"--otlp-protocol", "grpc"})
               : otlp_args(http_endpoint(receiver.http_port()), {});
    Agent agent(case_dir, {.ports = {port}, .extra_args = agent_args});
    // Three rounds, apart: at least three requests, each refused.
    for (int round = 0; round < 3; ++round) {
      make_requests(case_dir, port, "p" + std::to_string(round), 1);
      const size_t want = 2 * (round + 1);
      wait_until(
          [&] {
            auto counters = last_otlp_counters(agent.log());
            return !counters.empty() && counters.at("spans.dropped.export_error") == want;
          },
          10s);
    }
    const std::vector<Span> jsonl = stop_and_collect(agent);
    INFO("agent log:\n" << agent.log_tail());
    CHECK(jsonl.size() == 6);
    CHECK(receiver.spans().empty());
    const auto counters = last_otlp_counters(agent.log());
    INFO(describe(counters));
    CHECK(counters.at("spans.dropped.export_error") == 6);
    CHECK(counters.at("spans.exported") == 0);
    CHECK(counters.at("requests.retries") == 0);
    CHECK(counters.at("requests.failed") == receiver.requests().size());
    CHECK(receiver.requests().size() >= 3);
    // One warning for all of them (the interval is 30 s).
    CHECK(count_occurrences(agent.log(), c.log_text) == 1);
  }
}

}  // namespace ztrace::e2e
