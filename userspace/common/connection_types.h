#pragma once

#include <cstdint>
#include <string_view>

namespace ztrace {

// Which way bytes moved, seen from the traced process.
enum class Direction : uint8_t {
  kEgress = 0,   // written/sent by the traced process
  kIngress = 1,  // read/received by the traced process
};

// How the traced process came to hold the socket.
enum class Role : uint8_t {
  kUnknown = 0,  // socket existed before the agent saw its connect()/accept()
  kClient = 1,   // connect()
  kServer = 2,   // accept()/accept4()
};

constexpr std::string_view to_string(Direction d) {
  return d == Direction::kEgress ? "egress" : "ingress";
}
constexpr std::string_view to_string(Role r) {
  switch (r) {
    case Role::kClient: return "client";
    case Role::kServer: return "server";
    default: return "unknown";
  }
}

}  // namespace ztrace
