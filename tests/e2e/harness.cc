#include "tests/e2e/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace ztrace::e2e {

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string tail(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  return "[... " + std::to_string(text.size() - max_bytes) + " bytes cut ...]\n" +
         text.substr(text.size() - max_bytes);
}

// argv[0] as an absolute path: resolved in the parent, so the child only calls execve.
std::string resolve_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::stringstream path(env_or("PATH", "/usr/local/bin:/usr/bin:/bin"));
  std::string dir;
  while (std::getline(path, dir, ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  throw std::runtime_error("program not found in PATH: " + name);
}

int open_or_throw(const fs::path& path, int flags) {
  int fd = open(path.empty() ? "/dev/null" : path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("open " + path.string() + ": " + std::strerror(errno));
  }
  return fd;
}

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Environment

bool is_root() { return geteuid() == 0; }
fs::path agent_path() { return env_or("ZTRACE_E2E_AGENT", ZTRACE_E2E_AGENT_PATH); }
fs::path peers_dir() { return env_or("ZTRACE_E2E_PEERS", ZTRACE_E2E_PEERS_DIR); }
fs::path scratch_dir() { return env_or("ZTRACE_E2E_SCRATCH", ZTRACE_E2E_SCRATCH_DIR); }

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count_lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

size_t count_occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

fs::path fresh_dir(std::string_view name) {
  const fs::path runs = scratch_dir() / "runs";
  fs::create_directories(runs);
  // A concurrent run of the suite in the same build tree keeps its folder: take another.
  std::string leaf(name);
  const int fd = open((runs / ("." + leaf + ".lock")).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (fd >= 0) close(fd);
    leaf += "-" + std::to_string(getpid());
  }  // else the lock (fd) lasts as long as this process
  const fs::path dir = runs / leaf;
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  return dir;
}

// ---------------------------------------------------------------------------------------
// Process

Process::Process(ProcessOptions options) : options_(std::move(options)) {
  if (options_.argv.empty()) throw std::invalid_argument("Process: empty argv");
  const std::string program = resolve_program(options_.argv[0]);

  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    std::string_view key = kv.substr(0, kv.find('='));
    bool replaced = std::any_of(options_.env.begin(), options_.env.end(),
                                [&](const auto& p) { return p.first == key; });
    if (!replaced) env_strings.emplace_back(kv);
  }
  for (const auto& [k, v] : options_.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : options_.argv) argv.push_back(a.data());
  argv.push_back(nullptr);

  const int in_fd = open_or_throw("", O_RDONLY);
  const int out_fd = open_or_throw(options_.stdout_path, O_WRONLY | O_CREAT | O_TRUNC);
  const int err_fd = open_or_throw(options_.stderr_path, O_WRONLY | O_CREAT | O_TRUNC);
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  const std::string cwd = options_.cwd.string();
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    int err = 0;
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) {
      err = errno;
    } else {
      execve(program.c_str(), argv.data(), envp.data());
      err = errno;
    }
    ssize_t unused = write(exec_pipe[1], &err, sizeof err);
    (void)unused;
    _exit(127);
  }
  setpgid(pid, pid);  // also from here, so the group exists before we may signal it
  close(in_fd);
  close(out_fd);
  close(err_fd);
  close(exec_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(exec_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(exec_pipe[0]);
  if (n > 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    throw std::runtime_error("cannot start " + program + ": " + std::strerror(child_errno));
  }
  pid_ = pid;
}

Process::Process(Process&& other) noexcept
    : options_(std::move(other.options_)), pid_(other.pid_), exit_(other.exit_) {
  other.pid_ = -1;
}

Process::~Process() {
  if (pid_ > 0) stop(2s);
}

bool Process::running() {
  if (pid_ <= 0 || exit_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_ = decode_wait_status(status);
    return false;
  }
  return r == 0;
}

bool Process::signal(int sig) { return pid_ > 0 && !exit_ && ::kill(pid_, sig) == 0; }

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
  wait_until([&] { return !running(); }, timeout);
  return exit_;
}

