#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "userspace/process/process_info.h"
#include "userspace/process/process_table.h"
#include "userspace/process/secret_scrubber.h"
#include "userspace/process/selection.h"

extern char** environ;

namespace ztrace::process {
namespace {

namespace fs = std::filesystem;

const spans::AttributeValue* find_attribute(const spans::Resource& resource, std::string_view key) {
  for (const spans::Attribute& attribute : resource.attributes) {
    if (attribute.key == key) return &attribute.value;
  }
  return nullptr;
}

std::string string_attribute(const spans::Resource& resource, std::string_view key) {
  const spans::AttributeValue* value = find_attribute(resource, key);
  if (value == nullptr) return "<missing>";
  if (const auto* s = std::get_if<std::string>(value)) return *s;
  return "<not a string>";
}

std::string read_link(const std::string& path) {
  std::error_code error;
  return fs::read_symlink(path, error).string();
}

std::string base_name(const std::string& path) { return fs::path(path).filename().string(); }

// A child process in its own process group, killed with the group on destruction.
class Child {
 public:
  // Empty `env`: inherit the test's environment.
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    std::vector<char*> argv_ptrs;
    for (const auto& arg : argv) argv_ptrs.push_back(const_cast<char*>(arg.c_str()));
    argv_ptrs.push_back(nullptr);
    std::vector<char*> env_ptrs;
    for (const auto& entry : env) env_ptrs.push_back(const_cast<char*>(entry.c_str()));
    env_ptrs.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // stdin stays open (a pipe nobody writes) so interactive tools like jshell wait.
    if (pipe(stdin_pipe_) == 0) {
      posix_spawn_file_actions_adddup2(&actions, stdin_pipe_[0], 0);
    }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);
    pid_t pid = -1;
    if (posix_spawnp(&pid, argv[0].c_str(), &actions, &attributes, argv_ptrs.data(),
                     env.empty() ? environ : env_ptrs.data()) == 0) {
      pid_ = pid;
    }
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }

