// Go probes (issue 5): HTTPS servers and clients built with every installed Go version,
// plain, stripped and PIE, traced through crypto/tls plaintext; a Go service in its own mount
// namespace; a Go version outside the offset tables without DWARF (syscall layer only, the
// reason logged once per image). The programs are tests/go_apps/goapp (built by CMake).
#include <catch2/catch_test_macros.hpp>
#include <cstring>
#include <sstream>

#include "tests/e2e/go_apps.h"
#include "tests/e2e/harness.h"

namespace ztrace::e2e {
namespace {

// Runs the client after a delay that lets the agent attach to the new process (exec events
// are handled asynchronously; a long-running client needs no delay).
CommandResult run_client(const fs::path& dir, const fs::path& binary,
                         const std::vector<std::string>& urls) {
  std::vector<std::string> argv = {binary.string(), "client", "-delay", "700ms"};
  argv.insert(argv.end(), urls.begin(), urls.end());
  return run_command(dir, argv, 30s);
}

// A copy of `binary` whose build info claims Go 1.99 (same length as "1.NN"): a version the
// offset tables do not know. Without DWARF (stripped) nothing else tells the offsets.
fs::path patch_go_version(const fs::path& binary, const fs::path& out) {
  std::string bytes = read_file(binary);
  const std::string magic("\xff Go buildinf:", 14);
  size_t at = bytes.find(magic);
  if (at == std::string::npos || (static_cast<uint8_t>(bytes[at + 15]) & 2) == 0) {
    throw std::runtime_error("no inline build info in " + binary.string());
  }
  const size_t len = static_cast<uint8_t>(bytes[at + 32]);
  std::string version = bytes.substr(at + 33, len);  // e.g. go1.23.5
  if (version.size() < 6 || version.compare(0, 4, "go1.") != 0) {
    throw std::runtime_error("unexpected version " + version);
  }
  bytes[at + 33 + 4] = '9';
  bytes[at + 33 + 5] = '9';
  // Another image needs another build id (the agent shares analyses by build id): change the
  // first character of the Go build id note (namesz 4, descsz, type 4, "Go\0\0", id).
  const std::string note_head("\x04\x00\x00\x00", 4);
  const std::string note_owner("\x04\x00\x00\x00Go\x00\x00", 8);
  size_t note = bytes.find(note_owner);
  while (note != std::string::npos && (note < 8 || bytes.compare(note - 8, 4, note_head) != 0)) {
    note = bytes.find(note_owner, note + 1);
  }
  if (note == std::string::npos) throw std::runtime_error("no Go build id note");
  char& first = bytes[note + note_owner.size()];
  first = first == 'A' ? 'B' : 'A';
  write_file(out, bytes);
  fs::permissions(out, fs::perms::owner_all);
  return out;
}

}  // namespace

TEST_CASE("Go HTTPS servers and clients of every Go version, plain, stripped and PIE",
          "[e2e][go-probes]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto apps = go_apps();
  REQUIRE(apps.size() >= 3);
  const auto dir = fresh_dir("go_probes_https");
  std::vector<int> ports;
  std::vector<Process> servers;
  for (size_t i = 0; i < apps.size(); ++i) {
    ports.push_back(reserve_port(24300 + static_cast<int>(i)));
    servers.push_back(
        start_goapp_server(dir, apps[i].path, ports[i], true, "server-" + apps[i].label()));
  }
  AgentOptions options;
  options.ports = ports;
  Agent agent(dir, options);
  std::vector<CommandResult> clients;
  for (size_t i = 0; i < apps.size(); ++i) {
    const std::string p = "/" + apps[i].label();
    clients.push_back(
        run_client(dir, apps[i].path,
                   {https_url(ports[i], "/ok" + p + "/1"), https_url(ports[i], "/error" + p + "/2"),
                    https_url(ports[i], "/missing" + p + "/3")}));
    ZTRACE_E2E_REQUIRE_PEER(clients.back().exit_code == 0, clients.back().describe);
  }
  std::vector<Span> spans = stop_and_collect(agent);
  INFO("agent log:\n" << agent.log_tail());
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == 6 * apps.size());
  for (size_t i = 0; i < apps.size(); ++i) {
    const std::string p = "/" + apps[i].label();
    INFO("Go " << apps[i].label());
    const HttpExpect expected[] = {{"GET", "/ok" + p + "/1", 200, ports[i]},
                                   {"GET", "/error" + p + "/2", 500, ports[i]},
                                   {"GET", "/missing" + p + "/3", 404, ports[i]}};
    for (const auto& e : expected) {
      auto server = expect_one(spans, "SERVER", e);
      auto client = expect_one(spans, "CLIENT", e);
      if (server) {
        check_resource(*server, servers[i].pid(), "", "go", apps[i].path.filename().string());
        CHECK(server->attr_str("url.scheme") == std::optional<std::string>("https"));
        CHECK(server->attr_str("user_agent.original") ==
              std::optional<std::string>("Go-http-client/1.1"));
      }
      if (client) {
        check_resource(*client, clients[i].pid, "", "go", apps[i].path.filename().string());
      }
      if (server && client) check_encloses(*client, *server);
    }
  }
}

