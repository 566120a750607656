// On-demand sampling rules (issue 17) through the control API: at a ratio of 0, a rule for
// one service gives that service every trace, and no other service any; it expires on time
// or is disabled; with an API token, requests that change state need it.
//
// curl is not selected (only the servers' pids are), so its requests come in without a
// traceparent and each server starts the trace: the rule decides it in the kernel.
#include <catch2/catch_test_macros.hpp>
#include <fstream>
#include <map>

#include "tests/e2e/control_client.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

// SERVER spans by service, for paths starting with `prefix`.
std::map<std::string, int> server_spans(const std::vector<Span>& spans, const std::string& prefix) {
  std::map<std::string, int> by_service;
  for (const auto& span : of_kind(spans, "SERVER")) {
    if (span.path().starts_with(prefix)) ++by_service[span.service()];
  }
  return by_service;
}

}  // namespace

TEST_CASE(
    "sampling rules: at ratio 0, a rule for one service traces that service only, expires on "
    "time, and is disabled by id; POST without the API token is refused",
    "[e2e][sampling][rules]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int checkout_port = reserve_port(24740);
  const int cart_port = reserve_port(24741);
  const auto dir = fresh_dir("sampling_rules");
  const fs::path token_file = dir / "api-token";
  std::ofstream(token_file) << "s3cret-token\n";
  Process checkout = start_python_server(dir, checkout_port, {{"OTEL_SERVICE_NAME", "checkout"}});
  Process cart = start_python_server(dir, cart_port, {{"OTEL_SERVICE_NAME", "cart"}});
  Agent agent(dir, {.pids = {checkout.pid(), cart.pid()},
                    .extra_args = {"--sampling-ratio", "0", "--api-listen", "127.0.0.1:0",
                                   "--api-token-file", token_file.string()}});
  std::string base;
  REQUIRE(wait_until([&] { return !(base = control_url(agent.log())).empty(); }, 10s));
  const std::string enable = base + "/api/tracing/enable";
  const std::string disable = base + "/api/tracing/disable";

  get_numbered(dir, checkout_port, "/before-", 5);
  get_numbered(dir, cart_port, "/before-", 5);

  // Without the token, or with another, nothing changes.
  CHECK(api_post(dir, enable, R"({"service":"checkout"})").ends_with("\n401"));
  CHECK(api_post(dir, enable, R"({"service":"checkout"})", "wrong-token").ends_with("\n401"));
  CHECK(api_post(dir, base + "/api/config/reload", "").ends_with("\n401"));
  // Bad bodies: the reason, and the agent goes on.
  const std::string bad =
      api_post(dir, enable, R"({"service":"checkout","rate":7})", "s3cret-token");
  CHECK(bad == "{\"error\":\"rate: a number in [0, 1]\"}\n400");
  CHECK(api_post(dir, enable, std::string(70 * 1024, '{'), "s3cret-token").ends_with("\n413"));

  const std::string enabled =
      api_post(dir, enable, R"({"service":"checkout","rate":1.0,"duration":"4s"})", "s3cret-token");
  const auto enabled_at = std::chrono::steady_clock::now();
  INFO(enabled);
  CHECK(enabled ==
        "{\"id\":1,\"selector\":{\"service\":\"checkout\"},\"rate\":1.0,\"expires_in_s\":4,"
        "\"applied\":true}\n200");
  const std::string status = run_command(dir, {"curl", "-sS", base + "/api/tracing/status"}).out;
  CHECK(status.find(
            R"("rules":[{"id":1,"selector":{"service":"checkout"},"rate":1.0,"expires_in_s":)") !=
        std::string::npos);
  get_numbered(dir, checkout_port, "/during-", 5);
  get_numbered(dir, cart_port, "/during-", 5);

  // A rule for cart, disabled by its id before any request.
  CHECK(api_post(dir, enable, R"({"service":"cart"})", "s3cret-token").starts_with("{\"id\":2,"));
  CHECK(api_post(dir, disable, R"({"id":2})", "s3cret-token")
            .starts_with("{\"disabled\":[{\"id\":2,"));
  CHECK(api_post(dir, disable, R"({"id":2})", "s3cret-token").ends_with("\n404"));
  get_numbered(dir, cart_port, "/disabled-", 5);

  const bool expired = wait_until(
      [&] { return agent.log().find("on-demand rule expired") != std::string::npos; }, 10s);
  const auto expired_after = std::chrono::steady_clock::now() - enabled_at;
  CHECK(expired);
  CHECK(expired_after >= 3500ms);  // the tick is each second: 4 s, give or take one
  CHECK(expired_after <= 6s);
  get_numbered(dir, checkout_port, "/after-", 5);
  get_numbered(dir, cart_port, "/after-", 5);

  CHECK(agent.stop() == 0);
  std::vector<std::string> problems;
  const std::vector<Span> spans = agent.spans(problems);
  INFO(describe(spans));
  INFO("agent log (tail):\n" << agent.log_tail());
  CHECK(problems.empty());
  CHECK(server_spans(spans, "/before-").empty());
  CHECK(server_spans(spans, "/during-") == std::map<std::string, int>{{"checkout", 5}});
  CHECK(server_spans(spans, "/disabled-").empty());
  CHECK(server_spans(spans, "/after-").empty());
  CHECK(spans.size() == 5);
}

}  // namespace ztrace::e2e
