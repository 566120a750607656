#include "userspace/agent/listening_ports.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

namespace ztrace::agent {

std::unordered_set<uint16_t> listening_ports(pid_t pid) {
  std::unordered_set<uint16_t> ports;
  for (const char* file : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream in("/proc/" + std::to_string(pid) + file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      // "  sl  local_address rem_address   st ..." with local_address "ADDR:PORT" in hex.
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      const size_t colon = local.rfind(':');
      if (state == "0A" && colon != std::string::npos) {
        ports.insert(static_cast<uint16_t>(std::stoul(local.substr(colon + 1), nullptr, 16)));
      }
    }
  }
  return ports;
}

ino_t network_namespace(pid_t pid) {
  struct stat st {};
  return stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace ztrace::agent
