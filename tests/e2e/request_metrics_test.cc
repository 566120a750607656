// Span metrics and the service graph on /metrics (issue 17), with real traffic: curl against
// the Python peer, at sampling ratio 0 and in mode system-only, so no span is exported and
// every count comes from the metrics path alone. The Grafana dashboards' queries are checked
// against the names this running agent exports, and promtool checks the exposition.
#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <cctype>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

using Labels = std::map<std::string, std::string>;
struct Sample {
  Labels labels;
  double value = 0;
};

std::string control_url(const std::string& log) {
  static const std::regex line(R"(control API on (http://127\.0\.0\.1:[0-9]+))");
  std::smatch match;
  return std::regex_search(log, match, line) ? match[1].str() : "";
}

std::string get_metrics(const fs::path& dir, const std::string& base) {
  return run_command(dir, {"curl", "-sS", base + "/metrics"}).out;
}

// Every sample of family member `name` (e.g. traces_spanmetrics_calls_total).
std::vector<Sample> samples(const std::string& text, const std::string& name) {
  static const std::regex label(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)\")");
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(name) || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != '{' && next != ' ') continue;
    Sample sample;
    const size_t space = line.rfind(' ');
    sample.value = std::stod(line.substr(space + 1));
    const std::string labels = line.substr(name.size(), space - name.size());
    for (std::sregex_iterator it(labels.begin(), labels.end(), label), end; it != end; ++it) {
      sample.labels[(*it)[1]] = (*it)[2];
    }
    out.push_back(sample);
  }
  return out;
}

// The sum of the samples whose labels include all of `match`.
double sum(const std::string& text, const std::string& name, const Labels& match) {
  double total = 0;
  for (const Sample& s : samples(text, name)) {
    bool all = true;
    for (const auto& [key, value] : match) {
      auto it = s.labels.find(key);
      all = all && it != s.labels.end() && it->second == value;
    }
    if (all) total += s.value;
  }
  return total;
}

// The one service label of the span series of `kind`, or "" when there are none or several.
std::string service_of(const std::string& text, const std::string& kind) {
  std::set<std::string> services;
  for (const Sample& s : samples(text, "traces_spanmetrics_calls_total")) {
    if (s.labels.count("span_kind") && s.labels.at("span_kind") == kind) {
      services.insert(s.labels.at("service"));
    }
  }
  return services.size() == 1 ? *services.begin() : "";
}

// Metric names a PromQL expression reads: identifiers left once strings, label matchers,
// ranges, grouping clauses, variables, functions (followed by '(') and keywords are gone.
std::set<std::string> promql_metric_names(std::string expr) {
  static const std::regex label_values(R"(label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*))");
  std::set<std::string> names;
  std::smatch match;
  if (std::regex_search(expr, match, label_values)) return {match[1]};
  static const std::vector<std::regex> drop = {
      std::regex(R"("(?:[^"\\]|\\.)*\")"),
      std::regex(R"(\{[^}]*\})"),
      std::regex(R"(\[[^\]]*\])"),
      std::regex(R"(\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))"),
      std::regex(R"(\$\{?[a-zA-Z_][a-zA-Z0-9_:]*\}?)"),
  };
  for (const auto& pattern : drop) expr = std::regex_replace(expr, pattern, " ");
  static const std::regex identifier(R"([a-zA-Z_:][a-zA-Z0-9_:]*)");
  static const std::set<std::string> keywords = {
      "and", "or",       "unless",     "bool",        "offset", "by",  "without",
      "on",  "ignoring", "group_left", "group_right", "e",      "inf", "nan"};
  for (std::sregex_iterator it(expr.begin(), expr.end(), identifier), end; it != end; ++it) {
    const size_t after = it->position() + it->length();
    const size_t next = expr.find_first_not_of(" \t\n", after);
    const bool function = next != std::string::npos && expr[next] == '(';
    const bool in_number = it->position() > 0 && std::isdigit(expr[it->position() - 1]);
    std::string token = it->str();
    std::transform(token.begin(), token.end(), token.begin(), ::tolower);
    if (!function && !in_number && !keywords.count(token)) names.insert(it->str());
  }
  return names;
}

// Every query under `node`: panel targets (rows' panels too), a query variable's query.
void collect_queries(const nlohmann::json& node, std::vector<std::string>& queries) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if ((key == "expr" || key == "query") && value.is_string()) {
        queries.push_back(value.get<std::string>());
      } else {
        collect_queries(value, queries);
      }
    }
  } else if (node.is_array()) {
    for (const auto& item : node) collect_queries(item, queries);
  }
}

