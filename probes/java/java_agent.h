#pragma once

// Loads ztrace's Java agent (probes/java/agent) into the JVMs ztrace traces, running ones and
// ones started later, through the HotSpot attach protocol (jvm_attach.h). The agent hands the
// plaintext of JSSE (SSLSocket, SSLEngine) to the BPF side by an ioctl (bpf/java_tls.h); the
// handoff program is attached with the first JVM. A JVM that cannot take the agent (attach
// refused or timed out, the agent or Byte Buddy missing, ZTRACE_JAVA=off in its environment)
// is logged once with the reason and stays traced at the syscall layer.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace ztrace::probes::java {

struct JavaAgentSettings {
  std::string agent_dir;  // holds ztrace-jsse.jar, ztrace-jsse-boot.jar, libztrace_jsse.so
  std::string byte_buddy_jar = "/usr/share/java/byte-buddy.jar";
  // For the listener and then for the agent's load (Byte Buddy in a JVM that is still
  // starting took over 5 s on a loaded 2-vCPU machine).
  std::chrono::milliseconds attach_timeout{30000};
};

class JavaAgentLoader {
 public:
  // `attach_handoff` attaches the BPF side; called once, before the first JVM is loaded.
  JavaAgentLoader(JavaAgentSettings settings, std::function<std::string()> attach_handoff);
  ~JavaAgentLoader();
  JavaAgentLoader(const JavaAgentLoader&) = delete;
  JavaAgentLoader& operator=(const JavaAgentLoader&) = delete;

  // The directory of the agent files next to the running ztrace binary.
  static std::string default_agent_dir();

  // Queues `pid` when it is a JVM (never blocks): a running one is attached at once, a new
  // one (exec) once it has started.
  void consider(pid_t pid, bool just_started);

 private:
  void worker();
  void attach(pid_t pid);
  void forget_exited();
  // Copies the agent's files into the JVM's /tmp; the directory as the JVM sees it, or "".
  std::string stage(pid_t pid, std::string* error);

  JavaAgentSettings settings_;
  std::function<std::string()> attach_handoff_;
  std::string handoff_error_;  // "" once attached
  bool handoff_tried_ = false;
  mutable std::mutex mu_;
  using Clock = std::chrono::steady_clock;
  std::deque<std::pair<Clock::time_point, pid_t>> queue_;
  std::map<pid_t, std::string> done_;                 // pid -> "" (loaded) or why not
  std::map<pid_t, Clock::time_point> waiting_since_;  // JVMs not yet ready for SIGQUIT
  std::map<pid_t, int> load_attempts_;                // loads the JVM failed so far
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> abandon_attach_{false};  // set at stop: an attach under way gives up
  std::thread worker_;
};

// True when `pid`'s executable is a HotSpot launcher or it maps libjvm.so.
bool is_jvm(pid_t pid);

}  // namespace ztrace::probes::java
