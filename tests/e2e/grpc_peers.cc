#include "tests/e2e/grpc_peers.h"

#include <catch2/catch_test_macros.hpp>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace ztrace::e2e {

fs::path grpc_go_peer() {
  // Debian's grpc-go lives in /usr/share/gocode (GOPATH layout, no module proxy).
  return build_go_peer(peers_dir() / "grpc-go" / "main.go", "ztrace-e2e-grpc-go", 600s,
                       "/usr/share/gocode");
}

Process start_grpc_server(const fs::path& dir, const std::string& name, int port,
                          std::vector<std::string> argv,
                          std::vector<std::pair<std::string, std::string>> env) {
  if (port_listening(port)) {
    throw std::runtime_error("port " + std::to_string(port) + " already listens before " + name);
  }
  ProcessOptions o;
  o.argv = std::move(argv);
  o.env = std::move(env);
  o.cwd = dir;
  o.stdout_path = dir / (name + ".stdout");
  o.stderr_path = dir / (name + ".stderr");
  Process p(std::move(o));
  if (!wait_for_port(port, 120s) || !p.running()) {
    p.stop(1s);
    throw std::runtime_error(name + " did not listen on port " + std::to_string(port) + "\n" +
                             p.describe());
  }
  return p;
}

std::vector<std::string> grpc_go_server(int port) {
  return {grpc_go_peer().string(), "server", "127.0.0.1:" + std::to_string(port)};
}

std::vector<std::string> grpc_go_relay(int port, int next_port, bool stripped) {
  fs::path peer = grpc_go_peer();
  if (stripped) {
    const fs::path copy = peer.string() + "-stripped";
    BuildLock lock(peer.parent_path());
    if (!up_to_date(copy, peer)) {
      auto r = run_command(peer.parent_path(), {"strip", "-o", copy.string(), peer.string()});
      if (r.exit_code != 0) throw std::runtime_error("strip failed:\n" + r.describe);
    }
    peer = copy;
  }
  return {peer.string(), "server", "127.0.0.1:" + std::to_string(port),
          "127.0.0.1:" + std::to_string(next_port)};
}

