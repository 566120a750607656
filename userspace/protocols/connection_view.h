#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "userspace/common/connection_types.h"
#include "userspace/spans/span.h"

namespace ztrace::protocols {

struct Endpoint {
  std::string address;  // textual IP; IPv4-mapped IPv6 is shown as IPv4
  uint16_t port = 0;
};

// What span builders need to know about the connection an exchange travelled on.
struct ConnectionView {
  uint32_t pid = 0;
  int32_t fd = 0;
  uint64_t generation = 0;  // with pid and fd: which connection (as the kernel names it)
  uint32_t last_tid = 0;    // thread of the latest syscall seen on the connection
  Role role = Role::kUnknown;
  Endpoint local;
  Endpoint remote;
  bool tls = false;  // plaintext of a TLS session (captured by the Go probes), not the socket
  // Resolved when the connection is first seen, while the process surely still exists
  // (a short-lived client may be gone by the time its last response is parsed).
  std::shared_ptr<const spans::Resource> resource;
};

}  // namespace ztrace::protocols
