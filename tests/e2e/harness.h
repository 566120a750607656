#pragma once

// End-to-end harness: runs real peers (servers and clients) and the ztrace agent as child
// processes, and reads the spans the agent wrote as JSON lines.
//
// Every child runs in its own process group and gets SIGKILL when the test binary dies
// (PR_SET_PDEATHSIG), and Process' destructor kills the group: a failing or crashing test
// leaves no peer or agent behind.

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ztrace::e2e {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------
// Environment

bool is_root();
// The agent binary, the peers' sources and the scratch folder of the build tree (set by
// CMake; each may be overridden with ZTRACE_E2E_AGENT, ZTRACE_E2E_PEERS, ZTRACE_E2E_SCRATCH).
fs::path agent_path();
fs::path peers_dir();
fs::path scratch_dir();
std::string host_name();
std::string read_file(const fs::path& path);
size_t count_lines(const std::string& text);  // '\n' characters
size_t count_occurrences(const std::string& text, const std::string& what);  // may overlap
void write_file(const fs::path& path, std::string_view content);

// A fresh folder scratch/<name> (emptied if it exists). Kept after the test for post-mortem.
fs::path fresh_dir(std::string_view name);

// ---------------------------------------------------------------------------------------
// Processes

struct ProcessOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing) ours
  fs::path cwd;                                          // empty: ours
  fs::path stdout_path;                                  // empty: /dev/null
  fs::path stderr_path;                                  // empty: /dev/null
};

class Process {
 public:
  // Throws std::runtime_error when the program cannot be started (exec failure included).
  explicit Process(ProcessOptions options);
  Process(Process&& other) noexcept;
  Process& operator=(Process&&) = delete;
  Process(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  const ProcessOptions& options() const { return options_; }
  bool running();
  bool signal(int sig);  // to the process only
  // Waits for the exit; nullopt on timeout. The value is the exit code, or 128 + signal.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // SIGTERM to the group, up to `grace`, then SIGKILL; returns how it ended (as wait_exit).
  int stop(std::chrono::milliseconds grace = 5s);
  std::string stdout_text() const;
  std::string stderr_text() const;
  // "argv..." plus the tail of stdout/stderr, for failure messages.
  std::string describe() const;

 private:
  void reap_group();
  ProcessOptions options_;
  pid_t pid_ = -1;
  std::optional<int> exit_;
};

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed; -1 on timeout
  std::string out;
  std::string err;
  std::string describe;  // command line and output, for failure messages
  pid_t pid = -1;
};
// Runs a command to completion (killed after `timeout`); output goes to files in `dir`.
CommandResult run_command(const fs::path& dir, std::vector<std::string> argv,
                          std::chrono::milliseconds timeout = 60s,
                          std::vector<std::pair<std::string, std::string>> env = {});

// True once something listens on 127.0.0.1:port (read from /proc/net/tcp, so waiting
// opens no connection that an agent could see).
bool port_listening(int port);
// A port for one test: `preferred` when free, else preferred + 100, + 200, ... A port is
// free when no socket uses it as its local port and no other test process (of this or a
// concurrent run of the suite) holds it; this process holds it until it exits.
int reserve_port(int preferred);
bool wait_for_port(int port, std::chrono::milliseconds timeout);
// Polls `predicate` every 10 ms until true or timeout.
template <typename Predicate>
bool wait_until(Predicate predicate, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    struct timespec ts {
      0, 10'000'000
    };
    nanosleep(&ts, nullptr);
  }
}

// ---------------------------------------------------------------------------------------
// Spans as the agent writes them (--jsonl)

struct Span {
  nlohmann::json raw;
  std::string trace_id, span_id, parent_span_id, name, kind;
  uint64_t start_ns = 0, end_ns = 0;
  std::string status_code, status_message;
  nlohmann::json attributes = nlohmann::json::object();
  nlohmann::json resource = nlohmann::json::object();

  std::optional<std::string> attr_str(std::string_view key) const;
  std::optional<int64_t> attr_int(std::string_view key) const;
  std::optional<std::string> res_str(std::string_view key) const;
  std::optional<int64_t> res_int(std::string_view key) const;
  // Shorthands; empty / -1 when missing.
  std::string method() const { return attr_str("http.request.method").value_or(""); }
  std::string path() const { return attr_str("url.path").value_or(""); }
  int64_t status() const { return attr_int("http.response.status_code").value_or(-1); }
  int64_t server_port() const { return attr_int("server.port").value_or(-1); }
  int64_t pid() const { return res_int("process.pid").value_or(-1); }
  std::string service() const { return res_str("service.name").value_or(""); }
  std::string describe() const;  // one line
};

// Reads a JSONL file. Lines that are not JSON objects with the contract's fields are
// reported in `problems` (one message each) and skipped.
std::vector<Span> load_spans(const fs::path& path, std::vector<std::string>& problems);
// Contract violations of one span's shape (ids, kinds, times, types of HTTP attributes).
std::vector<std::string> shape_problems(const Span& span);

std::string describe(const std::vector<Span>& spans);
std::vector<Span> of_kind(const std::vector<Span>& spans, std::string_view kind);
std::vector<Span> of_pid(const std::vector<Span>& spans, pid_t pid);
std::vector<Span> with_path(const std::vector<Span>& spans, std::string_view path);
std::vector<Span> sorted_by_start(std::vector<Span> spans);

