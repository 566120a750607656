#pragma once

// The HotSpot attach protocol, spoken by ztrace itself (no JDK tools): load a Java agent into a
// running JVM without a restart or a JVM flag.
//
// 1. The JVM's attach listener starts on demand: a file `.attach_pid<nspid>` in its /tmp (of
//    its mount namespace; ztrace writes there through /proc/PID/root) plus a SIGQUIT. SIGQUIT
//    is sent only once the JVM catches it (/proc/PID/status SigCgt): earlier, during JVM
//    start-up, it would end the process.
// 2. The listener creates the UNIX socket /tmp/.java_pid<nspid>; HotSpot accepts a peer with
//    its effective uid and gid, or root (ztrace runs as root).
// 3. Request: "1\0load\0instrument\0false\0<jar>=<args>\0"; the reply is the command's result
//    ("0" when accepted), then the agent's return code.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

namespace ztrace::probes::java {

struct AttachTarget {
  pid_t pid = 0;    // in ztrace's pid namespace
  pid_t nspid = 0;  // in the JVM's own pid namespace (the attach files carry this one)
};

// The JVM's pid in its own namespace (the last NSpid of /proc/PID/status), 0 when unknown.
pid_t namespace_pid(pid_t pid);
// True once the process has a SIGQUIT handler (a JVM past start-up, or one with -Xrs: no).
bool catches_sigquit(pid_t pid);

// The start of load_agent's answer when the JVM answered but did not load the agent.
inline constexpr std::string_view kRefusedPrefix = "the JVM refused the attach";

// The start of load_agent's answer when `abandon` was set while it waited.
inline constexpr std::string_view kAbandonedPrefix = "attach abandoned";

// Loads the agent jar (a path inside the JVM's mount namespace) with `options`; "" on
// success, else why not. Waits at most `timeout` for the listener and its reply, and gives up
// within 100 ms once `abandon` is set (the agent stops: it must not wait out a stalled JVM).
std::string load_agent(const AttachTarget& target, const std::string& jar_in_target,
                       const std::string& options, std::chrono::milliseconds timeout,
                       const std::atomic<bool>& abandon);

}  // namespace ztrace::probes::java
