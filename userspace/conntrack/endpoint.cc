#include "userspace/conntrack/endpoint.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

namespace ztrace::conntrack {
namespace {

std::string format_address(uint16_t family, const uint8_t (&addr)[16]) {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    inet_ntop(AF_INET, addr, text, sizeof(text));
    return text;
  }
  static constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(addr, kV4MappedPrefix, sizeof(kV4MappedPrefix)) == 0) {
    inet_ntop(AF_INET, addr + 12, text, sizeof(text));
    return text;
  }
  inet_ntop(AF_INET6, addr, text, sizeof(text));
  return text;
}

}  // namespace

protocols::Endpoint local_endpoint(const zt_tuple& tuple) {
  return {format_address(tuple.family, tuple.local_addr), tuple.local_port};
}

protocols::Endpoint remote_endpoint(const zt_tuple& tuple) {
  return {format_address(tuple.family, tuple.remote_addr), tuple.remote_port};
}

}  // namespace ztrace::conntrack
