// Listening ports per network namespace: a process in a namespace of its own (unshare -n, as a
// pod without host networking) lists its own listeners, which the host's do not show.

#include "userspace/agent/listening_ports.h"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace ztrace::agent;

TEST_CASE("listening ports are those of the process's own network namespace", "[netns]") {
  if (geteuid() != 0) SKIP("unshare -n needs root");
  const auto pid_file = std::filesystem::temp_directory_path() / "ztrace-netns-listener.pid";
  // unshare execs python3 (no fork): $! is the listener, in a fresh namespace with only lo.
  REQUIRE(std::system(("unshare -n python3 -c 'import socket,time\ns=socket.socket()\n"
                       "s.bind((\"127.0.0.1\",31232))\ns.listen()\ntime.sleep(30)' "
                       "& echo $! > " +
                       pid_file.string())
                          .c_str()) == 0);
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  REQUIRE(pid > 0);
  bool listening = false;
  for (int i = 0; i < 100 && !listening; ++i) {
    listening = listening_ports(pid).count(31232) > 0;
    if (!listening) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(listening);
  CHECK(network_namespace(pid) != 0);
  CHECK(network_namespace(pid) != network_namespace(getpid()));
  CHECK(listening_ports(getpid()).count(31232) == 0);  // the host's namespace: not there
  kill(pid, SIGKILL);
  CHECK(network_namespace(999999999) == 0);
  CHECK(listening_ports(999999999).empty());
}
