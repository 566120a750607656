// The control port (issue 17): health, readiness, status, reload by API, and /metrics whose
// counters agree with the spans written. The exposition format is checked here by its grammar;
// request_metrics_test.cc runs promtool on it too.
#include <catch2/catch_test_macros.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "tests/e2e/control_client.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

CommandResult http(const fs::path& dir, const std::string& method, const std::string& url) {
  return run_command(dir, {"curl", "-sS", "-X", method, "-w", "\n%{http_code}", url});
}

// Problems of a Prometheus text exposition (0.0.4): every sample's family has one HELP and one
// TYPE line before it, names and labels follow the grammar, counters end in _total, values
// are numbers, no sample (name and labels) twice.
std::vector<std::string> exposition_problems(const std::string& text) {
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
  static const std::regex type(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*)\})? (-?[0-9.eE+-]+|NaN|[+-]Inf))");
  std::vector<std::string> problems;
  std::set<std::string> helped, typed, samples;
  std::map<std::string, std::string> types;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      if (!helped.insert(m[1]).second) problems.push_back("HELP twice: " + line);
    } else if (std::regex_match(line, m, type)) {
      if (!typed.insert(m[1]).second) problems.push_back("TYPE twice: " + line);
      types[m[1]] = m[2];
      if (m[2] == "counter" && !m[1].str().ends_with("_total")) {
        problems.push_back("counter without _total: " + line);
      }
    } else if (std::regex_match(line, m, sample)) {
      std::string family = m[1];
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {  // a histogram's series
        const std::string base = family.substr(0, family.size() - std::strlen(suffix));
        if (family.ends_with(suffix) && types.count(base) && types[base] == "histogram") {
          family = base;
        }
      }
      if (!typed.count(family) || !helped.count(family))
        problems.push_back("no HELP/TYPE: " + line);
      if (!samples.insert(m[1].str() + m[2].str()).second) problems.push_back("twice: " + line);
    } else {
      problems.push_back("not exposition format: " + line);
    }
  }
  return problems;
}

// The value of one sample line "NAME{LABELS} VALUE", -1 when absent.
double sample_value(const std::string& text, const std::string& name_and_labels) {
  const size_t at = text.find("\n" + name_and_labels + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name_and_labels.size() + 2));
}

// kernel.bpf_stats_enabled on for the scope, as it was after.
class BpfStatsOn {
 public:
  BpfStatsOn() {
    std::ifstream(kPath) >> previous_;
    std::ofstream(kPath) << 1;
  }
  ~BpfStatsOn() { std::ofstream(kPath) << previous_; }

 private:
  static constexpr const char* kPath = "/proc/sys/kernel/bpf_stats_enabled";
  int previous_ = 0;
};

}  // namespace