TEST_CASE("a Go HTTPS service in its own mount namespace is traced", "[e2e][go-probes]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto apps = go_apps();
  REQUIRE(!apps.empty());
  const GoApp& app = apps.back();
  const auto dir = fresh_dir("go_probes_mntns");
  const int port = reserve_port(24350);
  // The binary exists only on a tmpfs mounted inside the service's private mount namespace.
  const fs::path hidden = dir / "hidden";
  fs::create_directories(hidden);
  const std::string script = "mount -t tmpfs tmpfs " + hidden.string() + " && cp " +
                             app.path.string() + " " + hidden.string() + "/nsapp && exec " +
                             hidden.string() + "/nsapp server -tls " + std::to_string(port);
  Process server({.argv = {"unshare", "-m", "--propagation", "private", "sh", "-c", script},
                  .stdout_path = dir / "server.out",
                  .stderr_path = dir / "server.err"});
  ZTRACE_E2E_REQUIRE_PEER(wait_for_port(port, 10s), server.describe());
  ZTRACE_E2E_REQUIRE_PEER(!fs::exists(hidden / "nsapp"), "the binary leaked into our namespace");
  Agent agent(dir, {.ports = {port}});
  CommandResult client =
      run_client(dir, app.path, {https_url(port, "/ok/ns1"), https_url(port, "/error/ns2")});
  ZTRACE_E2E_REQUIRE_PEER(client.exit_code == 0, client.describe);
  std::vector<Span> spans = stop_and_collect(agent);
  INFO("agent log:\n" << agent.log_tail());
  INFO("spans:\n" << describe(spans));
  auto s1 = expect_one(spans, "SERVER", {"GET", "/ok/ns1", 200, port});
  auto s2 = expect_one(spans, "SERVER", {"GET", "/error/ns2", 500, port});
  for (const auto& s : {s1, s2}) {
    if (!s) continue;
    CHECK(s->pid() == server.pid());  // `sh` exec'd the service: same pid
    CHECK(s->attr_str("url.scheme") == std::optional<std::string>("https"));
  }
  CHECK(of_kind(spans, "SERVER").size() == 2);
}

TEST_CASE("a Go version outside the offset tables without DWARF: syscall layer, reason once",
          "[e2e][go-probes]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const GoApp* stripped = nullptr;
  const auto apps = go_apps();
  for (const auto& a : apps) {
    if (a.variant == "stripped") stripped = &a;
  }
  REQUIRE(stripped);
  const auto dir = fresh_dir("go_probes_unknown_version");
  const fs::path patched = patch_go_version(stripped->path, dir / "goapp-unknown");
  const int tls_port = reserve_port(24360);
  const int plain_port = reserve_port(24361);
  Process tls_server = start_goapp_server(dir, patched, tls_port, true, "tls-server");
  Process plain_server = start_goapp_server(dir, patched, plain_port, false, "plain-server");
  Agent agent(dir, {.ports = {tls_port, plain_port}});
  // The client is an ordinary build: its own side is probed.
  CommandResult c1 = run_client(dir, stripped->path, {https_url(tls_port, "/ok/u1")});
  CommandResult c2 = run_client(dir, stripped->path,
                                {"http://127.0.0.1:" + std::to_string(plain_port) + "/ok/u2"});
  ZTRACE_E2E_REQUIRE_PEER((c1.exit_code == 0 && c2.exit_code == 0), c1.describe + c2.describe);
  std::vector<Span> spans = stop_and_collect(agent);
  const std::string log = agent.log();
  INFO("agent log:\n" << agent.log_tail());
  INFO("spans:\n" << describe(spans));
  // Two processes of the image, one reason.
  CHECK(count_occurrences(log, "Go 1.99 is outside the offset tables") == 1);
  // Plaintext HTTP of the unknown version is still traced at the syscall layer...
  auto plain = expect_one(spans, "SERVER", {"GET", "/ok/u2", 200, plain_port});
  if (plain) CHECK(plain->pid() == plain_server.pid());
  // ...its TLS is not readable there: no server span, the client's own (probed) side has one.
  CHECK(with_path(of_kind(spans, "SERVER"), "/ok/u1").empty());
  auto client = expect_one(spans, "CLIENT", {"GET", "/ok/u1", 200, tls_port});
  if (client) CHECK(client->pid() == c1.pid);
}

}  // namespace ztrace::e2e

