#pragma once

// Helpers of the OTLP export tests (otlp_*_test.cc): the test receiver
// (tests/otlp_receiver), the agent's "otlp:" counter line, environment overrides for the
// agent, comparison of the spans a receiver got with the agent's JSON lines.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace ztrace::e2e {

fs::path otlp_receiver_path();  // ZTRACE_E2E_OTLP_RECEIVER overrides
fs::path otlp_proto_root();     // folder holding opentelemetry/proto/... (.proto files)

// The test receiver, started on 127.0.0.1 with its files in `dir`.
class Receiver {
 public:
  static constexpr int kAuto = -1;  // a free port chosen by the kernel
  struct Options {
    int grpc_port = 0;                    // 0: no gRPC listener; kAuto, or this port
    int http_port = 0;                    // 0: no HTTP listener; kAuto, or this port
    std::vector<std::string> extra_args;  // --delay-ms, --http-fail-status, --tls-cert, ...
  };
  // Returns once its ports listen; throws std::runtime_error otherwise.
  Receiver(const fs::path& dir, Options options);

  int grpc_port() const { return grpc_port_; }  // where it listens
  int http_port() const { return http_port_; }
  std::vector<Span> spans() const;               // accepted spans so far
  std::vector<nlohmann::json> requests() const;  // every request line so far
  fs::path raw_dir() const { return dir_ / "raw"; }
  void kill();  // SIGKILL, waits for the exit
  std::string log() const { return process_.stderr_text(); }

 private:
  static Process start(const fs::path& dir, const Options& options);
  fs::path dir_;
  Options options_;
  Process process_;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

// Sets environment variables of this test process (and so of the agent it starts) for its
// lifetime, then restores them.
class ScopedEnv {
 public:
  explicit ScopedEnv(std::vector<std::pair<std::string, std::string>> vars);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// The last "otlp: ..." counter line of an agent log as name → value: words without '=' are
// prefixes within a ';' group ("spans queued=3 dropped queue_full=1" gives "spans.queued"
// and "spans.dropped.queue_full"). Empty when none.
std::map<std::string, uint64_t> last_otlp_counters(const std::string& log);
std::string describe(const std::map<std::string, uint64_t>& counters);

// CHECKs that `received` holds exactly the spans of `expected` (by span_id, no duplicate),
// each identical in every field of the JSON lines schema, with `extra_resource` added to
// every resource, and scope ztrace + the schema URL.
void check_same_spans(const std::vector<Span>& received, const std::vector<Span>& expected,
                      const nlohmann::json& extra_resource = nlohmann::json::object());

// "0.1.0" from `ztrace version`.
std::string agent_version();

}  // namespace ztrace::e2e