std::vector<std::string> grpc_go_client(int port, std::vector<std::string> steps) {
  std::vector<std::string> argv = {grpc_go_peer().string(), "client",
                                   "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), steps.begin(), steps.end());
  return argv;
}

namespace {

fs::path grpc_node_script() {
  const fs::path dir = peers_dir() / "grpc-node";
  if (!fs::exists(dir / "node_modules" / "@grpc" / "grpc-js")) {
    throw std::runtime_error("@grpc/grpc-js is missing: run scripts/install-npm-peers.sh");
  }
  return dir / "peer.js";
}

}  // namespace

std::vector<std::string> grpc_node_server(int port) {
  return {"node", grpc_node_script().string(), "server", "127.0.0.1:" + std::to_string(port)};
}

std::vector<std::string> grpc_node_client(int port, std::vector<std::string> steps) {
  std::vector<std::string> argv = {"node", grpc_node_script().string(), "client",
                                   "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), steps.begin(), steps.end());
  return argv;
}

std::vector<std::string> grpc_cpp_server(int port) {
  return {ZTRACE_E2E_GRPC_CPP_PEER, "server", "127.0.0.1:" + std::to_string(port)};
}

std::vector<std::string> grpc_cpp_client(int port, std::vector<std::string> steps) {
  std::vector<std::string> argv = {ZTRACE_E2E_GRPC_CPP_PEER, "client",
                                   "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), steps.begin(), steps.end());
  return argv;
}

namespace {

// Debian's grpc-java and what it needs at run time (without perfmark the client hangs).
constexpr const char* kJavaJars[] = {"grpc-api",
                                     "grpc-core",
                                     "grpc-context",
                                     "grpc-netty",
                                     "grpc-protobuf",
                                     "grpc-protobuf-lite",
                                     "grpc-stub",
                                     "protobuf",
                                     "guava",
                                     "geronimo-annotation-1.3-spec",
                                     "netty-buffer",
                                     "netty-codec",
                                     "netty-codec-http",
                                     "netty-codec-http2",
                                     "netty-common",
                                     "netty-handler",
                                     "netty-resolver",
                                     "netty-transport",
                                     "netty-codec-socks",
                                     "netty-handler-proxy",
                                     "netty-transport-native-unix-common",
                                     "error_prone_annotations",
                                     "jsr305",
                                     "opencensus-api",
                                     "perfmark-api"};

std::string java_classpath(const fs::path& classes) {
  std::string cp = classes.string();
  for (const char* jar : kJavaJars) cp += std::string(":/usr/share/java/") + jar + ".jar";
  return cp;
}

fs::path grpc_java_classes() {
  const fs::path dir = scratch_dir() / "peers";
  const fs::path src = peers_dir() / "grpc-java" / "Peer.java";
  const fs::path proto = peers_dir() / "grpc-echo.proto";
  const fs::path classes = dir / "grpc-java";
  BuildLock lock(dir);
  if (up_to_date(classes / "Peer.class", src) && up_to_date(classes / "Peer.class", proto)) {
    return classes;
  }
  const fs::path gen = dir / "grpc-java-src";
  fs::remove_all(gen);
  fs::create_directories(gen);
  fs::create_directories(classes);
  auto r = run_command(dir,
                       {"protoc", "-I", peers_dir().string(), "--java_out=" + gen.string(),
                        "--grpc-java_out=" + gen.string(),
                        "--plugin=protoc-gen-grpc-java=/usr/bin/grpc_java_plugin", proto.string()},
                       120s);
  if (r.exit_code != 0) throw std::runtime_error("protoc for the Java peer failed:\n" + r.describe);
  std::vector<std::string> javac = {"javac",          "-nowarn", "-d",
                                    classes.string(), "-cp",     java_classpath(classes)};
  for (const auto& entry : fs::recursive_directory_iterator(gen)) {
    if (entry.path().extension() == ".java") javac.push_back(entry.path().string());
  }
  javac.push_back(src.string());
  r = run_command(dir, javac, 300s);
  if (r.exit_code != 0) throw std::runtime_error("javac for the Java peer failed:\n" + r.describe);
  return classes;
}

}  // namespace

std::vector<std::string> grpc_java_server(int port) {
  return {"java", "-cp",    java_classpath(grpc_java_classes()),
          "Peer", "server", std::to_string(port)};
}

std::vector<std::string> grpc_java_client(int port, std::vector<std::string> steps) {
  std::vector<std::string> argv = {"java", "-cp",    java_classpath(grpc_java_classes()),
                                   "Peer", "client", std::to_string(port)};
  argv.insert(argv.end(), steps.begin(), steps.end());
  return argv;
}

std::vector<GrpcCallLine> parse_grpc_calls(const std::string& out) {
  std::vector<GrpcCallLine> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    GrpcCallLine l;
    char kind[32] = {};
    if (std::sscanf(line.c_str(), "%31s code=%d msgs=%d", kind, &l.code, &l.msgs) == 3) {
      l.kind = kind;
      if (const size_t at = line.find(" reply="); at != std::string::npos) {
        l.reply = line.substr(at + 7);
      }
      lines.push_back(l);
    }
  }
  return lines;
}

}  // namespace ztrace::e2e

namespace ztrace::e2e {

std::vector<Span> expect_grpc_calls(const std::vector<Span>& spans, std::string_view kind,
                                    pid_t pid, int port, const std::vector<GrpcExpect>& calls) {
  std::vector<Span> mine = sorted_by_start(of_pid(of_kind(spans, kind), pid));
  INFO(std::string(kind) << " spans of pid " << pid);
  CHECK(mine.size() == calls.size());
  for (size_t i = 0; i < std::min(mine.size(), calls.size()); ++i) {
    const Span& s = mine[i];
    const GrpcExpect& e = calls[i];
    INFO("call " << i << " (" << e.method << " -> " << e.code << "): " << s.describe());
    CHECK(s.name == "ztrace.e2e.Echo/" + e.method);
    CHECK(s.attr_str("rpc.system") == std::optional<std::string>("grpc"));
    CHECK(s.attr_str("rpc.service") == std::optional<std::string>("ztrace.e2e.Echo"));
    CHECK(s.attr_str("rpc.method") == std::optional<std::string>(e.method));
    CHECK(s.attr_int("rpc.grpc.status_code") == std::optional<int64_t>(e.code));
    CHECK(s.attr_str("network.protocol.version") == std::optional<std::string>("2"));
    CHECK(s.server_port() == port);
    CHECK(s.attr_str("http.request.method") == std::nullopt);
    const bool server_error =
        e.code == 2 || e.code == 4 || e.code == 12 || e.code == 13 || e.code == 14 || e.code == 15;
    const bool error = kind == "SERVER" ? server_error : e.code != 0;
    CHECK(s.status_code == (error ? "ERROR" : "UNSET"));
  }
  return mine;
}

const std::vector<std::string> kGrpcSteps = {
    "unary:ok:a", "unary:fail:5:missing", "stream:3", "stream:2:fail:14", "bidi:3", "unary:fail:4"};
const std::vector<GrpcExpect> kGrpcCalls = {{"Unary", 0},         {"Unary", 5}, {"ServerStream", 0},
                                            {"ServerStream", 14}, {"Bidi", 0},  {"Unary", 4}};

void check_children(const std::vector<Span>& clients, const std::vector<Span>& servers) {
  REQUIRE(clients.size() == servers.size());
  for (size_t i = 0; i < clients.size(); ++i) {
    INFO("call " << i << "\n  client: " << clients[i].describe()
                 << "\n  server: " << servers[i].describe());
    CHECK(servers[i].trace_id == clients[i].trace_id);
    CHECK(servers[i].parent_span_id == clients[i].span_id);
  }
}

void check_grpc_run(Agent& agent, const Process& server, int port, const CommandResult& c,
                    std::string_view server_runtime) {
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  const auto lines = parse_grpc_calls(c.out);
  ZTRACE_E2E_REQUIRE_PEER(lines.size() == kGrpcCalls.size(), c.describe);
  for (size_t i = 0; i < kGrpcCalls.size(); ++i) {
    ZTRACE_E2E_REQUIRE_PEER(lines[i].code == kGrpcCalls[i].code, c.describe);
  }
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == 2 * kGrpcCalls.size());
  auto servers = expect_grpc_calls(spans, "SERVER", server.pid(), port, kGrpcCalls);
  auto clients = expect_grpc_calls(spans, "CLIENT", c.pid, port, kGrpcCalls);
  if (!server_runtime.empty()) {
    for (const auto& s : servers) {
      CHECK(s.res_str("process.runtime.name") == std::optional<std::string>(server_runtime));
    }
  }
  if (servers.size() == kGrpcCalls.size() && clients.size() == kGrpcCalls.size()) {
    for (size_t i = 0; i < kGrpcCalls.size(); ++i) check_encloses(clients[i], servers[i]);
    check_children(clients, servers);
  }
}

}  // namespace ztrace::e2e