// Sample names of an exposition: "name" of each "name{...} value" line.
std::set<std::string> exported_names(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    names.insert(line.substr(0, line.find_first_of("{ ")));
  }
  return names;
}

void check_promtool(const fs::path& dir, const std::string& metrics) {
  write_file(dir / "metrics.txt", metrics);
  const CommandResult r =
      run_command(dir, {"sh", "-c", "promtool check metrics < " + (dir / "metrics.txt").string()});
  INFO(r.describe);
  CHECK(r.exit_code == 0);
}

// curl's "HTTP_CODE ..." lines: how many answers had each code.
std::map<int, int> status_counts(const std::string& curl_out) {
  std::map<int, int> counts;
  std::istringstream in(curl_out);
  int code;
  std::string rest;
  while (in >> code && std::getline(in, rest)) ++counts[code];
  return counts;
}

}  // namespace

TEST_CASE("request metrics: the PromQL name extraction the dashboard check relies on",
          "[e2e][request-metrics]") {
  CHECK(
      promql_metric_names(
          R"(histogram_quantile(0.95, sum by (le, service) (rate(x_bucket{a="b",c=~"$v"}[$__rate_interval]))) / on(instance) group_left() y_total and z)") ==
      std::set<std::string>{"x_bucket", "y_total", "z"});
  CHECK(promql_metric_names("label_values(ztrace_build_info, instance)") ==
        std::set<std::string>{"ztrace_build_info"});
  CHECK(promql_metric_names("ztrace_tracing_mode == 1") ==
        std::set<std::string>{"ztrace_tracing_mode"});
}

TEST_CASE(
    "request metrics: at sampling ratio 0 nothing is exported, and span metrics and the "
    "service graph count every request exactly; the dashboards name only exported metrics; "
    "promtool accepts /metrics",
    "[e2e][request-metrics]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(25000);
  const auto dir = fresh_dir("request_metrics_ratio0");
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port},
                    .extra_args = {"--mode", "hybrid", "--sampling-ratio", "0", "--api-listen",
                                   "127.0.0.1:0"}});
  std::string base;
  REQUIRE(wait_until([&] { return !(base = control_url(agent.log())).empty(); }, 10s));

  std::vector<CurlRequest> requests;
  for (int i = 0; i < 7; ++i)
    requests.push_back({url(port, "/ok/items/" + std::to_string(100 + i))});
  for (int i = 0; i < 3; ++i) requests.push_back({url(port, "/error/x")});
  for (int i = 0; i < 2; ++i) requests.push_back({url(port, "/missing/" + std::to_string(i))});
  const std::map<int, int> answered = status_counts(must_run(dir, curl_command(requests)));
  REQUIRE(answered == std::map<int, int>{{200, 7}, {404, 2}, {500, 3}});
  constexpr int kRequests = 12;

  std::string metrics;
  const bool counted = wait_until(
      [&] {
        metrics = get_metrics(dir, base);
        return sum(metrics, "traces_spanmetrics_calls_total", {}) >= 2 * kRequests &&
               sum(metrics, "traces_service_graph_request_total", {}) >= kRequests;
      },
      15s);
  INFO(metrics);
  REQUIRE(counted);
  const std::string server_service = service_of(metrics, "SPAN_KIND_SERVER");
  const std::string client_service = service_of(metrics, "SPAN_KIND_CLIENT");
  CHECK(client_service == "curl");
  REQUIRE(!server_service.empty());
  CHECK(server_service != client_service);
  const auto calls = [&](const std::string& service, const std::string& status,
                         const std::string& route) {
    return sum(metrics, "traces_spanmetrics_calls_total",
               {{"service", service}, {"status_code", status}, {"http_route", route}});
  };
  // Servers own 5xx; a client's call fails on 4xx too (the HTTP conventions).
  CHECK(sum(metrics, "traces_spanmetrics_calls_total", {}) == 2 * kRequests);
  CHECK(calls(server_service, "STATUS_CODE_UNSET", "/ok/items/{id}") == 7);
  CHECK(calls(server_service, "STATUS_CODE_ERROR", "/error/x") == 3);
  CHECK(calls(server_service, "STATUS_CODE_UNSET", "/missing/{id}") == 2);
  CHECK(calls(client_service, "STATUS_CODE_UNSET", "/ok/items/{id}") == 7);
  CHECK(calls(client_service, "STATUS_CODE_ERROR", "/error/x") == 3);
  CHECK(calls(client_service, "STATUS_CODE_ERROR", "/missing/{id}") == 2);
  CHECK(sum(metrics, "traces_spanmetrics_latency_count", {{"service", server_service}}) ==
        kRequests);
  CHECK(sum(metrics, "traces_spanmetrics_latency_bucket",
            {{"service", server_service}, {"le", "+Inf"}}) == kRequests);
  // The edge, paired by ids: the kernel's unsampled context travelled in the injected header.
  const Labels edge = {
      {"client", client_service}, {"server", server_service}, {"connection_type", ""}};
  CHECK(sum(metrics, "traces_service_graph_request_total", edge) == kRequests);
  CHECK(sum(metrics, "traces_service_graph_request_total", {}) == kRequests);
  CHECK(sum(metrics, "traces_service_graph_request_failed_total", edge) == 5);
  CHECK(sum(metrics, "traces_service_graph_request_server_seconds_count", edge) == kRequests);
  CHECK(sum(metrics, "traces_service_graph_request_client_seconds_count", edge) == kRequests);
  CHECK(sum(metrics, "ztrace_service_graph_spans_total", {{"outcome", "paired"}}) == kRequests);
  CHECK(sum(metrics, "ztrace_spans_total", {{"outcome", "unsampled"}}) == 2 * kRequests);
  CHECK(sum(metrics, "ztrace_spans_total", {{"outcome", "built"}}) == 0);
  check_promtool(dir, metrics);

  // Every query of the shipped dashboards names metrics this agent exports.
  const std::set<std::string> exported = exported_names(metrics);
  for (const char* name : {"ztrace-agent.json", "ztrace-red.json"}) {
    const fs::path path = fs::path(ZTRACE_E2E_DASHBOARDS_DIR) / name;
    const nlohmann::json dashboard = nlohmann::json::parse(read_file(path));
    std::vector<std::string> queries;
    collect_queries(dashboard["panels"], queries);
    for (const auto& variable : dashboard["templating"]["list"]) {
      if (variable["type"] == "query") collect_queries(variable["query"], queries);
    }
    CHECK(queries.size() >= 8);
    for (const std::string& query : queries) {
      const std::set<std::string> names = promql_metric_names(query);
      INFO(name << ": " << query);
      CHECK(!names.empty());
      for (const std::string& metric : names) {
        INFO(metric);
        CHECK(exported.count(metric) == 1);
      }
    }
  }

  CHECK(agent.stop() == 0);
  std::vector<std::string> problems;
  CHECK(agent.spans(problems).empty());
}

