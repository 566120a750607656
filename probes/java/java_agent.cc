#include "probes/java/java_agent.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "probes/java/jvm_attach.h"

namespace ztrace::probes::java {
namespace {

using namespace std::chrono_literals;

constexpr auto kStartupWait = 30s;  // a new JVM gets this long to install its SIGQUIT handler
constexpr auto kStartupPoll = 200ms;
// A JVM attached while it is still starting may fail the load (seen: an exception from the
// instrument library before the system class loader is up): tried again this often.
constexpr int kLoadAttempts = 3;
constexpr size_t kMaxRemembered = 4096;  // JVMs whose outcome is kept; exited ones go first
constexpr auto kLoadRetryDelay = 1s;
constexpr const char* kStageDir = ".ztrace-jsse";  // in the JVM's /tmp

std::string read_file(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  std::string s(limit, '\0');
  in.read(s.data(), static_cast<std::streamsize>(limit));
  s.resize(in.gcount());
  return s;
}

// Why this JVM must not be attached, "" when it may: turned off in the JVM itself
// (ZTRACE_JAVA=off in its environment, -Dztrace.java=off), or its attach mechanism off
// (-XX:+DisableAttachMechanism on its command line or in JAVA_TOOL_OPTIONS /
// JDK_JAVA_OPTIONS): SIGQUIT would then only print a thread dump on its stdout.
std::string reason_to_leave_alone(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/";
  std::string env = read_file(dir + "environ", 1 << 20);
  std::string cmdline = read_file(dir + "cmdline", 1 << 16);
  for (std::string* s : {&env, &cmdline}) {
    for (char& c : *s) c = c == '\0' ? '\n' : c;
    *s = "\n" + *s;
  }
  if (env.find("\nZTRACE_JAVA=off\n") != std::string::npos ||
      cmdline.find("\n-Dztrace.java=off\n") != std::string::npos) {
    return "off in this JVM (ZTRACE_JAVA=off or -Dztrace.java=off)";
  }
  if (cmdline.find("\n-XX:+DisableAttachMechanism\n") != std::string::npos ||
      env.find("-XX:+DisableAttachMechanism") != std::string::npos) {
    return "the JVM refuses attach (-XX:+DisableAttachMechanism)";
  }
  return "";
}

// Copies `from` into `dir_fd` as `name` (0644, owned by ztrace) unless a file of that size is
// there; written under a temporary name and renamed, never through a link.
std::string copy_into(const std::string& from, int dir_fd, const std::string& name) {
  struct stat src, dst;
  if (stat(from.c_str(), &src) != 0) return "missing " + from;
  if (fstatat(dir_fd, name.c_str(), &dst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(dst.st_mode) &&
      dst.st_size == src.st_size && dst.st_mtime >= src.st_mtime && dst.st_uid == 0) {
    return "";
  }
  std::ifstream in(from, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string temp = name + ".tmp" + std::to_string(getpid());
  unlinkat(dir_fd, temp.c_str(), 0);
  const int fd =
      openat(dir_fd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot write " + name + ": " + std::strerror(errno);
  const bool ok = write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  fchmod(fd, 0644);
  close(fd);
  if (!ok || renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0) {
    unlinkat(dir_fd, temp.c_str(), 0);
    return "cannot write " + name;
  }
  return "";
}

}  // namespace

bool is_jvm(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/";
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink(dir + "exe", ec);
  if (!ec && exe.filename() == "java") return true;
  std::ifstream maps(dir + "maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.ends_with("/libjvm.so")) return true;
  }
  return false;
}

JavaAgentLoader::JavaAgentLoader(JavaAgentSettings settings,
                                 std::function<std::string()> attach_handoff)
    : settings_(std::move(settings)), attach_handoff_(std::move(attach_handoff)) {
  worker_ = std::thread([this] { worker(); });
}

JavaAgentLoader::~JavaAgentLoader() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  abandon_attach_ = true;
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::string JavaAgentLoader::default_agent_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "java" : (exe.parent_path() / "java").string();
}

void JavaAgentLoader::consider(pid_t pid, bool just_started) {
  {
    std::lock_guard lock(mu_);
    if (just_started) {
      done_.erase(pid);
      waiting_since_.erase(pid);
      load_attempts_.erase(pid);
    } else if (done_.count(pid)) {
      return;
    }
    queue_.emplace_back(Clock::now(), pid);
  }
  wake_.notify_one();
}

void JavaAgentLoader::worker() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      wake_.wait(lock);
      continue;
    }
    auto next = std::min_element(queue_.begin(), queue_.end());
    if (next->first > Clock::now()) {
      wake_.wait_until(lock, next->first);
      continue;
    }
    const pid_t pid = next->second;
    queue_.erase(next);
    if (done_.count(pid)) continue;
    lock.unlock();
    attach(pid);
    lock.lock();
  }
}