  ~Child() {
    if (pid_ > 0) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (int fd : stdin_pipe_) {
      if (fd >= 0) close(fd);
    }
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_pipe_[2] = {-1, -1};
};

// Polls build_resource until `done` holds or `timeout` passes; returns the last resource.
template <typename Predicate>
spans::Resource wait_for_resource(pid_t pid, Predicate done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const ResourceOptions options;
  spans::Resource resource = build_resource(pid, options);
  while (!done(resource) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    resource = build_resource(pid, options);
  }
  return resource;
}

// ---------------------------------------------------------------- secret scrubbing

TEST_CASE("secret scrubbing of single arguments", "[process]") {
  struct Case {
    std::string_view arg;
    std::string_view expected;
  };
  const Case cases[] = {
      {"--password=hunter2", "--password=REDACTED"},
      {"--db-passwd=x", "--db-passwd=REDACTED"},
      {"-Dsecret.key=abc", "-Dsecret.key=REDACTED"},
      {"-Djavax.net.ssl.keyStorePassword=changeit", "-Djavax.net.ssl.keyStorePassword=REDACTED"},
      {"PGPASSWORD=s3cr3t", "PGPASSWORD=REDACTED"},
      {"api_key=k", "api_key=REDACTED"},
      {"--api-key=k", "--api-key=REDACTED"},
      {"X_APIKEY=k", "X_APIKEY=REDACTED"},
      {"token:abc", "token:REDACTED"},
      {"--auth-header=Bearer x", "--auth-header=REDACTED"},
      {"--private-key=/etc/key.pem", "--private-key=REDACTED"},
      {"AWS_CREDENTIALS=x", "AWS_CREDENTIALS=REDACTED"},
      {"MYSQL_PWD=x", "MYSQL_PWD=REDACTED"},
      {"--header=Authorization: Bearer abc", "--header=Authorization:REDACTED"},
      {"Cookie: session=abc", "Cookie: session=REDACTED"},
      {"cookie:abc", "cookie:REDACTED"},
      {"postgres://app:s3cret@db:5432/orders", "postgres://app:REDACTED@db:5432/orders"},
      {"--url=https://user:p%40ss@example.com/x?y=1",
       "--url=https://user:REDACTED@example.com/x?y=1"},
      {"redis://:onlypass@cache:6379", "redis://:REDACTED@cache:6379"},
      {"http://user@host/path", "http://user@host/path"},
      {"http://host:8080/a:b", "http://host:8080/a:b"},
      {"--port=8080", "--port=8080"},
      {"-Dserver.port=8080", "-Dserver.port=8080"},
      {"localhost:5432", "localhost:5432"},
      {"app.py", "app.py"},
      {"", ""},
  };
  for (const Case& c : cases) {
    INFO(c.arg);
    CHECK(scrub_arg(c.arg) == c.expected);
  }
}

TEST_CASE("secret scrubbing of command lines", "[process]") {
  struct Case {
    std::vector<std::string> args;
    std::string_view expected;
  };
  const Case cases[] = {
      {{"psql", "--password", "hunter2", "-h", "db"}, "psql --password REDACTED -h db"},
      {{"app", "--token", "abc", "--verbose"}, "app --token REDACTED --verbose"},
      {{"app", "--no-auth", "--port", "80"}, "app --no-auth --port 80"},
      {{"app", "--secret"}, "app --secret"},
      {{"java", "-Ddb.password=x", "-jar", "app.jar"}, "java -Ddb.password=REDACTED -jar app.jar"},
      {{"python3", "", "x"}, "python3  x"},
      {{"curl", "https://u:p@h/"}, "curl https://u:REDACTED@h/"},
  };
  for (const Case& c : cases) {
    INFO(c.expected);
    CHECK(scrub_command_line(c.args) == c.expected);
  }
  CHECK(is_secret_key("Api-Key"));
  CHECK(is_secret_key("OAUTH_CLIENT"));
  CHECK_FALSE(is_secret_key("--port"));
  CHECK_FALSE(is_secret_key("user"));
}

// ---------------------------------------------------------------- OTEL_RESOURCE_ATTRIBUTES

TEST_CASE("OTEL_RESOURCE_ATTRIBUTES parsing", "[process]") {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(parse_resource_attributes("") == Pairs{});
  CHECK(parse_resource_attributes("a=1") == Pairs{{"a", "1"}});
  CHECK(parse_resource_attributes(" a = 1 ,b=x%2Cy,c=%20sp%20,") ==
        Pairs{{"a", "1"}, {"b", "x,y"}, {"c", " sp "}});
  CHECK(parse_resource_attributes("deployment.environment=prod,team=a%3Db") ==
        Pairs{{"deployment.environment", "prod"}, {"team", "a=b"}});
  CHECK(parse_resource_attributes("k=") == Pairs{{"k", ""}});
  CHECK_FALSE(parse_resource_attributes("novalue").has_value());
  CHECK_FALSE(parse_resource_attributes("a=1,=2").has_value());
  CHECK_FALSE(parse_resource_attributes("a=%zz").has_value());
  CHECK_FALSE(parse_resource_attributes("a=%4").has_value());
}

// ---------------------------------------------------------------- resources of real processes

TEST_CASE("resource of the test process itself", "[process]") {
  ResourceOptions options;
  options.host_name = "node-7";
  const spans::Resource resource = build_resource(getpid(), options);
  const std::string exe_path = read_link("/proc/self/exe");
  REQUIRE_FALSE(exe_path.empty());

  REQUIRE_FALSE(resource.attributes.empty());
  CHECK(resource.attributes[0].key == "service.name");
  CHECK(string_attribute(resource, "service.name") == base_name(exe_path));
  CHECK(string_attribute(resource, "host.name") == "node-7");
  const spans::AttributeValue* pid = find_attribute(resource, "process.pid");
  REQUIRE(pid != nullptr);
  CHECK(std::get<int64_t>(*pid) == getpid());
  CHECK(string_attribute(resource, "process.executable.name") == base_name(exe_path));
  CHECK(string_attribute(resource, "process.executable.path") == exe_path);

  std::ifstream cmdline_file("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(cmdline_file, arg, '\0');) args.push_back(arg);
  CHECK(string_attribute(resource, "process.command_line") == scrub_command_line(args));
  // A C++ binary: no runtime to report.
  CHECK(find_attribute(resource, "process.runtime.name") == nullptr);
  CHECK(find_attribute(resource, "service.instance.id") == nullptr);
}

TEST_CASE("resource of a child started with OTEL_* environment", "[process]") {
  Child child({"sh", "-c", "sleep 30; :", "sh", "--password", "hunter2",
               "postgres://app:s3cret@db:5432/orders"},
              {"PATH=/usr/bin:/bin", "OTEL_SERVICE_NAME=checkout",
               "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod%2Ceu, service.name=ignored,"
               "team=a%20b,host.name=from-env"});
  REQUIRE(child.pid() > 0);
  ResourceOptions options;
  options.host_name = "node-7";
  options.add_service_instance_id = true;
  // posix_spawn returns once the exec has switched the executable, which can be before argv
  // and environment are in place.
  bool settled = false;
  spans::Resource resource = build_resource(child.pid(), options, &settled);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!settled && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    resource = build_resource(child.pid(), options, &settled);
  }
  REQUIRE(settled);
  const std::string exe_path = read_link("/proc/" + std::to_string(child.pid()) + "/exe");
  REQUIRE_FALSE(exe_path.empty());

  CHECK(string_attribute(resource, "service.name") == "checkout");
  CHECK(string_attribute(resource, "deployment.environment") == "prod,eu");
  CHECK(string_attribute(resource, "team") == "a b");
  CHECK(string_attribute(resource, "host.name") == "from-env");
  CHECK(std::get<int64_t>(*find_attribute(resource, "process.pid")) == child.pid());
  CHECK(string_attribute(resource, "process.executable.name") == base_name(exe_path));
  CHECK(string_attribute(resource, "process.executable.path") == exe_path);
  CHECK(string_attribute(resource, "process.command_line") ==
        "sh -c sleep 30; : sh --password REDACTED postgres://app:REDACTED@db:5432/orders");
  CHECK(find_attribute(resource, "process.runtime.name") == nullptr);
  const std::string instance_id = string_attribute(resource, "service.instance.id");
  REQUIRE(instance_id.size() == 36);
  CHECK(instance_id[14] == '4');
  CHECK(instance_id[8] == '-');
}

TEST_CASE("runtime detection: python3", "[process]") {
  Child child({"python3", "-c", "import time; time.sleep(30)"}, {});
  if (child.pid() <= 0) SKIP("python3 not installed");
  // Version managers (pyenv) start a shell shim that execs python: wait for the exec.
  const spans::Resource resource = wait_for_resource(
      child.pid(),
      [](const spans::Resource& r) {
        return string_attribute(r, "process.executable.name").starts_with("python");
      },
      std::chrono::seconds(10));
  REQUIRE(string_attribute(resource, "process.executable.name").starts_with("python"));
  CHECK(string_attribute(resource, "process.runtime.name") == "python");
}

TEST_CASE("runtime detection: java", "[process]") {
  const fs::path dir = fs::temp_directory_path() / ("ztrace-java-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path source = dir / "Sleep.java";
  std::ofstream(source) << "public class Sleep { public static void main(String[] a) "
                           "throws Exception { Thread.sleep(30000); } }\n";
  {
    Child child({"java", source.string()}, {});
    if (child.pid() <= 0) {
      fs::remove_all(dir);
      SKIP("java not installed");
    }
    const spans::Resource resource = build_resource(child.pid(), {});
    CHECK(string_attribute(resource, "process.executable.name") == "java");
    CHECK(string_attribute(resource, "process.runtime.name") == "java");
    CHECK(string_attribute(resource, "service.name") == "java");
  }
  fs::remove_all(dir);
}

TEST_CASE("runtime detection: JVM embedded in another launcher (libjvm in maps)", "[process]") {
  Child child({"jshell"}, {});
  if (child.pid() <= 0) SKIP("jshell not installed");
  const spans::Resource resource = wait_for_resource(
      child.pid(),
      [](const spans::Resource& r) { return find_attribute(r, "process.runtime.name") != nullptr; },
      std::chrono::seconds(15));
  CHECK(string_attribute(resource, "process.executable.name") == "jshell");
  CHECK(string_attribute(resource, "process.runtime.name") == "java");
}

// Copies `sleep` with an extra section: a real process whose ELF looks like Go to the detector.
std::optional<fs::path> make_elf_with_section(const fs::path& dir, const std::string& section,
                                              const std::string& content) {
  const std::string sleep_path = fs::exists("/usr/bin/sleep") ? "/usr/bin/sleep" : "/bin/sleep";
  const fs::path data = dir / "section.bin";
  std::ofstream(data, std::ios::binary) << content;
  const fs::path out = dir / ("elf" + section);
  const std::string command = "objcopy --add-section " + section + "=" + data.string() + " " +
                              sleep_path + " " + out.string() + " 2>/dev/null";
  if (std::system(command.c_str()) != 0) return std::nullopt;
  return out;
}

bool is_go_file(const fs::path& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool go = is_go_elf(fd);
  close(fd);
  return go;
}

TEST_CASE("runtime detection: Go binaries through libelf", "[process]") {
  const fs::path dir = fs::temp_directory_path() / ("ztrace-go-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const auto buildinfo =
      make_elf_with_section(dir, ".go.buildinfo", std::string("\xff Go buildinf:", 14));
  if (!buildinfo) {
    fs::remove_all(dir);
    SKIP("objcopy not available");
  }
  // A Go build-id note in a section whose name says nothing: namesz 3, descsz 4, type 4, "Go".
  std::string note;
  for (uint32_t word : {3u, 4u, 4u}) note.append(reinterpret_cast<const char*>(&word), 4);
  note.append("Go\0\0abcd", 8);
  const auto go_note = make_elf_with_section(dir, ".note.zz", note);
  REQUIRE(go_note.has_value());
  std::string other_note;
  for (uint32_t word : {4u, 4u, 3u}) other_note.append(reinterpret_cast<const char*>(&word), 4);
  other_note.append("GNU\0abcd", 8);
  const auto gnu_note = make_elf_with_section(dir, ".note.yy", other_note);
  REQUIRE(gnu_note.has_value());

  CHECK(is_go_file(*buildinfo));
  CHECK(is_go_file(*go_note));
  CHECK_FALSE(is_go_file(*gnu_note));
  CHECK_FALSE(is_go_file("/proc/self/exe"));
  CHECK_FALSE(is_go_file(dir / "section.bin"));  // not an ELF at all

  {
    Child child({buildinfo->string(), "30"}, {"PATH=/usr/bin:/bin"});
    REQUIRE(child.pid() > 0);
    const spans::Resource resource = build_resource(child.pid(), {});
    CHECK(string_attribute(resource, "process.executable.path") == buildinfo->string());
    CHECK(string_attribute(resource, "process.runtime.name") == "go");
  }
  fs::remove_all(dir);
}

TEST_CASE("runtime from executable name", "[process]") {
  CHECK(runtime_from_executable_name("java") == "java");
  CHECK(runtime_from_executable_name("node") == "node");
  CHECK(runtime_from_executable_name("nodejs") == "node");
  CHECK(runtime_from_executable_name("python3.11") == "python");
  CHECK(runtime_from_executable_name("python") == "python");
  CHECK(runtime_from_executable_name("javac") == "");
  CHECK(runtime_from_executable_name("nginx") == "");
}

TEST_CASE("start time of this process is stable and readable", "[process]") {
  const auto first = read_start_time_ticks(getpid());
  REQUIRE(first.has_value());
  CHECK(*first > 0);
  CHECK(read_start_time_ticks(getpid()) == first);
  CHECK_FALSE(read_start_time_ticks(0x3fffffff).has_value());
}

// ---------------------------------------------------------------- fake /proc

// A /proc look-alike in a temporary directory: pid reuse and vanished processes on demand.
class FakeProc {
 public:
  FakeProc() : root_(fs::temp_directory_path() / ("ztrace-proc-" + std::to_string(getpid()))) {
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  ~FakeProc() { fs::remove_all(root_); }

  // stat line with `comm` (may hold spaces and parentheses) and field 22 = start_ticks.
  void add(pid_t pid, uint64_t start_ticks, const std::string& comm, const std::string& environ,
           bool with_exe = true) {
    const fs::path dir = root_ / std::to_string(pid);
    fs::create_directories(dir);
    std::string stat = std::to_string(pid) + " (" + comm + ") S";
    for (int field = 4; field <= 52; ++field) {
      stat += ' ';
      stat += field == 22 ? std::to_string(start_ticks) : std::to_string(field);
    }
    std::ofstream(dir / "stat") << stat << "\n";
    std::ofstream(dir / "comm") << comm << "\n";
    std::ofstream(dir / "environ", std::ios::binary) << environ;
    std::ofstream(dir / "cmdline", std::ios::binary) << std::string("app\0--token\0t0k\0", 16);
    fs::remove(dir / "exe");
    if (with_exe) {
      fs::create_symlink(fs::exists("/usr/bin/sleep") ? "/usr/bin/sleep" : "/bin/sleep",
                         dir / "exe");
    }
  }
  void remove(pid_t pid) { fs::remove_all(root_ / std::to_string(pid)); }
  void set_cmdline(pid_t pid, const std::string& cmdline) {
    std::ofstream(root_ / std::to_string(pid) / "cmdline", std::ios::binary) << cmdline;
  }
  std::string root() const { return root_.string(); }

 private:
  fs::path root_;
};

TEST_CASE("start time parsing survives odd comm values", "[process]") {
  FakeProc proc;
  proc.add(4242, 987654, "a) b (c) 1 2", "");
  CHECK(read_start_time_ticks(4242, proc.root()) == 987654u);
  CHECK_FALSE(read_start_time_ticks(4243, proc.root()).has_value());
}

TEST_CASE("minimal resource when the executable cannot be read", "[process]") {
  FakeProc proc;
  proc.add(100, 5, "kworker/0:1", "", /*with_exe=*/false);
  ResourceOptions options;
  options.proc_root = proc.root();
  options.host_name = "h";
  const spans::Resource resource = build_resource(100, options);
  CHECK(string_attribute(resource, "service.name") == "kworker/0:1");
  CHECK(string_attribute(resource, "host.name") == "h");
  CHECK(std::get<int64_t>(*find_attribute(resource, "process.pid")) == 100);
  CHECK(find_attribute(resource, "process.executable.name") == nullptr);
  CHECK(resource.attributes.size() == 3);

  const spans::Resource vanished = build_resource(101, options);
  CHECK(string_attribute(vanished, "service.name") == "unknown_service");
  CHECK(std::get<int64_t>(*find_attribute(vanished, "process.pid")) == 101);
}

TEST_CASE("ProcessTable never returns the resource of a previous pid owner", "[process]") {
  FakeProc proc;
  const std::string env_a("OTEL_SERVICE_NAME=svc-a\0", 24);
  const std::string env_b("OTEL_SERVICE_NAME=svc-b\0", 24);
  proc.add(4242, 100, "app", env_a);
  ProcessTableOptions options;
  options.resource.proc_root = proc.root();
  ProcessTable table(options);

  const auto first = table.get(4242);
  REQUIRE(first != nullptr);
  CHECK(string_attribute(*first, "service.name") == "svc-a");
  CHECK(string_attribute(*first, "process.command_line") == "app --token REDACTED");
  CHECK(table.get(4242) == first);  // cached: same instance
  CHECK(table.get(4242, 100) == first);
  CHECK(table.size() == 1);

  // The pid is reused by a new process.
  proc.add(4242, 200, "app", env_b);
  const auto second = table.get(4242);
  REQUIRE(second != nullptr);
  CHECK(second != first);
  CHECK(string_attribute(*second, "service.name") == "svc-b");
  CHECK(table.size() == 1);

  // A late event of the old process neither gets the new resource nor evicts it.
  const auto late = table.get(4242, 100);
  CHECK(late != second);
  CHECK(string_attribute(*late, "service.name") == "unknown_service");
  CHECK(table.get(4242) == second);

  // A newer start time than the cached one: the entry is stale, and /proc does not describe
  // the requested process either.
  const auto future = table.get(4242, 300);
  CHECK(string_attribute(*future, "service.name") == "unknown_service");
  CHECK(table.size() == 0);
  const auto rebuilt = table.get(4242);
  CHECK(rebuilt != second);
  CHECK(string_attribute(*rebuilt, "service.name") == "svc-b");

  table.forget(4242);
  CHECK(table.size() == 0);

  // Vanished: a fresh minimal resource, nothing cached.
  proc.remove(4242);
  const auto gone = table.get(4242);
  REQUIRE(gone != nullptr);
  CHECK(string_attribute(*gone, "service.name") == "unknown_service");
  CHECK(table.size() == 0);
}

TEST_CASE("ProcessTable re-reads a process caught inside execve", "[process]") {
  FakeProc proc;
  proc.add(77, 7, "app", std::string("OTEL_SERVICE_NAME=svc\0", 22));
  proc.set_cmdline(77, "");
  ProcessTableOptions options;
  options.resource.proc_root = proc.root();
  ProcessTable table(options);
  const auto early = table.get(77);
  CHECK(find_attribute(*early, "process.command_line") == nullptr);
  CHECK(table.get(77) != early);  // not trusted: rebuilt
  proc.set_cmdline(77, std::string("app\0", 4));
  const auto settled = table.get(77);
  CHECK(string_attribute(*settled, "process.command_line") == "app");
  CHECK(string_attribute(*settled, "service.name") == "svc");
  CHECK(table.get(77) == settled);
  CHECK(table.size() == 1);
}

TEST_CASE("ProcessTable believes an empty environment after the settle time", "[process]") {
  FakeProc proc;
  proc.add(78, 8, "app", "");  // e.g. started with `env -i`
  ProcessTableOptions options;
  options.resource.proc_root = proc.root();
  ProcessTable table(options);
  const auto first = table.get(78);
  CHECK(string_attribute(*first, "process.command_line") == "app --token REDACTED");
  CHECK(table.get(78) != first);
  std::this_thread::sleep_for(ProcessTable::kSettleTime + std::chrono::milliseconds(10));
  const auto settled = table.get(78);
  CHECK(table.get(78) == settled);
  CHECK(table.get(78) == settled);
}

TEST_CASE("ProcessTable is bounded and evicts the least recently used", "[process]") {
  FakeProc proc;
  proc.add(1, 10, "one", std::string("OTEL_SERVICE_NAME=one\0", 22));
  proc.add(2, 20, "two", std::string("OTEL_SERVICE_NAME=two\0", 22));
  proc.add(3, 30, "three", std::string("OTEL_SERVICE_NAME=three\0", 24));
  ProcessTableOptions options;
  options.resource.proc_root = proc.root();
  options.max_entries = 2;
  ProcessTable table(options);

  const auto one = table.get(1);
  const auto two = table.get(2);
  CHECK(table.get(1) == one);  // 2 is now the least recently used
  const auto three = table.get(3);
  CHECK(string_attribute(*three, "service.name") == "three");
  CHECK(table.size() == 2);
  CHECK(table.get(1) == one);
  CHECK(table.get(3) == three);
  CHECK(table.get(2) != two);  // evicted, rebuilt
}

// ---------------------------------------------------------------- selection

TEST_CASE("selection rules", "[process]") {
  SelectionRules none;
  CHECK(none.selects_all_processes());
  CHECK(none.matches_process(123, "/usr/bin/anything"));

  SelectionRules ports_only;
  ports_only.ports = {8080};
  CHECK(ports_only.selects_all_processes());

  SelectionRules rules;
  rules.pids = {42};
  rules.exe_globs = {"python3*", "*/jvm/*/bin/java", "/opt/app/server"};
  CHECK_FALSE(rules.selects_all_processes());
  CHECK(rules.matches_process(42, "/usr/bin/nginx"));
  CHECK(rules.matches_process(42, ""));
  CHECK(rules.matches_process(7, "/usr/bin/python3.11"));
  CHECK(rules.matches_process(7, "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"));
  CHECK(rules.matches_process(7, "/opt/app/server"));
  CHECK_FALSE(rules.matches_process(7, "/opt/app/server2"));
  CHECK_FALSE(rules.matches_process(7, "/usr/bin/python"));
  CHECK_FALSE(rules.matches_process(7, "/usr/bin/java"));
  CHECK_FALSE(rules.matches_process(7, ""));
}

TEST_CASE("matching_pids scans /proc", "[process]") {
  Child child({"sleep", "30"}, {"PATH=/usr/bin:/bin"});
  REQUIRE(child.pid() > 0);
  const auto contains = [](const std::vector<pid_t>& pids, pid_t pid) {
    return std::find(pids.begin(), pids.end(), pid) != pids.end();
  };

  SelectionRules by_glob;
  by_glob.exe_globs = {"sleep"};
  const auto sleepers = matching_pids(by_glob, getpid());
  CHECK(contains(sleepers, child.pid()));
  CHECK_FALSE(contains(sleepers, getpid()));
  CHECK(std::is_sorted(sleepers.begin(), sleepers.end()));

  SelectionRules by_pid;
  by_pid.pids = {getpid(), child.pid()};
  CHECK(matching_pids(by_pid, getpid()) == std::vector<pid_t>{child.pid()});

  SelectionRules all;
  const auto everything = matching_pids(all, getpid());
  CHECK(contains(everything, child.pid()));
  CHECK_FALSE(contains(everything, getpid()));

  FakeProc proc;
  proc.add(10, 1, "a", "");
  proc.add(11, 1, "kthread", "", /*with_exe=*/false);
  CHECK(matching_pids(all, 0, proc.root()) == std::vector<pid_t>{10});
  SelectionRules kernel_pid;
  kernel_pid.pids = {11};
  CHECK(matching_pids(kernel_pid, 0, proc.root()) == std::vector<pid_t>{11});
}

}  // namespace
}  // namespace ztrace::process
