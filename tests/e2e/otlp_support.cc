#include "tests/e2e/otlp_support.h"

#include <catch2/catch_test_macros.hpp>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ztrace::e2e {

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

}  // namespace

fs::path otlp_receiver_path() {
  return env_or("ZTRACE_E2E_OTLP_RECEIVER", ZTRACE_E2E_OTLP_RECEIVER_PATH);
}

fs::path otlp_proto_root() { return ZTRACE_E2E_OTLP_PROTO_ROOT; }

namespace {

std::string port_text(int port) { return port == Receiver::kAuto ? "auto" : std::to_string(port); }

// The port a listener reports in the receiver's log ("<what> on 127.0.0.1:PORT"), 0 if none.
int logged_port(const std::string& log, const std::string& what) {
  const std::string marker = what + " on 127.0.0.1:";
  const size_t at = log.find(marker);
  if (at == std::string::npos) return 0;
  return std::atoi(log.c_str() + at + marker.size());
}

}  // namespace

Process Receiver::start(const fs::path& dir, const Options& options) {
  ProcessOptions p;
  p.argv = {otlp_receiver_path().string(),
            "--spans",
            (dir / "received.jsonl").string(),
            "--requests",
            (dir / "requests.jsonl").string(),
            "--raw-dir",
            (dir / "raw").string()};
  if (options.grpc_port != 0) {
    p.argv.insert(p.argv.end(), {"--grpc-port", port_text(options.grpc_port)});
  }
  if (options.http_port != 0) {
    p.argv.insert(p.argv.end(), {"--http-port", port_text(options.http_port)});
  }
  p.argv.insert(p.argv.end(), options.extra_args.begin(), options.extra_args.end());
  p.stderr_path = dir / "receiver.log";
  p.stdout_path = dir / "receiver.stdout";
  if (!fs::exists(p.argv[0])) {
    throw std::runtime_error("OTLP receiver not found: " + p.argv[0] +
                             " (build the 'otlp_receiver' target)");
  }
  return Process(p);
}

Receiver::Receiver(const fs::path& dir, Options options)
    : dir_(dir), options_(std::move(options)), process_(start(dir_, options_)) {
  const bool ready = wait_until(
      [&] {
        const std::string log = process_.stderr_text();
        return !process_.running() || ((options_.grpc_port == 0 || logged_port(log, "gRPC") != 0) &&
                                       (options_.http_port == 0 || logged_port(log, "HTTP") != 0));
      },
      10s);
  const std::string log = process_.stderr_text();
  grpc_port_ = logged_port(log, "gRPC");
  http_port_ = logged_port(log, "HTTP");
  if (!ready || !process_.running()) {
    throw std::runtime_error("OTLP receiver did not start\n" + process_.describe());
  }
}

std::vector<Span> Receiver::spans() const {
  std::vector<std::string> problems;
  if (!fs::exists(dir_ / "received.jsonl")) return {};
  std::vector<Span> spans = load_spans(dir_ / "received.jsonl", problems);
  INFO("receiver output problems");
  for (const auto& problem : problems) FAIL_CHECK(problem);
  return spans;
}

std::vector<nlohmann::json> Receiver::requests() const {
  std::vector<nlohmann::json> lines;
  std::ifstream in(dir_ / "requests.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) lines.push_back(j);
  }
  return lines;
}

void Receiver::kill() {
  process_.signal(SIGKILL);
  process_.wait_exit(5s);
}

ScopedEnv::ScopedEnv(std::vector<std::pair<std::string, std::string>> vars) {
  for (auto& [name, value] : vars) {
    const char* old = std::getenv(name.c_str());
    saved_.emplace_back(name, old != nullptr ? std::optional<std::string>(old) : std::nullopt);
    setenv(name.c_str(), value.c_str(), 1);
  }
}

ScopedEnv::~ScopedEnv() {
  for (const auto& [name, value] : saved_) {
    if (value) {
      setenv(name.c_str(), value->c_str(), 1);
    } else {
      unsetenv(name.c_str());
    }
  }
}

std::map<std::string, uint64_t> last_otlp_counters(const std::string& log) {
  std::map<std::string, uint64_t> counters;
  const size_t at = log.rfind(" otlp: ");
  if (at == std::string::npos) return counters;
  const size_t end = log.find('\n', at);
  const std::string line = log.substr(at + 7, end == std::string::npos ? end : end - at - 7);
  // Groups separated by ';', each "<group> name=value name=value ...", where the group word
  // may be absent ("latency avg_us=..").
  std::istringstream groups(line);
  std::string group_text;
  while (std::getline(groups, group_text, ';')) {
    std::istringstream words(group_text);
    std::string word, group;
    std::string prefix;
    while (words >> word) {
      const size_t equals = word.find('=');
      if (equals == std::string::npos) {
        prefix += word + ".";
        continue;
      }
      counters[prefix + word.substr(0, equals)] = std::stoull(word.substr(equals + 1));
    }
  }
  return counters;
}

std::string describe(const std::map<std::string, uint64_t>& counters) {
  std::string out;
  for (const auto& [name, value] : counters) out += name + "=" + std::to_string(value) + " ";
  return out;
}

void check_same_spans(const std::vector<Span>& received, const std::vector<Span>& expected,
                      const nlohmann::json& extra_resource) {
  INFO("received:\n" << describe(received) << "expected:\n" << describe(expected));
  CHECK(received.size() == expected.size());
  std::map<std::string, const Span*> by_id;
  for (const Span& span : received) {
    const bool unique = by_id.emplace(span.span_id, &span).second;
    if (!unique) FAIL_CHECK("span " << span.span_id << " received twice");
  }
  for (const Span& want : expected) {
    INFO("span " << want.describe());
    auto it = by_id.find(want.span_id);
    if (it == by_id.end()) {
      FAIL_CHECK("not received");
      continue;
    }
    const Span& got = *it->second;
    CHECK(got.trace_id == want.trace_id);
    CHECK(got.parent_span_id == want.parent_span_id);
    CHECK(got.name == want.name);
    CHECK(got.kind == want.kind);
    CHECK(got.start_ns == want.start_ns);
    CHECK(got.end_ns == want.end_ns);
    CHECK(got.status_code == want.status_code);
    CHECK(got.status_message == want.status_message);
    CHECK(got.attributes == want.attributes);
    nlohmann::json resource = want.resource;
    for (const auto& [key, value] : extra_resource.items()) {
      if (!resource.contains(key)) resource[key] = value;
    }
    CHECK(got.resource == resource);
    CHECK(got.raw.value("scope_name", "") == "ztrace");
    CHECK(got.raw.value("scope_version", "") == agent_version());
    CHECK(got.raw.value("schema_url", "").starts_with("https://opentelemetry.io/schemas/1."));
    CHECK(got.raw.value("scope_schema_url", "") == got.raw.value("schema_url", "-"));
  }
}

std::string agent_version() {
  static const std::string version = [] {
    const CommandResult r = run_command(scratch_dir(), {agent_path().string(), "version"}, 10s);
    std::string out = r.out;
    const size_t space = out.find(' ');
    out = space == std::string::npos ? out : out.substr(space + 1);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }();
  return version;
}

}  // namespace ztrace::e2e