void Process::reap_group() {
  // Whatever the process left in its group (nginx workers, a shell's children).
  if (pid_ > 0) ::kill(-pid_, SIGKILL);
}

int Process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  if (running()) {
    ::kill(-pid_, SIGTERM);
    if (!wait_exit(grace)) {
      ::kill(-pid_, SIGKILL);
      wait_exit(10s);
    }
  }
  reap_group();
  return exit_.value_or(-1);
}

std::string Process::stdout_text() const {
  return options_.stdout_path.empty() ? "" : read_file(options_.stdout_path);
}
std::string Process::stderr_text() const {
  return options_.stderr_path.empty() ? "" : read_file(options_.stderr_path);
}

std::string Process::describe() const {
  std::string s = "$";
  for (const auto& a : options_.argv) s += " " + a;
  s += "\n  pid " + std::to_string(pid_);
  if (exit_) s += ", exited " + std::to_string(*exit_);
  s += "\n  --- stdout ---\n" + tail(stdout_text(), 3000);
  s += "\n  --- stderr ---\n" + tail(stderr_text(), 3000);
  return s;
}

CommandResult run_command(const fs::path& dir, std::vector<std::string> argv,
                          std::chrono::milliseconds timeout,
                          std::vector<std::pair<std::string, std::string>> env) {
  static int counter = 0;
  const std::string stem =
      "cmd" + std::to_string(++counter) + "-" + fs::path(argv.at(0)).filename().string();
  ProcessOptions o;
  o.argv = std::move(argv);
  o.env = std::move(env);
  o.stdout_path = dir / (stem + ".out");
  o.stderr_path = dir / (stem + ".err");
  Process p(std::move(o));
  CommandResult r;
  r.pid = p.pid();
  auto code = p.wait_exit(timeout);
  if (!code) p.stop(1s);
  r.exit_code = code.value_or(-1);
  r.out = p.stdout_text();
  r.err = p.stderr_text();
  r.describe = p.describe() + (code ? "" : "\n  (timed out)");
  return r;
}

bool port_listening(int port) {
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream ss(line);
      std::string slot, local, remote, state;
      ss >> slot >> local >> remote >> state;
      auto colon = local.rfind(':');
      if (colon == std::string::npos) continue;
      if (state == "0A" && std::stoi(local.substr(colon + 1), nullptr, 16) == port) return true;
    }
  }
  return false;
}

namespace {

// Whether a TCP socket other than a TIME_WAIT one has this local port (/proc/net/tcp{,6}).
// The peers listen with SO_REUSEADDR, so TIME_WAIT left by an earlier run does not matter.
bool port_in_use(int port) {
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream ss(line);
      std::string slot, local, remote, state;
      ss >> slot >> local >> remote >> state;
      auto colon = local.rfind(':');
      if (colon != std::string::npos && state != "06" &&
          std::stoi(local.substr(colon + 1), nullptr, 16) == port) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

int reserve_port(int preferred) {
  // Lock files are shared by every build tree on the machine, so they live in /tmp.
  const fs::path dir = fs::temp_directory_path() / "ztrace-e2e-ports";
  fs::create_directories(dir);
  for (int port = preferred; port < 32000; port += 100) {
    const fs::path lock = dir / std::to_string(port);
    int fd = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) continue;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || port_in_use(port)) {
      close(fd);
      continue;
    }
    return port;  // fd stays open: the lock lasts as long as this process
  }
  throw std::runtime_error("no free port from " + std::to_string(preferred));
}

bool wait_for_port(int port, std::chrono::milliseconds timeout) {
  return wait_until([&] { return port_listening(port); }, timeout);
}

// ---------------------------------------------------------------------------------------
// Spans

