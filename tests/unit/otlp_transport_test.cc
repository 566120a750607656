// OTLP transports against in-process servers: how answers are classified (success, partial
// success, retryable with the server's delay, permanent), headers, gzip.
#include <arpa/inet.h>
#include <google/protobuf/any.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <mutex>
#include <string>
#include <thread>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "userspace/export/otlp/otlp_encoder.h"
#include "userspace/export/otlp/reference/message_encoder.h"
#include "userspace/export/otlp/transport.h"

namespace ztrace::otlp {
namespace {

using std::chrono::milliseconds;
namespace collector = opentelemetry::proto::collector::trace::v1;

std::string rpc_status(int code, const std::string& message, int64_t retry_delay_s) {
  google::protobuf::UnknownFieldSet status;
  status.AddVarint(1, static_cast<uint64_t>(code));
  status.AddLengthDelimited(2, message);
  if (retry_delay_s >= 0) {
    google::protobuf::Duration delay;
    delay.set_seconds(retry_delay_s);
    delay.set_nanos(250'000'000);
    google::protobuf::UnknownFieldSet retry_info;
    retry_info.AddLengthDelimited(1, delay.SerializeAsString());
    std::string retry_info_bytes;
    retry_info.SerializeToString(&retry_info_bytes);
    google::protobuf::Any any;
    any.set_type_url("type.googleapis.com/google.rpc.RetryInfo");
    any.set_value(retry_info_bytes);
    status.AddLengthDelimited(3, any.SerializeAsString());
  }
  std::string out;
  status.SerializeToString(&out);
  return out;
}

std::string gunzip(const std::string& in) {
  z_stream stream{};
  REQUIRE(inflateInit2(&stream, 15 + 16) == Z_OK);
  std::string out(1 << 20, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  stream.avail_in = static_cast<uInt>(in.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  inflateEnd(&stream);
  REQUIRE(rc == Z_STREAM_END);
  return out;
}

// A batch of two spans of one resource.
struct Batch {
  Batch() {
    auto resource = std::make_shared<spans::Resource>();
    resource->attributes.push_back({"service.name", std::string("svc")});
    for (uint8_t id = 1; id <= 2; ++id) {
      spans::Span span;
      span.trace_id[0] = 1;
      span.span_id[7] = id;
      span.name = "GET";
      span.resource = resource;
      spans.push_back(span);
    }
    OtlpEncoder({.agent_version = "9.9.9"}).encode(spans, &request);
    encoded.serialized = request.SerializeAsString();
    encoded.spans = spans.size();
  }
  std::vector<spans::Span> spans;
  ExportRequest request;
  EncodedBatch encoded;
};

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// ---------------------------------------------------------------------------------------
// OTLP/HTTP against a minimal HTTP/1.1 server: one canned answer, keep-alive.

class MiniHttpServer {
 public:
  explicit MiniHttpServer(std::string answer) : answer_(std::move(answer)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(listen(listen_fd_, 8) == 0);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~MiniHttpServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces"; }
  std::string head() {
    std::lock_guard lock(mutex_);
    return head_;
  }
  std::string body() {
    std::lock_guard lock(mutex_);
    return body_;
  }
  int requests() const { return requests_.load(); }

 private:
  void serve() {
    while (true) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::string buffer;
      char chunk[65536];
      while (true) {
        const size_t end = buffer.find("\r\n\r\n");
        if (end != std::string::npos) {
          std::string head = buffer.substr(0, end);
          size_t length = 0;
          std::string lower = head;
          for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          const size_t at = lower.find("content-length:");
          if (at != std::string::npos) length = std::stoul(head.substr(at + 15));
          if (buffer.size() >= end + 4 + length) {
            {
              std::lock_guard lock(mutex_);
              head_ = head;
              body_ = buffer.substr(end + 4, length);
            }
            ++requests_;
            buffer.erase(0, end + 4 + length);
            (void)!write(fd, answer_.data(), answer_.size());
            continue;
          }
        }
        const ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n <= 0) break;
        buffer.append(chunk, static_cast<size_t>(n));
      }
      close(fd);
    }
  }

  std::string answer_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::string head_, body_;
  std::atomic<int> requests_{0};
};

std::string http_answer(int status, const std::string& extra_headers, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/x-protobuf\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

OtlpOptions http_options(const std::string& url) {
  OtlpOptions options;
  options.enabled = true;
  options.endpoint = url;
  options.agent_version = "9.9.9";
  options.headers = {{"x-api-key", "k1"}, {"tenant", "t 2"}};
  return options;
}

TEST_CASE("otlp http transport: success, partial success, headers, gzip", "[otlp][transport]") {
  collector::ExportTraceServiceResponse response;
  response.mutable_partial_success()->set_rejected_spans(1);
  response.mutable_partial_success()->set_error_message("one too old");
  MiniHttpServer server(http_answer(200, "", response.SerializeAsString()));
  OtlpOptions options = http_options(server.url());
  options.compression = Compression::kGzip;
  std::string error;
  auto transport = make_http_transport(options, &error);
  REQUIRE(transport);
  Batch batch;
  SendResult result = transport->send(batch.encoded, milliseconds(5000));
  INFO(result.error);
  CHECK(result.outcome == ExportOutcome::kSuccess);
  CHECK(result.rejected_spans == 1);
  CHECK(result.partial_success_message == "one too old");
  const std::string head = server.head();
  CHECK(head.starts_with("POST /v1/traces HTTP/1.1"));
  CHECK(head.find("Content-Type: application/x-protobuf") != std::string::npos);
  CHECK(head.find("Content-Encoding: gzip") != std::string::npos);
  CHECK(head.find("x-api-key: k1") != std::string::npos);
  CHECK(head.find("tenant: t 2") != std::string::npos);
  CHECK(head.find("User-Agent: ztrace/9.9.9") != std::string::npos);
  CHECK(head.find("Expect:") == std::string::npos);
  const std::string body = server.body();
  CHECK(result.bytes_sent == body.size());
  ExportRequest received;
  REQUIRE(received.ParseFromString(gunzip(body)));
  CHECK(received.SerializeAsString() == batch.request.SerializeAsString());
  CHECK(result.bytes_uncompressed == batch.request.ByteSizeLong());

  // A retry reuses the encoded body and the connection.
  result = transport->send(batch.encoded, milliseconds(5000));
  CHECK(result.outcome == ExportOutcome::kSuccess);
  CHECK(server.body() == body);
  CHECK(server.requests() == 2);
}

TEST_CASE("otlp http transport: retryable statuses with Retry-After, permanent ones",
          "[otlp][transport]") {
  struct Row {
    int status;
    std::string headers;
    ExportOutcome outcome;
    std::optional<milliseconds> retry_after;
  };
  const Row rows[] = {
      {429, "Retry-After: 7\r\n", ExportOutcome::kRetryable, milliseconds(7000)},
      {502, "", ExportOutcome::kRetryable, std::nullopt},
      {503, "Retry-After: 2\r\n", ExportOutcome::kRetryable, milliseconds(2000)},
      {504, "", ExportOutcome::kRetryable, std::nullopt},
      {400, "", ExportOutcome::kPermanent, std::nullopt},
      {401, "", ExportOutcome::kPermanent, std::nullopt},
      {404, "", ExportOutcome::kPermanent, std::nullopt},
      {500, "", ExportOutcome::kPermanent, std::nullopt},
  };
  for (const Row& row : rows) {
    INFO("HTTP " << row.status);
    MiniHttpServer server(http_answer(row.status, row.headers, rpc_status(3, "bad spans", -1)));
    std::string error;
    auto transport = make_http_transport(http_options(server.url()), &error);
    REQUIRE(transport);
    Batch batch;
    const SendResult result = transport->send(batch.encoded, milliseconds(5000));
    CHECK(result.outcome == row.outcome);
    CHECK(result.retry_after == row.retry_after);
    CHECK(result.error_kind == "HTTP " + std::to_string(row.status));
    // The google.rpc.Status message of the body is in the error.
    CHECK(result.error.find("bad spans") != std::string::npos);
  }
}

TEST_CASE("otlp http transport: nobody listening is retryable; cancel aborts",
          "[otlp][transport]") {
  const int port = free_port();
  std::string error;
  auto transport = make_http_transport(
      http_options("http://127.0.0.1:" + std::to_string(port) + "/v1/traces"), &error);
  REQUIRE(transport);
  Batch batch;
  SendResult result = transport->send(batch.encoded, milliseconds(2000));
  CHECK(result.outcome == ExportOutcome::kRetryable);
  CHECK(result.error_kind == "connect");
  transport->cancel();
  result = transport->send(batch.encoded, milliseconds(2000));
  CHECK(result.outcome == ExportOutcome::kCancelled);
  transport->reset_cancel();
  CHECK(transport->send(batch.encoded, milliseconds(2000)).outcome == ExportOutcome::kRetryable);
}

TEST_CASE("otlp http transport: an unreadable CA file is a setup error", "[otlp][transport]") {
  OtlpOptions options = http_options("https://127.0.0.1:1/v1/traces");
  options.use_tls = true;
  options.tls.ca_file = "/nonexistent/ca.pem";
  std::string error;
  CHECK_FALSE(make_http_transport(options, &error));
  CHECK(error.find("/nonexistent/ca.pem") != std::string::npos);
}

// ---------------------------------------------------------------------------------------
// OTLP/gRPC against an in-process TraceService.

class ScriptedService final : public collector::TraceService::Service {
 public:
  grpc::Status Export(grpc::ServerContext* context,
                      const collector::ExportTraceServiceRequest* request,
                      collector::ExportTraceServiceResponse* response) override {
    std::lock_guard lock(mutex);
    received = *request;
    metadata.clear();
    for (const auto& [key, value] : context->client_metadata()) {
      metadata[std::string(key.data(), key.size())] = std::string(value.data(), value.size());
    }
    ++calls;
    if (rejected > 0) {
      response->mutable_partial_success()->set_rejected_spans(rejected);
      response->mutable_partial_success()->set_error_message("partly");
    }
    return answer;
  }
  std::mutex mutex;
  grpc::Status answer = grpc::Status::OK;
  int64_t rejected = 0;
  collector::ExportTraceServiceRequest received;
  std::map<std::string, std::string> metadata;
  int calls = 0;
};

struct GrpcServer {
  GrpcServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    REQUIRE(server);
  }
  ~GrpcServer() { server->Shutdown(std::chrono::system_clock::now()); }
  ScriptedService service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

OtlpOptions grpc_options(int port) {
  OtlpOptions options;
  options.enabled = true;
  options.protocol = Protocol::kGrpc;
  options.endpoint = "http://127.0.0.1:" + std::to_string(port);
  options.agent_version = "9.9.9";
  options.headers = {{"X-Api-Key", "k1"}};
  return options;
}

TEST_CASE("otlp grpc transport: success, partial success, metadata, gzip", "[otlp][transport]") {
  GrpcServer server;
  server.service.rejected = 2;
  OtlpOptions options = grpc_options(server.port);
  options.compression = Compression::kGzip;
  std::string error;
  auto transport = make_grpc_transport(options, &error);
  REQUIRE(transport);
  Batch batch;
  const SendResult result = transport->send(batch.encoded, milliseconds(5000));
  INFO(result.error);
  CHECK(result.outcome == ExportOutcome::kSuccess);
  CHECK(result.rejected_spans == 2);
  CHECK(result.partial_success_message == "partly");
  CHECK(result.bytes_uncompressed == batch.request.ByteSizeLong());
  std::lock_guard lock(server.service.mutex);
  CHECK(server.service.received.SerializeAsString() == batch.request.SerializeAsString());
  CHECK(server.service.metadata["x-api-key"] == "k1");
  CHECK(server.service.metadata["user-agent"].find("ztrace/9.9.9") != std::string::npos);
}

TEST_CASE("otlp grpc transport: status codes classified as the OTLP spec says",
          "[otlp][transport]") {
  GrpcServer server;
  std::string error;
  auto transport = make_grpc_transport(grpc_options(server.port), &error);
  REQUIRE(transport);
  struct Row {
    grpc::Status status;
    ExportOutcome outcome;
    std::optional<milliseconds> retry_after;
    std::string kind;
  };
  const Row rows[] = {
      {grpc::Status(grpc::StatusCode::UNAVAILABLE, "later"), ExportOutcome::kRetryable,
       std::nullopt, "gRPC UNAVAILABLE"},
      {grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "full"), ExportOutcome::kPermanent,
       std::nullopt, "gRPC RESOURCE_EXHAUSTED"},
      {grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "full", rpc_status(8, "full", 3)),
       ExportOutcome::kRetryable, milliseconds(3250), "gRPC RESOURCE_EXHAUSTED"},
      {grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad"), ExportOutcome::kPermanent,
       std::nullopt, "gRPC INVALID_ARGUMENT"},
      {grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "who"), ExportOutcome::kPermanent,
       std::nullopt, "gRPC UNAUTHENTICATED"},
      {grpc::Status(grpc::StatusCode::ABORTED, "again"), ExportOutcome::kRetryable, std::nullopt,
       "gRPC ABORTED"},
  };
  for (const Row& row : rows) {
    INFO(row.kind);
    {
      std::lock_guard lock(server.service.mutex);
      server.service.answer = row.status;
    }
    Batch batch;
    const SendResult result = transport->send(batch.encoded, milliseconds(5000));
    CHECK(result.outcome == row.outcome);
    CHECK(result.retry_after == row.retry_after);
    CHECK(result.error_kind == row.kind);
    CHECK(result.error.find(row.status.error_message()) != std::string::npos);
    // The server answered: the request went out.
    CHECK(result.bytes_sent == batch.encoded.serialized.size());
  }
}

TEST_CASE("otlp grpc transport: nobody listening is UNAVAILABLE, fast", "[otlp][transport]") {
  std::string error;
  auto transport = make_grpc_transport(grpc_options(free_port()), &error);
  REQUIRE(transport);
  Batch batch;
  const auto start = std::chrono::steady_clock::now();
  const SendResult result = transport->send(batch.encoded, milliseconds(3000));
  CHECK(result.outcome == ExportOutcome::kRetryable);
  CHECK(result.error_kind == "gRPC UNAVAILABLE");
  CHECK(std::chrono::steady_clock::now() - start < milliseconds(2000));
}

TEST_CASE("otlp transports: nothing counts as sent to a refused endpoint", "[otlp][transport]") {
  const int port = free_port();
  std::string error;
  auto grpc = make_grpc_transport(grpc_options(port), &error);
  auto http = make_http_transport(
      http_options("http://127.0.0.1:" + std::to_string(port) + "/v1/traces"), &error);
  REQUIRE(grpc);
  REQUIRE(http);
  Batch batch;
  for (Transport* transport : {grpc.get(), http.get()}) {
    INFO(transport->describe());
    for (int attempt = 0; attempt < 3; ++attempt) {
      const SendResult result = transport->send(batch.encoded, milliseconds(2000));
      CHECK(result.outcome == ExportOutcome::kRetryable);
      CHECK(result.bytes_sent == 0);
      CHECK(result.bytes_uncompressed == batch.encoded.serialized.size());
    }
  }
}

TEST_CASE("otlp transport helpers: google.rpc.Status parsing, gzip", "[otlp][transport]") {
  const RpcStatusDetails details = parse_rpc_status(rpc_status(8, "slow down", 4));
  CHECK(details.message == "slow down");
  CHECK(details.retry_delay == milliseconds(4250));
  CHECK_FALSE(parse_rpc_status(rpc_status(8, "no info", -1)).retry_delay);
  CHECK(parse_rpc_status("not protobuf \xff\xff").message.empty());
  const std::string text(10000, 'a');
  std::string compressed;
  REQUIRE(gzip_compress(text, &compressed));
  CHECK(compressed.size() < 200);
  CHECK(gunzip(compressed) == text);
}

}  // namespace
}  // namespace ztrace::otlp