// ---------------------------------------------------------------------------------------
// The agent

struct AgentOptions {
  std::vector<int> ports;
  std::vector<pid_t> pids;
  std::vector<std::string> exes;
  std::vector<std::string> extra_args;
  std::chrono::milliseconds ready_timeout = 60s;
  fs::path jsonl_path;  // empty: dir/spans.jsonl
  bool console = false;  // keep the console output (dir/agent.stdout): no --no-console
};

class Agent {
 public:
  // Starts `ztrace run ... --jsonl dir/spans.jsonl --no-console` (or options.jsonl_path) and
  // waits for a line with "ready" in its stderr (dir/agent.log). Throws std::runtime_error
  // (with the log) when it does not come.
  Agent(const fs::path& dir, AgentOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  bool running() { return process_.running(); }
  pid_t pid() const { return process_.pid(); }
  bool signal(int sig) { return process_.signal(sig); }
  // SIGINT (which flushes) or `sig`, waits; the exit code (-1 when it had to be killed).
  int stop(std::chrono::milliseconds timeout = 20s, int sig = SIGINT);
  // Spans written so far (call after stop()).
  std::vector<Span> spans(std::vector<std::string>& problems) const;
  std::string log() const;  // stderr
  std::string log_tail(size_t max_bytes = 6000) const;
  const fs::path& jsonl_path() const { return jsonl_; }

 private:
  fs::path jsonl_;
  Process process_;
};

// Serialises builds of peers across test processes (ctest may start one per test): holds
// an exclusive lock on dir/.build.lock while alive.
class BuildLock {
 public:
  explicit BuildLock(const fs::path& dir);
  ~BuildLock();
  BuildLock(const BuildLock&) = delete;
  BuildLock& operator=(const BuildLock&) = delete;

 private:
  int fd_ = -1;
};
// `out` exists and is not older than `src`.
bool up_to_date(const fs::path& out, const fs::path& src);

// The ztrace_e2e peers, built once into the scratch folder and reused while their sources
// are unchanged. Each throws std::runtime_error with the compiler output on failure.
// Builds the Go program `src` (GOPATH mode, no network) into the scratch peers folder as
// `name`, once per change of the source; `extra_gopath` adds a GOPATH entry (Debian's gocode).
fs::path build_go_peer(const fs::path& src, const std::string& name, std::chrono::seconds timeout,
                       const std::string& extra_gopath = "");
fs::path go_peer();       // binary "ztrace-e2e-gopeer"
fs::path java_classes();  // folder with Peer.class
fs::path python3();       // a real python3 (not a shell shim)
fs::path go_tool();       // the go command used for go_peer()

}  // namespace ztrace::e2e

// ---------------------------------------------------------------------------------------
// Catch2 glue (defined in harness.cc; these record failures with CHECK, they do not throw)

namespace ztrace::e2e {

// Stops the agent and returns its spans. Records a failure when it did not exit 0 on
// SIGINT, when a JSONL line is malformed, or when a span breaks the contract's shape; the
// failure text carries the agent's log.
std::vector<Span> stop_and_collect(Agent& agent);

// CHECKs that `client` encloses `server` in time (client.start <= server.start and
// server.end <= client.end).
void check_encloses(const Span& client, const Span& server);

// What one HTTP exchange must look like on a span.
struct HttpExpect {
  std::string method;
  std::string path;
  int64_t status = 200;
  int port = 0;                 // server.port on both kinds
  std::string version = "1.1";  // network.protocol.version
};
// CHECKs that exactly one span of `kind` has url.path == e.path, and that it has: name ==
// method, http.request.method, http.response.status_code, server.address 127.0.0.1,
// server.port, network.protocol.version, client.address 127.0.0.1 and a client.port (SERVER
// spans), and the status rule (SERVER: ERROR for 5xx; CLIENT: ERROR for 4xx and 5xx;
// UNSET otherwise). Returns the span when there is exactly one.
std::optional<Span> expect_one(const std::vector<Span>& spans, std::string_view kind,
                               const HttpExpect& e);

// CHECKs the resource of a span: process.pid, service.name (skipped when empty),
// process.runtime.name (skipped when empty), process.executable.name (skipped when empty),
// host.name.
void check_resource(const Span& span, pid_t pid, std::string_view service, std::string_view runtime,
                    std::string_view executable = "");

// Pids whose parent is `pid` (from /proc).
std::vector<pid_t> children_of(pid_t pid);

}  // namespace ztrace::e2e

// A REQUIRE about the peers' own behaviour (the traffic a test means to make), with
// `context` (e.g. the commands' output) shown only when it fails.
#define ZTRACE_E2E_REQUIRE_PEER(cond, context) \
  do {                                         \
    INFO(context);                             \
    REQUIRE(cond);                             \
  } while (0)

// Tests that load eBPF programs need root; elsewhere they SKIP (CI runs as root).
#define ZTRACE_E2E_REQUIRE_ROOT()                                                     \
  do {                                                                                \
    if (!::ztrace::e2e::is_root()) SKIP("needs root: the agent loads eBPF programs"); \
  } while (0)
