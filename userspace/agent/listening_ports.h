#pragma once

// The TCP ports in LISTEN state in a process's network namespace, from /proc/PID/net/tcp and
// tcp6 (which show that namespace, not the reader's): a pod without host networking has its
// own. A connection whose local port is one of them was accepted: a server's side.

#include <sys/types.h>

#include <cstdint>
#include <unordered_set>

namespace ztrace::agent {

std::unordered_set<uint16_t> listening_ports(pid_t pid);
// The inode of `pid`'s network namespace (/proc/PID/ns/net); 0 when unknown (it is gone).
ino_t network_namespace(pid_t pid);

}  // namespace ztrace::agent
