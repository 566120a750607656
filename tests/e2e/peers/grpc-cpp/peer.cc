// gRPC C++ peer of the ztrace end-to-end tests (Debian grpc++, sync API). The same service
// and client steps as peers/grpc-go/main.go, from peers/grpc-echo.proto.
//
//   peer server ADDR
//   peer client ADDR STEP...   (unary:<req> | stream:<req> | bidi:<k> | wait:<file>)
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "grpc-echo.grpc.pb.h"

namespace {

using ztrace::e2e::Echo;
using ztrace::e2e::Msg;

grpc::Status failure(const std::string& spec) {
  const size_t colon = spec.find(':');
  const int code = std::stoi(spec.substr(0, colon));
  const std::string message =
      colon == std::string::npos ? "failed on purpose" : spec.substr(colon + 1);
  return grpc::Status(static_cast<grpc::StatusCode>(code), message);
}

class EchoService final : public Echo::Service {
  grpc::Status Unary(grpc::ServerContext*, const Msg* request, Msg* response) override {
    const std::string& req = request->data();
    if (req.rfind("fail:", 0) == 0) return failure(req.substr(5));
    response->set_data("echo " + (req.rfind("ok:", 0) == 0 ? req.substr(3) : req));
    return grpc::Status::OK;
  }
  grpc::Status ServerStream(grpc::ServerContext*, const Msg* request,
                            grpc::ServerWriter<Msg>* writer) override {
    const std::string& req = request->data();
    const size_t fail = req.find(":fail:");
    const int n = std::stoi(req.substr(0, fail));
    for (int i = 0; i < n; ++i) {
      Msg m;
      m.set_data("item " + std::to_string(i));
      writer->Write(m);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return fail == std::string::npos ? grpc::Status::OK : failure(req.substr(fail + 6));
  }
  grpc::Status Bidi(grpc::ServerContext*, grpc::ServerReaderWriter<Msg, Msg>* stream) override {
    Msg m;
    while (stream->Read(&m)) stream->Write(m);
    return grpc::Status::OK;
  }
};

void run_step(Echo::Stub& stub, const std::string& step) {
  const size_t colon = step.find(':');
  const std::string kind = step.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : step.substr(colon + 1);
  if (kind == "wait") {
    std::printf("waiting\n");
    std::fflush(stdout);
    while (!std::filesystem::exists(arg))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  Msg request, response;
  request.set_data(arg);
  int msgs = 0;
  grpc::Status status;
  if (kind == "unary") {
    status = stub.Unary(&ctx, request, &response);
    msgs = status.ok() ? 1 : 0;
  } else if (kind == "stream") {
    auto reader = stub.ServerStream(&ctx, request);
    while (reader->Read(&response)) ++msgs;
    status = reader->Finish();
  } else if (kind == "bidi") {
    auto stream = stub.Bidi(&ctx);
    for (int i = 0; i < std::stoi(arg); ++i) {
      Msg ping;
      ping.set_data("ping " + std::to_string(i));
      if (!stream->Write(ping) || !stream->Read(&response)) break;
      ++msgs;
    }
    stream->WritesDone();
    while (stream->Read(&response)) {
    }
    status = stream->Finish();
  } else {
    std::fprintf(stderr, "unknown step %s\n", step.c_str());
    std::exit(2);
  }
  std::printf("%s code=%d msgs=%d\n", kind.c_str(), static_cast<int>(status.error_code()), msgs);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s server ADDR | client ADDR STEP...\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1], addr = argv[2];
  if (mode == "server") {
    EchoService service;
    grpc::ServerBuilder builder;
    builder.AddListeningPort(addr, grpc::InsecureServerCredentials());
    builder.RegisterService(&service);
    auto server = builder.BuildAndStart();
    if (!server) return 1;
    std::printf("listening %s\n", addr.c_str());
    std::fflush(stdout);
    server->Wait();
    return 0;
  }
  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  auto stub = Echo::NewStub(channel);
  for (int i = 3; i < argc; ++i) run_step(*stub, argv[i]);
  return 0;
}
