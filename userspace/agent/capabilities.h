#pragma once

// The Linux capabilities the agent needs, checked at start so that a container started with
// too few gets one clear message instead of a failure deep in a BPF load or an attach. The
// set is the one measured by tests/e2e/image_caps_test.cc (README, "Capabilities"), which
// also shows that the agent cannot trace without each of them.

#include <cstdint>
#include <string>
#include <vector>

namespace ztrace::agent {

struct RequiredCapability {
  int number;        // CAP_* from linux/capability.h
  std::string name;  // "CAP_BPF"
  std::string why;
};

// What this run needs: `injection` adds what sockops and sk_msg need.
std::vector<RequiredCapability> required_capabilities(bool injection);

// The effective set of this process (CapEff in /proc/self/status); 0 when unreadable.
uint64_t effective_capabilities();

// "" when `effective` holds every capability of `required`; else
// "missing capabilities: CAP_X (why), CAP_Y (why)".
std::string missing_capabilities(const std::vector<RequiredCapability>& required,
                                 uint64_t effective);

}  // namespace ztrace::agent