namespace {

std::optional<std::string> json_str(const nlohmann::json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<int64_t> json_int(const nlohmann::json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

// Times may be JSON numbers or decimal strings (OTLP/JSON writes 64-bit integers as strings).
std::optional<uint64_t> json_time(const nlohmann::json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (it->is_number_unsigned() || it->is_number_integer()) return it->get<uint64_t>();
  if (it->is_string()) {
    const std::string s = it->get<std::string>();
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return std::stoull(s);
  }
  return std::nullopt;
}

bool is_hex(const std::string& s, size_t len) {
  return s.size() == len && s.find_first_not_of("0123456789abcdef") == std::string::npos &&
         s.find_first_not_of('0') != std::string::npos;
}

}  // namespace

std::optional<std::string> Span::attr_str(std::string_view key) const {
  return json_str(attributes, key);
}
std::optional<int64_t> Span::attr_int(std::string_view key) const {
  return json_int(attributes, key);
}
std::optional<std::string> Span::res_str(std::string_view key) const {
  return json_str(resource, key);
}
std::optional<int64_t> Span::res_int(std::string_view key) const { return json_int(resource, key); }

std::string Span::describe() const {
  std::ostringstream s;
  s << kind << " " << name << " [" << method() << " " << path() << " -> " << status() << "] "
    << status_code;
  if (!status_message.empty()) s << "(" << status_message << ")";
  s << " svc=" << service() << " pid=" << pid()
    << " rt=" << res_str("process.runtime.name").value_or("-")
    << " server=" << attr_str("server.address").value_or("-") << ":" << server_port()
    << " client=" << attr_str("client.address").value_or("-") << ":"
    << attr_int("client.port").value_or(-1)
    << " v=" << attr_str("network.protocol.version").value_or("-")
    << " ua=" << attr_str("user_agent.original").value_or("-") << " t=" << start_ns << "+"
    << (end_ns >= start_ns ? end_ns - start_ns : 0) << "ns";
  return s.str();
}

std::vector<Span> load_spans(const fs::path& path, std::vector<std::string>& problems) {
  std::vector<Span> spans;
  std::ifstream in(path);
  if (!in) {
    problems.push_back("no JSONL file at " + path.string());
    return spans;
  }
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = "JSONL line " + std::to_string(line_no) + ": ";
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      problems.push_back(where + "not a JSON object: " + line.substr(0, 300));
      continue;
    }
    Span s;
    s.raw = j;
    std::vector<std::string> missing;
    auto str = [&](const char* key, std::string& out) {
      if (auto v = json_str(j, key))
        out = *v;
      else
        missing.push_back(key);
    };
    str("trace_id", s.trace_id);
    str("span_id", s.span_id);
    str("parent_span_id", s.parent_span_id);
    str("name", s.name);
    str("kind", s.kind);
    if (auto t = json_time(j, "start_time_unix_nano"))
      s.start_ns = *t;
    else
      missing.push_back("start_time_unix_nano");
    if (auto t = json_time(j, "end_time_unix_nano"))
      s.end_ns = *t;
    else
      missing.push_back("end_time_unix_nano");
    auto status = j.find("status");
    if (status != j.end() && status->is_object()) {
      s.status_code = json_str(*status, "code").value_or("");
      s.status_message = json_str(*status, "message").value_or("");
      if (!json_str(*status, "code")) missing.push_back("status.code");
    } else {
      missing.push_back("status");
    }
    if (auto a = j.find("attributes"); a != j.end() && a->is_object())
      s.attributes = *a;
    else
      missing.push_back("attributes");
    if (auto r = j.find("resource"); r != j.end() && r->is_object())
      s.resource = *r;
    else
      missing.push_back("resource");
    if (!missing.empty()) {
      std::string m;
      for (const auto& k : missing) m += (m.empty() ? "" : ", ") + k;
      problems.push_back(where + "missing or mistyped: " + m + " in " + line.substr(0, 300));
    }
    spans.push_back(std::move(s));
  }
  return spans;
}

