#include "probes/java/jvm_attach.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace ztrace::probes::java {
namespace {

std::string proc_path(pid_t pid, const std::string& rest) {
  return "/proc/" + std::to_string(pid) + "/" + rest;
}

std::string status_field(pid_t pid, const std::string& name) {
  std::ifstream in(proc_path(pid, "status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":", 0) == 0) return line.substr(name.size() + 1);
  }
  return "";
}

// The listener's socket, when it is there and is a socket (a file a container planted under
// that name is not followed).
bool listener_ready(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

bool write_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

// The longest single wait, so that an abandoned attach ends soon.
constexpr std::chrono::milliseconds kLongestWait(100);

// Reads the reply until EOF, the deadline or `abandon`.
std::string read_reply(int fd, std::chrono::steady_clock::time_point deadline,
                       const std::atomic<bool>& abandon) {
  std::string reply;
  char buf[512];
  while (reply.size() < 4096 && !abandon) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::min(left, kLongestWait).count()));
    if (ready == 0) continue;
    if (ready < 0) break;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, n);
  }
  return reply;
}

}  // namespace

pid_t namespace_pid(pid_t pid) {
  std::istringstream ids(status_field(pid, "NSpid"));
  pid_t last = 0, id;
  while (ids >> id) last = id;
  return last;
}

bool catches_sigquit(pid_t pid) {
  const std::string mask = status_field(pid, "SigCgt");
  size_t start = mask.find_first_not_of(" \t");
  if (start == std::string::npos) return false;
  const uint64_t bits = std::stoull(mask.substr(start), nullptr, 16);
  return bits & (1ULL << (SIGQUIT - 1));
}

std::string load_agent(const AttachTarget& target, const std::string& jar_in_target,
                       const std::string& options, std::chrono::milliseconds timeout,
                       const std::atomic<bool>& abandon) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string tmp = proc_path(target.pid, "root/tmp/");
  const std::string socket_path = tmp + ".java_pid" + std::to_string(target.nspid);
  if (!listener_ready(socket_path)) {
    if (!catches_sigquit(target.pid)) {
      return "the JVM does not handle SIGQUIT (still starting, or -Xrs): not signalled";
    }
    const std::string trigger = tmp + ".attach_pid" + std::to_string(target.nspid);
    const int t = open(trigger.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (t < 0) return "cannot create " + trigger + ": " + std::strerror(errno);
    close(t);
    const bool signalled = kill(target.pid, SIGQUIT) == 0;
    auto wait = std::chrono::milliseconds(20);
    while (signalled && !abandon && !listener_ready(socket_path) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(wait);
      wait = std::min(wait * 2, kLongestWait);
    }
    if (!signalled) {
      const std::string why = std::strerror(errno);
      unlink(trigger.c_str());
      return "cannot signal the JVM: " + why;
    }
    if (!listener_ready(socket_path)) {
      if (abandon) return std::string(kAbandonedPrefix) + ": the agent is stopping";
      // The trigger stays: a JVM that was stopped or stalled handles the SIGQUIT when it
      // resumes, and without the trigger it would print a thread dump on its stdout.
      return "no attach listener within " + std::to_string(timeout.count()) +
             " ms (attach disabled, e.g. -XX:+DisableAttachMechanism, or the JVM is busy)";
    }
    unlink(trigger.c_str());
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) return "attach socket path too long";
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    return "cannot connect to " + socket_path + ": " + why;
  }
  // Protocol version, command, then exactly three arguments, each ending in a NUL.
  std::string request;
  for (const std::string& part : {std::string("1"), std::string("load"), std::string("instrument"),
                                  std::string("false"), jar_in_target + "=" + options}) {
    request += part;
    request.push_back('\0');
  }
  if (!write_all(fd, request)) {
    close(fd);
    return "the JVM closed the attach connection";
  }
  const std::string reply = read_reply(fd, deadline, abandon);
  close(fd);
  if (abandon) return std::string(kAbandonedPrefix) + ": the agent is stopping";
  // "0\n" (command accepted) then "return code: 0\n" (Agent_OnAttach of the instrument
  // library: the jar loaded and agentmain returned) on JDK 9+; JDK 8 replies "0\n0\n".
  std::istringstream lines(reply);
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  if (first != "0") {
    std::string shown = reply.substr(0, 200);
    std::replace(shown.begin(), shown.end(), '\n', ' ');
    return std::string(kRefusedPrefix) + ": " + shown;
  }
  if (!second.empty() && second != "0" && second != "return code: 0") {
    return "the JVM could not load the agent: " + second;
  }
  return "";
}

}  // namespace ztrace::probes::java
