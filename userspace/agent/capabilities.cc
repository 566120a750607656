#include "userspace/agent/capabilities.h"

#include <linux/capability.h>

#include <fstream>

namespace ztrace::agent {

std::vector<RequiredCapability> required_capabilities(bool injection) {
  std::vector<RequiredCapability> caps = {
      {CAP_BPF, "CAP_BPF", "loading BPF programs and maps"},
      {CAP_PERFMON, "CAP_PERFMON", "attaching tracepoints and uprobes"},
      {CAP_SYS_PTRACE, "CAP_SYS_PTRACE",
       "other processes' executables, command lines and maps under /proc"},
      {CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH",
       "the environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) of other users' "
       "processes"},
  };
  if (injection) {
    caps.push_back({CAP_NET_ADMIN, "CAP_NET_ADMIN",
                    "sockops and sk_msg on the cgroup tree, for traceparent injection "
                    "(--no-inject does without)"});
  }
  return caps;
}

uint64_t effective_capabilities() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      try {
        return std::stoull(line.substr(7), nullptr, 16);
      } catch (const std::exception&) {
        return 0;
      }
    }
  }
  return 0;
}

std::string missing_capabilities(const std::vector<RequiredCapability>& required,
                                 uint64_t effective) {
  std::string out;
  for (const auto& cap : required) {
    if (effective & (uint64_t{1} << cap.number)) continue;
    out += (out.empty() ? "missing capabilities: " : ", ") + cap.name + " (" + cap.why + ")";
  }
  return out;
}

}  // namespace ztrace::agent