std::vector<std::string> shape_problems(const Span& s) {
  std::vector<std::string> p;
  if (!is_hex(s.trace_id, 32)) p.push_back("trace_id is not 32 lowercase hex digits, non-zero");
  if (!is_hex(s.span_id, 16)) p.push_back("span_id is not 16 lowercase hex digits, non-zero");
  if (!s.parent_span_id.empty() && !is_hex(s.parent_span_id, 16)) {
    p.push_back("parent_span_id is neither \"\" nor 16 hex digits");
  }
  static const std::vector<std::string> kinds = {"SERVER", "CLIENT", "INTERNAL", "PRODUCER",
                                                 "CONSUMER"};
  if (std::find(kinds.begin(), kinds.end(), s.kind) == kinds.end()) {
    p.push_back("kind '" + s.kind + "' is not an OTel span kind");
  }
  if (s.status_code != "UNSET" && s.status_code != "OK" && s.status_code != "ERROR") {
    p.push_back("status.code '" + s.status_code + "' is not UNSET|OK|ERROR");
  }
  // 2020-09-13 .. 2100: a wall-clock time in ns, not a boot-relative one.
  if (s.start_ns < 1'600'000'000'000'000'000ull || s.start_ns > 4'102'444'800'000'000'000ull) {
    p.push_back("start_time_unix_nano " + std::to_string(s.start_ns) + " is not a unix time");
  }
  if (s.end_ns < s.start_ns) p.push_back("end_time_unix_nano < start_time_unix_nano");
  const auto& a = s.attributes;
  auto expect_int = [&](const char* key) {
    if (a.contains(key) && !a[key].is_number_integer()) {
      p.push_back(std::string(key) + " is not an integer: " + a[key].dump());
    }
  };
  auto expect_str = [&](const nlohmann::json& obj, const char* key) {
    if (obj.contains(key) && !obj[key].is_string()) {
      p.push_back(std::string(key) + " is not a string: " + obj[key].dump());
    }
  };
  expect_int("http.response.status_code");
  expect_int("server.port");
  expect_int("client.port");
  for (const char* k : {"http.request.method", "url.path", "server.address", "client.address",
                        "network.protocol.version", "user_agent.original"}) {
    expect_str(a, k);
  }
  const auto& r = s.resource;
  if (s.service().empty()) p.push_back("resource service.name missing or empty");
  if (s.pid() <= 0) p.push_back("resource process.pid missing or not a positive integer");
  for (const char* k : {"process.executable.name", "process.command_line", "host.name"}) {
    if (!r.contains(k)) p.push_back(std::string("resource ") + k + " missing");
    expect_str(r, k);
  }
  return p;
}

std::string describe(const std::vector<Span>& spans) {
  if (spans.empty()) return "  (no spans)\n";
  std::string s;
  for (const auto& span : sorted_by_start(spans)) s += "  " + span.describe() + "\n";
  return s;
}

std::vector<Span> of_kind(const std::vector<Span>& spans, std::string_view kind) {
  std::vector<Span> out;
  std::copy_if(spans.begin(), spans.end(), std::back_inserter(out),
               [&](const Span& s) { return s.kind == kind; });
  return out;
}

std::vector<Span> of_pid(const std::vector<Span>& spans, pid_t pid) {
  std::vector<Span> out;
  std::copy_if(spans.begin(), spans.end(), std::back_inserter(out),
               [&](const Span& s) { return s.pid() == pid; });
  return out;
}

std::vector<Span> with_path(const std::vector<Span>& spans, std::string_view path) {
  std::vector<Span> out;
  std::copy_if(spans.begin(), spans.end(), std::back_inserter(out),
               [&](const Span& s) { return s.path() == path; });
  return out;
}

std::vector<Span> sorted_by_start(std::vector<Span> spans) {
  std::stable_sort(spans.begin(), spans.end(),
                   [](const Span& a, const Span& b) { return a.start_ns < b.start_ns; });
  return spans;
}

// ---------------------------------------------------------------------------------------
// Agent