TEST_CASE(
    "control API: health, status, /metrics that agree with the spans, and a reload by "
    "POST that changes the mode (a broken file: 422 and the running mode kept)",
    "[e2e][control]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24720);
  const auto dir = fresh_dir("control_api");
  const fs::path config = dir / "ztrace.yaml";
  std::ofstream(config) << "tracing:\n  mode: full-e2e\n";
  Process server = start_python_server(dir, port);
  BpfStatsOn bpf_stats;
  Agent agent(dir, {.ports = {port},
                    .extra_args = {"--config", config.string(), "--api-listen", "127.0.0.1:0"}});
  std::string base;
  REQUIRE(wait_until([&] { return !(base = control_url(agent.log())).empty(); }, 10s));

  CHECK(http(dir, "GET", base + "/health").out == "{\"status\":\"ok\"}\n200");
  CHECK(http(dir, "GET", base + "/ready").out == "{\"status\":\"ready\"}\n200");
  CHECK(http(dir, "GET", base + "/api/tracing/status").out ==
        "{\"mode\":\"full-e2e\",\"ratio\":1,\"tail\":null,\"rules\":[],\"adaptive\":null}\n200");

  constexpr int kRequests = 5;
  std::vector<CurlRequest> requests;
  for (int i = 0; i < kRequests; ++i) requests.push_back({url(port, "/api/r" + std::to_string(i))});
  must_run(dir, curl_command(requests));
  // The snapshot behind /metrics is refreshed each second.
  std::string metrics;
  const bool counted = wait_until(
      [&] {
        metrics = http(dir, "GET", base + "/metrics").out;
        return sample_value(metrics, "ztrace_spans_total{outcome=\"built\"}") >= 2 * kRequests;
      },
      10s);
  INFO(metrics);
  CHECK(counted);
  CHECK(exposition_problems(metrics.substr(0, metrics.rfind('\n'))).empty());
  CHECK(sample_value(metrics, "ztrace_tracing_mode{mode=\"full-e2e\"}") == 1);
  // The kernel's accounting of the agent's programs, counted while bpf_stats is on: the
  // data syscalls of the requests above ran the syscall programs.
  CHECK(sample_value(metrics, "ztrace_bpf_stats_enabled") == 1);
  CHECK(sample_value(metrics, "ztrace_bpf_program_runs_total{program=\"exit_recvfrom\"}") > 0);
  // The ring buffer's memory is its size (4 MiB by default) plus its pages' bookkeeping.
  const double ring_bytes = sample_value(metrics, "ztrace_bpf_map_memory_bytes{map=\"events\"}");
  CHECK(ring_bytes >= 4 << 20);
  CHECK(ring_bytes < 5 << 20);
  CHECK(sample_value(metrics, "ztrace_bpf_program_run_seconds_total{program=\"exit_recvfrom\"}") >
        0);
  CHECK(sample_value(metrics, "ztrace_tracing_mode{mode=\"hybrid\"}") == 0);

  std::ofstream(config, std::ios::trunc)
      << "tracing:\n  mode: hybrid\n  sampling:\n    ratio: 0.5\n";
  const CommandResult reloaded = http(dir, "POST", base + "/api/config/reload");
  CHECK(reloaded.out == "{\"reloaded\":true,\"message\":\"mode=hybrid ratio=0.5\"}\n200");
  std::ofstream(config, std::ios::trunc) << "tracing:\n  mode: sometimes\n";
  const CommandResult refused = http(dir, "POST", base + "/api/config/reload");
  CHECK(refused.out.ends_with("\n422"));
  CHECK(refused.out.find("running settings kept (mode=hybrid ratio=0.5)") != std::string::npos);
  CHECK(refused.out.find("tracing.mode: must be one of") != std::string::npos);
  CHECK(http(dir, "GET", base + "/api/tracing/status").out ==
        "{\"mode\":\"hybrid\",\"ratio\":0.5,\"tail\":null,\"rules\":[],\"adaptive\":null}\n200");
  CHECK(http(dir, "GET", base + "/nothing-here").out.ends_with("\n404"));

  CHECK(agent.stop() == 0);
  std::vector<std::string> problems;
  const std::vector<Span> spans = agent.spans(problems);
  CHECK(spans.size() == 2 * kRequests);
}

TEST_CASE("control API: a port already taken is reported, and the agent traces without it",
          "[e2e][control]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24721);
  const int taken = reserve_port(24722);
  const auto dir = fresh_dir("control_api_taken");
  Process server = start_python_server(dir, port);
  fs::create_directories(dir / "squatter");
  Process squatter = start_python_server(dir / "squatter", taken);
  Agent agent(
      dir, {.ports = {port}, .extra_args = {"--api-listen", "127.0.0.1:" + std::to_string(taken)}});
  must_run(dir, curl_command({{url(port, "/api/without-port")}}));
  CHECK(agent.stop() == 0);
  CHECK(agent.log().find("control API: cannot listen on 127.0.0.1:" + std::to_string(taken)) !=
        std::string::npos);
  std::vector<std::string> problems;
  CHECK(with_path(agent.spans(problems), "/api/without-port").size() == 2);
}

}  // namespace ztrace::e2e
