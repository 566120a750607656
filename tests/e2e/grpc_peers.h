#pragma once

// gRPC peers of the end-to-end tests (peers/grpc-*): built once per test run into the
// scratch folder, started as servers or run as clients. Every peer serves or calls the
// same service, ztrace.e2e.Echo (see peers/grpc-go/main.go for its methods and the client
// steps every client understands).

#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace ztrace::e2e {

// The Go peer (Debian grpc-go, GOPATH mode). Throws with the compiler output on failure.
fs::path grpc_go_peer();

// Starts `argv` as a server that listens on 127.0.0.1:port (stdout/stderr in dir/name.*).
Process start_grpc_server(const fs::path& dir, const std::string& name, int port,
                          std::vector<std::string> argv,
                          std::vector<std::pair<std::string, std::string>> env = {});

std::vector<std::string> grpc_go_server(int port);
// The Go peer as a relay: its "relay:<request>" calls go on to 127.0.0.1:next_port.
// `stripped`: a copy without symbol table and DWARF (`strip`), as production builds ship.
std::vector<std::string> grpc_go_relay(int port, int next_port, bool stripped);
std::vector<std::string> grpc_go_client(int port, std::vector<std::string> steps);

// The Node peer (@grpc/grpc-js installed by scripts/install-npm-peers.sh).
std::vector<std::string> grpc_node_server(int port);
std::vector<std::string> grpc_node_client(int port, std::vector<std::string> steps);

// The C++ peer, built by CMake once per build (ztrace_e2e_grpc_cpp_peer).
std::vector<std::string> grpc_cpp_server(int port);
std::vector<std::string> grpc_cpp_client(int port, std::vector<std::string> steps);

// The Java peer (Debian grpc-java on Netty): classes generated with protoc and
// grpc_java_plugin and compiled once into the scratch folder.
std::vector<std::string> grpc_java_server(int port);
std::vector<std::string> grpc_java_client(int port, std::vector<std::string> steps);

// One line per call printed by a client: "<kind> code=<c> msgs=<m>[ reply=<r>]".
struct GrpcCallLine {
  std::string kind;
  int code = -1;
  int msgs = -1;
  std::string reply;  // unary calls of the Go client: the answer, spaces as '_'
};
std::vector<GrpcCallLine> parse_grpc_calls(const std::string& out);

}  // namespace ztrace::e2e

namespace ztrace::e2e {

// What one gRPC call must look like on a span.
struct GrpcExpect {
  std::string method;  // of ztrace.e2e.Echo: "Unary", "ServerStream", "Bidi"
  int code = 0;        // rpc.grpc.status_code
};
// CHECKs that the spans of `kind` made by process `pid`, in start order, are exactly the
// `calls`: name "ztrace.e2e.Echo/<method>", rpc.system grpc, rpc.service, rpc.method,
// rpc.grpc.status_code, network.protocol.version "2", server.port, and the status rule of
// the OTel gRPC conventions (SERVER: ERROR for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
// INTERNAL, UNAVAILABLE, DATA_LOSS; CLIENT: ERROR for every non-OK code). Returns them.
std::vector<Span> expect_grpc_calls(const std::vector<Span>& spans, std::string_view kind,
                                    pid_t pid, int port, const std::vector<GrpcExpect>& calls);

// The client steps most interop tests make, and the calls they are.
extern const std::vector<std::string> kGrpcSteps;
extern const std::vector<GrpcExpect> kGrpcCalls;
// CHECKs that each server span is the child of the client span of the same call (the agent
// injected the client span's context): same trace, parent = the client span's id.
void check_children(const std::vector<Span>& clients, const std::vector<Span>& servers);

// CHECKs a run of kGrpcSteps by client `c` against `server`: the client's output, exactly
// two spans per call (expect_grpc_calls on both sides), client spans enclosing server spans,
// each server span the child of its client span (injection is on by default), and the
// server's process.runtime.name (skipped when empty). Stops the agent.
void check_grpc_run(Agent& agent, const Process& server, int port, const CommandResult& c,
                    std::string_view server_runtime);

}  // namespace ztrace::e2e