// Drops the outcomes of JVMs that have exited (mu_ held), and all of them if none has.
void JavaAgentLoader::forget_exited() {
  std::erase_if(done_, [](const auto& entry) {
    return access(("/proc/" + std::to_string(entry.first)).c_str(), F_OK) != 0;
  });
  if (done_.size() >= kMaxRemembered) done_.clear();
}

// On the worker thread. Every outcome but "not ready yet" is final for this pid.
void JavaAgentLoader::attach(pid_t pid) {
  auto finish = [&](const std::string& why) {
    std::lock_guard lock(mu_);
    if (done_.size() >= kMaxRemembered) forget_exited();
    done_[pid] = why;
    waiting_since_.erase(pid);
    load_attempts_.erase(pid);
  };
  if (!is_jvm(pid)) {  // not remembered: only JVMs take room in done_
    std::lock_guard lock(mu_);
    waiting_since_.erase(pid);
    load_attempts_.erase(pid);
    return;
  }
  if (!catches_sigquit(pid)) {
    std::lock_guard lock(mu_);
    auto since = waiting_since_.try_emplace(pid, Clock::now()).first->second;
    if (Clock::now() - since < kStartupWait) {
      queue_.emplace_back(Clock::now() + kStartupPoll, pid);
      return;
    }
  }
  std::string why;
  why = reason_to_leave_alone(pid);
  if (why.empty()) {
    if (!handoff_tried_) {
      handoff_tried_ = true;
      handoff_error_ = attach_handoff_();
    }
    if (!handoff_error_.empty()) {
      why = handoff_error_;
    } else {
      const std::string staged = stage(pid, &why);
      if (!staged.empty()) {
        const pid_t nspid = namespace_pid(pid);
        why = load_agent(
            {pid, nspid ? nspid : pid}, staged + "/ztrace-jsse.jar",
            "boot=" + staged + "/ztrace-jsse-boot.jar,native=" + staged + "/libztrace_jsse.so",
            settings_.attach_timeout, abandon_attach_);
      }
    }
  }
  if (why.starts_with(kRefusedPrefix)) {
    std::lock_guard lock(mu_);
    if (++load_attempts_[pid] < kLoadAttempts) {
      queue_.emplace_back(Clock::now() + kLoadRetryDelay, pid);
      return;
    }
  }
  if (why.empty()) {
    spdlog::info("java: TLS agent loaded into pid {}", pid);
  } else {
    spdlog::warn("java: no TLS agent in pid {} ({}); it stays traced at the syscall layer", pid,
                 why);
  }
  finish(why);
}

std::string JavaAgentLoader::stage(pid_t pid, std::string* error) {
  const std::string root = "/proc/" + std::to_string(pid) + "/root";
  const int root_fd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return *error = "cannot open " + root + ": " + std::strerror(errno), "";
  // /tmp as the JVM sees it: links inside its root resolve inside it, never to ztrace's files.
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const int tmp_fd = static_cast<int>(syscall(SYS_openat2, root_fd, "tmp", &how, sizeof(how)));
  close(root_fd);
  if (tmp_fd < 0)
    return *error = std::string("no /tmp in the JVM's root: ") + std::strerror(errno), "";
  mkdirat(tmp_fd, kStageDir, 0755);
  const int dir_fd = openat(tmp_fd, kStageDir, O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC);
  close(tmp_fd);
  struct stat st;
  if (dir_fd < 0 || fstat(dir_fd, &st) != 0 || st.st_uid != 0 || (st.st_mode & 022)) {
    if (dir_fd >= 0) close(dir_fd);
    return *error = std::string("/tmp/") + kStageDir + " in the JVM's root is not ztrace's", "";
  }
  fchmod(dir_fd, 0755);
  const std::string& dir = settings_.agent_dir;
  const std::pair<std::string, std::string> files[] = {
      {dir + "/ztrace-jsse.jar", "ztrace-jsse.jar"},
      {dir + "/ztrace-jsse-boot.jar", "ztrace-jsse-boot.jar"},
      {dir + "/libztrace_jsse.so", "libztrace_jsse.so"},
      {settings_.byte_buddy_jar, "byte-buddy.jar"}};
  for (const auto& [from, name] : files) {
    *error = copy_into(from, dir_fd, name);
    if (!error->empty()) {
      if (from == settings_.byte_buddy_jar) *error += " (install libbyte-buddy-java)";
      close(dir_fd);
      return "";
    }
  }
  close(dir_fd);
  return std::string("/tmp/") + kStageDir;
}

}  // namespace ztrace::probes::java