TEST_CASE("request metrics: mode system-only exports no span and gives the metrics and the graph",
          "[e2e][request-metrics]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(25001);
  const auto dir = fresh_dir("request_metrics_system_only");
  Process server = start_python_server(dir, port);
  Agent agent(dir, {.ports = {port},
                    .extra_args = {"--mode", "system-only", "--api-listen", "127.0.0.1:0"}});
  std::string base;
  REQUIRE(wait_until([&] { return !(base = control_url(agent.log())).empty(); }, 10s));
  constexpr int kRequests = 4;
  std::vector<CurlRequest> requests;
  for (int i = 0; i < kRequests; ++i) requests.push_back({url(port, "/ok/" + std::to_string(i))});
  must_run(dir, curl_command(requests));
  std::string metrics;
  const bool counted = wait_until(
      [&] {
        metrics = get_metrics(dir, base);
        return sum(metrics, "traces_service_graph_request_total", {}) >= kRequests;
      },
      15s);
  INFO(metrics);
  REQUIRE(counted);
  const std::string server_service = service_of(metrics, "SPAN_KIND_SERVER");
  CHECK(sum(metrics, "traces_spanmetrics_calls_total",
            {{"span_kind", "SPAN_KIND_SERVER"}, {"http_route", "/ok/{id}"}}) == kRequests);
  CHECK(sum(metrics, "traces_spanmetrics_calls_total",
            {{"span_kind", "SPAN_KIND_CLIENT"}, {"http_route", "/ok/{id}"}}) == kRequests);
  CHECK(sum(metrics, "traces_service_graph_request_total",
            {{"client", "curl"}, {"server", server_service}}) == kRequests);
  CHECK(sum(metrics, "ztrace_spans_total", {{"outcome", "withheld"}}) == 2 * kRequests);
  CHECK(sum(metrics, "ztrace_spans_total", {{"outcome", "built"}}) == 0);
  CHECK(sum(metrics, "ztrace_tracing_mode", {{"mode", "system-only"}}) == 1);
  check_promtool(dir, metrics);
  CHECK(agent.stop() == 0);
  std::vector<std::string> problems;
  CHECK(agent.spans(problems).empty());
  CHECK(sum(metrics, "ztrace_spans_handed_total", {}) == 0);
}

}  // namespace ztrace::e2e
