// A process with a root of its own (a container's rootfs; here a chroot): its
// process.executable.path is the path it sees, not the agent's view of it through
// /proc/PID/exe (the root's host path in front).

#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/go_apps.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {

TEST_CASE(
    "container view: a server in its own root reports its executable as it sees it, not with "
    "the root's host path in front",
    "[e2e][container-view]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto apps = go_apps();
  REQUIRE(!apps.empty());
  const auto dir = fresh_dir("container_view");
  // A root holding only a static Go server (CGO off: it needs no library).
  const fs::path rootfs = dir / "rootfs";
  fs::create_directories(rootfs / "usr/bin");
  fs::copy_file(apps.front().path, rootfs / "usr/bin/goapp");
  fs::permissions(rootfs / "usr/bin/goapp", fs::perms::owner_all);
  const int port = reserve_port(31240);
  Process server(
      {.argv = {"chroot", rootfs.string(), "/usr/bin/goapp", "server", std::to_string(port)},
       .stderr_path = dir / "server.err"});
  REQUIRE(wait_for_port(port, 10s));
  const std::string host_view =
      fs::read_symlink("/proc/" + std::to_string(server.pid()) + "/exe").string();
  CHECK(host_view == (rootfs / "usr/bin/goapp").string());  // what the agent reads

  Agent agent(dir, {.pids = {server.pid()}});
  run_command(dir, curl_command({{url(port, "/hello")}}));
  const auto served = with_path(of_kind(stop_and_collect(agent), "SERVER"), "/hello");
  REQUIRE(served.size() == 1);
  const Span* span = &served.front();
  INFO(span->raw.dump());
  CHECK(span->res_str("process.executable.path") == "/usr/bin/goapp");
  CHECK(span->res_str("process.executable.name") == "goapp");
  server.stop();
}

}  // namespace ztrace::e2e