namespace ztrace::e2e {

TEST_CASE("with --pid only the selected Go processes get the Go probes", "[e2e][go-probes]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto apps = go_apps();
  REQUIRE(apps.size() >= 2);
  const auto dir = fresh_dir("go_probes_selection");
  const int chosen_port = reserve_port(24370);
  const int other_port = reserve_port(24371);
  // Different images, so that one image's uprobes cannot serve the other.
  Process chosen = start_goapp_server(dir, apps.front().path, chosen_port, true, "chosen");
  Process other = start_goapp_server(dir, apps.back().path, other_port, true, "other");
  Agent agent(dir, {.pids = {chosen.pid()}});
  CommandResult c1 =
      run_command(dir, {"curl", "-sk", "--http1.1", https_url(chosen_port, "/ok/sel1")}, 20s);
  CommandResult c2 =
      run_command(dir, {"curl", "-sk", "--http1.1", https_url(other_port, "/ok/sel2")}, 20s);
  ZTRACE_E2E_REQUIRE_PEER((c1.exit_code == 0 && c2.exit_code == 0), c1.describe + c2.describe);
  std::vector<Span> spans = stop_and_collect(agent);
  const std::string log = agent.log();
  INFO("agent log:\n" << agent.log_tail());
  INFO("spans:\n" << describe(spans));
  CHECK(log.find("Go probes: pid " + std::to_string(chosen.pid()) + " ") != std::string::npos);
  CHECK(log.find("pid " + std::to_string(other.pid()) + " ") == std::string::npos);
  auto s = expect_one(spans, "SERVER", {"GET", "/ok/sel1", 200, chosen_port});
  if (s) CHECK(s->pid() == chosen.pid());
  CHECK(with_path(spans, "/ok/sel2").empty());
}

}  // namespace ztrace::e2e

namespace ztrace::e2e {

// The kernel writes every uprobe on a file into each mapping of it that may execute, a
// read-only one included: a second agent (or any other uprobe tool) on the same Go binary
// must still read its code as it is in the file, not with the first one's int3s.
TEST_CASE("a Go binary already carrying another agent's uprobes is analysed from the file",
          "[e2e][go-probes]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto apps = go_apps();
  REQUIRE(!apps.empty());
  const auto dir = fresh_dir("go_probes_second_agent");
  const int port = reserve_port(24372);
  Process server = start_goapp_server(dir, apps.front().path, port, true, "server");
  fs::create_directories(dir / "first");
  fs::create_directories(dir / "second");
  Agent first(dir / "first", {.pids = {server.pid()}, .extra_args = {"--no-inject"}});
  Agent second(dir / "second", {.pids = {server.pid()}, .extra_args = {"--no-inject"}});
  CommandResult c =
      run_command(dir, {"curl", "-sk", "--http1.1", https_url(port, "/ok/second")}, 20s);
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  std::vector<Span> first_spans = stop_and_collect(first);
  std::vector<Span> spans = stop_and_collect(second);
  INFO("second agent's log:\n" << second.log_tail());
  const std::string attached = "Go probes: pid " + std::to_string(server.pid()) + " ";
  CHECK(first.log().find(attached) != std::string::npos);
  CHECK(second.log().find(attached) != std::string::npos);
  auto s = expect_one(spans, "SERVER", {"GET", "/ok/second", 200, port});
  if (s) CHECK(s->attr_str("url.scheme") == std::optional<std::string>("https"));
}

}  // namespace ztrace::e2e
