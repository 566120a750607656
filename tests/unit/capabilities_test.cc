#include "userspace/agent/capabilities.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>

namespace ztrace::agent {
namespace {

uint64_t bits(std::initializer_list<int> caps) {
  uint64_t out = 0;
  for (int c : caps) out |= uint64_t{1} << c;
  return out;
}

TEST_CASE("capabilities: every needed one present gives no message", "[capabilities]") {
  const auto needed = required_capabilities(true);
  CHECK(missing_capabilities(needed, bits({CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_NET_ADMIN,
                                           CAP_DAC_READ_SEARCH})) == "");
  // Without injection NET_ADMIN is not needed.
  CHECK(missing_capabilities(required_capabilities(false),
                             bits({CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH})) ==
        "");
}

TEST_CASE("capabilities: each missing one is named with its reason", "[capabilities]") {
  const auto needed = required_capabilities(true);
  const std::string msg = missing_capabilities(
      needed, bits({CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN}));
  CHECK(msg.rfind("missing capabilities: CAP_BPF (loading BPF", 0) == 0);
  CHECK(msg.find(", CAP_NET_ADMIN (sockops") != std::string::npos);
  CHECK(msg.find("CAP_PERFMON") == std::string::npos);
  CHECK(missing_capabilities(needed, 0).find("CAP_SYS_PTRACE") != std::string::npos);
}

TEST_CASE("capabilities: this process's effective set is what capget reports", "[capabilities]") {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  REQUIRE(syscall(SYS_capget, &header, data) == 0);
  const uint64_t expected = (uint64_t{data[1].effective} << 32) | data[0].effective;
  CHECK(effective_capabilities() == expected);
}

}  // namespace
}  // namespace ztrace::agent
