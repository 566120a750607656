// Connections opened before the agent, in a network namespace of their own (as in a pod
// without host networking): the adoption tells a server's accepted socket from a client's by
// the listening ports of the process's own namespace (/proc/PID/net/tcp), not the host's.

#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/harness.h"

namespace ztrace::e2e {

TEST_CASE(
    "netns: in a process's own network namespace, only the client's side of a connection opened "
    "before the agent is adopted, not the server's accepted socket",
    "[e2e][netns]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("netns_adopt");
  // In a fresh network namespace (only lo): a server that accepts one connection and keeps
  // it, and a client that keeps its connection open. Port 31230 listens in that namespace
  // alone, never on the host.
  const std::string server =
      "import "
      "socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
      "s.bind(('127.0.0.1',31230))\ns.listen()\nc,_=s.accept()\ntime.sleep(120)\n";
  const std::string client =
      "import socket,time\nc=socket.create_connection(('127.0.0.1',31230))\n"
      "print('connected',flush=True)\ntime.sleep(120)\n";
  write_file(dir / "server.py", server);
  write_file(dir / "client.py", client);
  write_file(dir / "netns.sh",
             "ip link set lo up\n"
             "python3 " +
                 (dir / "server.py").string() + " & echo $! > " + (dir / "server.pid").string() +
                 "\nsleep 0.5\n"
                 "python3 " +
                 (dir / "client.py").string() + " > " + (dir / "client.out").string() +
                 " & echo $! > " + (dir / "client.pid").string() + "\nwait\n");
  Process netns({.argv = {"unshare", "-n", "bash", (dir / "netns.sh").string()}});
  REQUIRE(wait_until(
      [&] { return read_file(dir / "client.out").find("connected") != std::string::npos; }, 10s));
  const pid_t server_pid = std::stoi(read_file(dir / "server.pid"));
  const pid_t client_pid = std::stoi(read_file(dir / "client.pid"));
  // The namespace is not the host's, and the host does not listen on the port.
  CHECK(fs::read_symlink("/proc/" + std::to_string(server_pid) + "/ns/net") !=
        fs::read_symlink("/proc/self/ns/net"));
  CHECK(read_file("/proc/net/tcp").find(":79FE 00000000:0000 0A") == std::string::npos);

  Agent agent(dir, {.pids = {server_pid, client_pid}});
  CHECK(agent.stop() == 0);
  INFO(agent.log_tail());
  // The client's socket alone; the host's /proc/net/tcp would have made the server's accepted
  // socket (local port 31230, not listening on the host) a client too.
  CHECK(agent.log().find(" 1 client connections opened before the agent") != std::string::npos);
  netns.stop();
}

}  // namespace ztrace::e2e
