// The config file's sections beside tracing: (export, capture, probes, log, selection's
// processes), their precedence under the environment and the flags, and what a reload can
// apply.
#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "userspace/agent/outputs.h"
#include "userspace/sampling/settings_sources.h"

using namespace ztrace;
namespace fs = std::filesystem;

namespace {

std::string write_config(const std::string& name, const std::string& yaml) {
  const fs::path path = fs::temp_directory_path() / ("ztrace-config-test-" + name + ".yaml");
  std::ofstream(path, std::ios::trunc) << yaml;
  return path.string();
}

sampling::ConfigFile read_ok(const std::string& yaml) {
  std::string error;
  auto file = sampling::read_config_file(write_config("ok", yaml), &error);
  INFO(error);
  REQUIRE(file);
  return *file;
}

// The error without the file's path: "LINE: KEY: reason".
std::string error_of(const std::string& yaml) {
  std::string error;
  if (sampling::read_config_file(write_config("bad", yaml), &error)) return "(accepted)";
  return error.substr(error.find(".yaml:") + 6);
}

otlp::EnvLookup lookup(std::map<std::string, std::string> env) {
  return [env = std::move(env)](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

agent::Outputs outputs_of(const agent::OutputFlags& flags, const sampling::ExportFile& file,
                          std::map<std::string, std::string> env = {}) {
  agent::Outputs outputs;
  std::string error;
  std::vector<std::string> warnings;
  if (!agent::resolve_outputs(flags, file, lookup(std::move(env)), "1.2.3", &outputs, &error,
                              &warnings)) {
    FAIL(error);
  }
  return outputs;
}

constexpr const char* kEverything = R"(export:
  console: false
  view: true
  jsonl: /tmp/spans.jsonl
  otlp:
    endpoint: http://collector:4318
    protocol: http/protobuf
    headers: {X-Scope-OrgID: team-a, authorization: "Bearer a,b=c"}
    compression: gzip
    timeout: 3s
    queue_spans: 500
    batch_delay: 200ms
    retry_max: 1m
capture: {max_capture_bytes: 8192, ring_buffer_bytes: 1048576, max_connections: 100, url_query: true}
probes: {go: false, openssl: false, java_agent: false, inject: false, java_attach_timeout: 5s}
log: {level: debug, stats_interval: 30s}
selection: {pids: [1, 42], exe: ["*/nginx"], ports: 8080}
)";

}  // namespace

TEST_CASE("config file: export, capture, probes, log and the process selection") {
  const sampling::ConfigFile file = read_ok(kEverything);
  const auto& exports = file.agent.exports;
  CHECK(exports.console == false);
  CHECK(exports.console_view == true);
  CHECK(exports.jsonl == "/tmp/spans.jsonl");
  CHECK(exports.otlp.endpoint == "http://collector:4318");
  REQUIRE(exports.otlp.headers);
  CHECK(exports.otlp.headers->size() == 2);
  CHECK(exports.otlp.headers->at(1).second == "Bearer a,b=c");
  CHECK(exports.otlp.timeout_ns == 3'000'000'000u);
  const auto& start = file.agent.start;
  CHECK(start.max_capture_bytes == 8192u);
  CHECK(start.ring_buffer_bytes == 1048576u);
  CHECK(start.max_connections == 100u);
  CHECK(start.url_query == true);
  CHECK((start.go_probes == false && start.openssl_probes == false && start.inject == false));
  CHECK(file.java_agent == false);
  CHECK(start.java_attach_timeout_ns == 5'000'000'000ull);
  CHECK(start.log_level == "debug");
  CHECK(start.stats_interval_ns == 30'000'000'000u);
  CHECK(start.pids == std::vector<int>{1, 42});
  CHECK(start.exe_globs == std::vector<std::string>{"*/nginx"});
  CHECK(start.ports == std::vector<int>{8080});

  // The shipped example names every section and is valid.
  std::string error;
  const auto example = sampling::read_config_file(
      (fs::path(ZTRACE_TESTDATA_DIR) / "../../config/ztrace.example.yaml").string(), &error);
  INFO(error);
  REQUIRE(example);
  CHECK(example->agent.exports.console == true);
  CHECK(example->agent.start.max_capture_bytes == 16384u);
}

TEST_CASE("config file: bad values in the new sections name the line and the key") {
  CHECK(error_of("export:\n  otlp:\n    protocol: http/json\n") ==
        "3: export.otlp.protocol: must be one of grpc, http/protobuf");
  CHECK(error_of("export:\n  otlp:\n    endpoint: [a]\n") ==
        "3: export.otlp.endpoint: must be a string");
  CHECK(error_of("export:\n  otlp:\n    headers: [a]\n") ==
        "3: export.otlp.headers: must be a mapping of names to strings");
  CHECK(error_of("export:\n  otlp:\n    timeout: soon\n") ==
        "3: export.otlp.timeout: must be a duration such as 500ms, 5s or 1m");
  CHECK(error_of("export:\n  otlp:\n    url: x\n") == "3: export.otlp.url: unknown key");
  CHECK(error_of("export:\n  console: loud\n") == "2: export.console: must be true or false");
  CHECK(error_of("export: 3\n") == "1: export: must be a mapping");
  CHECK(error_of("capture:\n  max_capture_bytes: 100\n") ==
        "2: capture.max_capture_bytes: must be a whole number from 4096 to 65536");
  CHECK(error_of("probes:\n  go: sometimes\n") == "2: probes.go: must be true or false");
  CHECK(error_of("probes:\n  java_attach_timeout: soon\n") ==
        "2: probes.java_attach_timeout: must be a duration such as 500ms, 5s or 1m");
  CHECK(error_of("log:\n  level: loud\n") ==
        "2: log.level: must be one of trace, debug, info, warn, error");
  CHECK(error_of("selection:\n  ports: [80, 70000]\n") ==
        "2: selection.ports: must be whole numbers from 1 to 65535");
  CHECK(error_of("selection:\n  pids: abc\n") ==
        "2: selection.pids: must be whole numbers from 1 to 4194304");
  CHECK(error_of("exports: {}\n") == "1: exports: unknown key");
}

TEST_CASE("config file: OTLP export under the environment, under the flags") {
  const sampling::ConfigFile file = read_ok(kEverything);
  const auto& exports = file.agent.exports;

  const agent::Outputs from_file = outputs_of({}, exports);
  CHECK_FALSE(from_file.console);
  CHECK(from_file.console_view);
  CHECK(from_file.jsonl_path == "/tmp/spans.jsonl");
  CHECK(from_file.otlp.enabled);
  CHECK(from_file.otlp.endpoint == "http://collector:4318/v1/traces");
  CHECK(from_file.otlp.compression == otlp::Compression::kGzip);
  CHECK(from_file.otlp.timeout == std::chrono::milliseconds(3000));
  CHECK(from_file.otlp.max_queue_spans == 500);
  CHECK(from_file.otlp.batch_delay == std::chrono::milliseconds(200));
  CHECK(from_file.otlp.retry.max_elapsed == std::chrono::milliseconds(60000));
  CHECK(from_file.otlp.agent_version == "1.2.3");
  const otlp::Headers file_headers{{"X-Scope-OrgID", "team-a"}, {"authorization", "Bearer a,b=c"}};
  CHECK(from_file.otlp.headers == file_headers);

  // The environment beats the file, key by key for headers.
  const agent::Outputs with_env =
      outputs_of({}, exports,
                 {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"},
                  {"OTEL_EXPORTER_OTLP_HEADERS", "x-scope-orgid=env-team"},
                  {"OTEL_EXPORTER_OTLP_COMPRESSION", "none"}});
  CHECK(with_env.otlp.endpoint == "http://env:4318/v1/traces");
  CHECK(with_env.otlp.compression == otlp::Compression::kNone);
  const otlp::Headers env_headers{{"authorization", "Bearer a,b=c"}, {"x-scope-orgid", "env-team"}};
  CHECK(with_env.otlp.headers == env_headers);

  // The flags beat both.
  agent::OutputFlags flags;
  flags.no_console = false;
  flags.jsonl_path = "/tmp/flag.jsonl";
  flags.otlp.endpoint = "http://flag:4318/v1/traces";
  flags.otlp.max_queue_spans = 7;
  flags.otlp.headers = {"X-Scope-OrgID=flag-team"};
  const agent::Outputs with_flags =
      outputs_of(flags, exports, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"}});
  CHECK(with_flags.jsonl_path == "/tmp/flag.jsonl");
  CHECK(with_flags.otlp.endpoint == "http://flag:4318/v1/traces");
  CHECK(with_flags.otlp.max_queue_spans == 7);
  CHECK(with_flags.otlp.headers.back() ==
        std::pair<std::string, std::string>("X-Scope-OrgID", "flag-team"));
  // --no-console turns the console off whatever the file says; the file can turn it off too.
  flags.no_console = true;
  sampling::ExportFile console_on;
  console_on.console = true;
  CHECK_FALSE(outputs_of(flags, console_on).console);
  CHECK(outputs_of({}, sampling::ExportFile{}).console);
  CHECK_FALSE(outputs_of({}, sampling::ExportFile{}).otlp.enabled);

  // A file endpoint that is no URL is refused, naming the key.
  sampling::ExportFile bad;
  bad.otlp.endpoint = "collector:4318";
  agent::Outputs outputs;
  std::string error;
  std::vector<std::string> warnings;
  CHECK_FALSE(agent::resolve_outputs({}, bad, lookup({}), "1", &outputs, &error, &warnings));
  CHECK(error.starts_with("export.otlp.endpoint="));
}

TEST_CASE("config file: a reload names the changed sections that need a restart") {
  const sampling::ConfigFile before = read_ok(kEverything);
  CHECK(before.restart_only_changes(before).empty());
  std::string changed = kEverything;
  changed.replace(changed.find("max_connections: 100"), 20, "max_connections: 200");
  changed.replace(changed.find("level: debug"), 12, "level: info ");
  changed.replace(changed.find("jsonl: /tmp/spans.jsonl"), 23, "jsonl: /tmp/other.jsonl");
  const sampling::ConfigFile after = read_ok(changed);
  CHECK(before.restart_only_changes(after) == std::vector<std::string>{"capture", "log"});
  CHECK(before.agent.exports != after.agent.exports);  // applied by the reload itself
}