namespace {

ProcessOptions agent_process(const fs::path& dir, const AgentOptions& o, const fs::path& jsonl) {
  ProcessOptions p;
  p.argv = {agent_path().string(), "run"};
  for (int port : o.ports) p.argv.insert(p.argv.end(), {"--port", std::to_string(port)});
  for (pid_t pid : o.pids) p.argv.insert(p.argv.end(), {"--pid", std::to_string(pid)});
  for (const auto& exe : o.exes) p.argv.insert(p.argv.end(), {"--exe", exe});
  p.argv.insert(p.argv.end(), {"--jsonl", jsonl.string()});
  if (!o.console) p.argv.push_back("--no-console");
  // The agent logs at info by default; the CLI test checks --log-level itself.
  if (const std::string level = env_or("ZTRACE_E2E_LOG_LEVEL", ""); !level.empty()) {
    p.argv.insert(p.argv.end(), {"--log-level", level});
  }
  p.argv.insert(p.argv.end(), o.extra_args.begin(), o.extra_args.end());
  p.stdout_path = dir / "agent.stdout";
  p.stderr_path = dir / "agent.log";
  if (!fs::exists(p.argv[0])) {
    throw std::runtime_error("agent binary not found: " + p.argv[0] +
                             " (build the 'ztrace' target first)");
  }
  return p;
}

}  // namespace

Agent::Agent(const fs::path& dir, AgentOptions options)
    : jsonl_(options.jsonl_path.empty() ? dir / "spans.jsonl" : options.jsonl_path),
      process_(agent_process(dir, options, jsonl_)) {
  const bool ready =
      wait_until([&] { return !process_.running() || log().find("ready") != std::string::npos; },
                 options.ready_timeout);
  if (!ready || !process_.running()) {
    std::string why = ready ? "agent exited before logging 'ready'"
                            : "agent did not log 'ready' within " +
                                  std::to_string(options.ready_timeout.count()) + " ms";
    process_.stop(2s);
    throw std::runtime_error(why + "\n" + process_.describe());
  }
}

Agent::~Agent() = default;

int Agent::stop(std::chrono::milliseconds timeout, int sig) {
  if (!process_.running()) return process_.wait_exit(0ms).value_or(-1);
  process_.signal(sig);
  auto code = process_.wait_exit(timeout);
  if (!code) {
    process_.stop(1s);
    return -1;
  }
  return *code;
}

std::vector<Span> Agent::spans(std::vector<std::string>& problems) const {
  return load_spans(jsonl_, problems);
}

std::string Agent::log() const { return process_.stderr_text(); }
std::string Agent::log_tail(size_t max_bytes) const { return tail(log(), max_bytes); }

// ---------------------------------------------------------------------------------------
// Peers built from source once

