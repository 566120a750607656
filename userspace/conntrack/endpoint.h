#pragma once

#include <cstdint>
#include <string>

#include "bpf/socket_trace.h"

namespace ztrace::conntrack {

struct Endpoint {
  std::string address;  // textual IP; IPv4-mapped IPv6 is shown as IPv4
  uint16_t port = 0;
};

Endpoint local_endpoint(const zt_tuple& tuple);
Endpoint remote_endpoint(const zt_tuple& tuple);

}  // namespace ztrace::conntrack