BuildLock::BuildLock(const fs::path& dir) {
  fs::create_directories(dir);
  fd_ = open((dir / ".build.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ >= 0) flock(fd_, LOCK_EX);
}
BuildLock::~BuildLock() {
  if (fd_ >= 0) close(fd_);
}

bool up_to_date(const fs::path& out, const fs::path& src) {
  std::error_code ec;
  return fs::exists(out, ec) && fs::last_write_time(out, ec) >= fs::last_write_time(src, ec);
}

fs::path go_tool() {
  fs::path configured = env_or("ZTRACE_E2E_GO", ZTRACE_E2E_GO_DEFAULT);
  if (fs::exists(configured)) return configured;
  return resolve_program("go");
}

fs::path build_go_peer(const fs::path& src, const std::string& name, std::chrono::seconds timeout,
                       const std::string& extra_gopath) {
  const fs::path dir = scratch_dir() / "peers";
  const fs::path out = dir / name;
  BuildLock lock(dir);
  if (up_to_date(out, src)) return out;
  const fs::path tmp = dir / (name + ".tmp");
  std::string gopath = (dir / "gopath").string();
  if (!extra_gopath.empty()) gopath += ":" + extra_gopath;
  auto r =
      run_command(dir, {go_tool().string(), "build", "-o", tmp.string(), src.string()}, timeout,
                  {{"GOTOOLCHAIN", "local"},
                   {"GOPROXY", "off"},
                   {"GO111MODULE", "off"},
                   {"GOFLAGS", ""},
                   {"CGO_ENABLED", "0"},
                   {"GOCACHE", (dir / "gocache").string()},
                   {"GOPATH", gopath}});
  if (r.exit_code != 0) throw std::runtime_error("building " + name + " failed:\n" + r.describe);
  fs::rename(tmp, out);
  return out;
}

fs::path go_peer() {
  return build_go_peer(peers_dir() / "go" / "main.go", "ztrace-e2e-gopeer", 300s);
}

fs::path java_classes() {
  const fs::path dir = scratch_dir() / "peers";
  const fs::path src = peers_dir() / "java" / "Peer.java";
  const fs::path classes = dir / "java";
  BuildLock lock(dir);
  if (up_to_date(classes / "Peer.class", src)) return classes;
  fs::create_directories(classes);
  auto r = run_command(dir, {"javac", "-d", classes.string(), src.string()}, 120s);
  if (r.exit_code != 0) throw std::runtime_error("javac failed:\n" + r.describe);
  return classes;
}

fs::path python3() {
  // A shim (pyenv) would make the traced process a shell script's child; use the real one.
  for (const char* p : {"/usr/bin/python3", "/usr/local/bin/python3"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return resolve_program("python3");
}

// ---------------------------------------------------------------------------------------
// Catch2 glue

std::vector<Span> stop_and_collect(Agent& agent) {
  const int code = agent.stop();
  std::vector<std::string> problems;
  std::vector<Span> spans = agent.spans(problems);
  {
    INFO("agent log (tail):\n" << agent.log_tail());
    CHECK(code == 0);  // SIGINT must flush and exit 0
    for (const auto& p : problems) FAIL_CHECK(p);
  }
  for (const auto& s : spans) {
    for (const auto& p : shape_problems(s)) FAIL_CHECK(s.describe() << "\n  -> " << p);
  }
  return spans;
}

void check_encloses(const Span& client, const Span& server) {
  INFO("client: " << client.describe());
  INFO("server: " << server.describe());
  CHECK(client.start_ns <= server.start_ns);
  CHECK(server.end_ns <= client.end_ns);
}

std::optional<Span> expect_one(const std::vector<Span>& spans, std::string_view kind,
                               const HttpExpect& e) {
  std::vector<Span> found = with_path(of_kind(spans, kind), e.path);
  INFO("expected one " << kind << " span for " << e.method << " " << e.path << " -> " << e.status);
  CHECK(found.size() == 1);
  if (found.size() != 1) return std::nullopt;
  const Span& s = found[0];
  INFO("span: " << s.describe());
  CHECK(s.name == e.method);
  CHECK(s.method() == e.method);
  CHECK(s.status() == e.status);
  CHECK(s.attr_str("server.address") == std::optional<std::string>("127.0.0.1"));
  CHECK(s.server_port() == e.port);
  CHECK(s.attr_str("network.protocol.version") == std::optional<std::string>(e.version));
  if (kind == "SERVER") {
    CHECK(s.attr_str("client.address") == std::optional<std::string>("127.0.0.1"));
    const int64_t client_port = s.attr_int("client.port").value_or(-1);
    CHECK(client_port > 0);
    CHECK(client_port <= 65535);
    CHECK(client_port != e.port);
  }
  const bool error = e.status >= 500 || (kind == "CLIENT" && e.status >= 400);
  CHECK(s.status_code == (error ? "ERROR" : "UNSET"));
  return s;
}

void check_resource(const Span& span, pid_t pid, std::string_view service, std::string_view runtime,
                    std::string_view executable) {
  INFO("span: " << span.describe());
  INFO("resource: " << span.resource.dump());
  CHECK(span.pid() == pid);
  if (!service.empty()) CHECK(span.service() == service);
  if (!runtime.empty()) {
    CHECK(span.res_str("process.runtime.name") == std::optional<std::string>(runtime));
  }
  if (!executable.empty()) {
    CHECK(span.res_str("process.executable.name") == std::optional<std::string>(executable));
  }
  CHECK(span.res_str("host.name") == std::optional<std::string>(host_name()));
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = read_file(entry.path() / "stat");
    // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream ss(stat.substr(close + 1));
    char state;
    pid_t ppid = 0;
    ss >> state >> ppid;
    if (ppid == pid) out.push_back(std::stoi(name));
  }
  return out;
}

}  // namespace ztrace::e2e
