// OTLP export throughput: spans per second per core, and bytes per span on the wire, for a
// realistic HTTP SERVER span (13 attributes, a 9-attribute process resource, 4 processes).
//
//   build/bench/otlp_encode_bench [spans]
//
// Rows:
//   encode        SpanSerializer + RequestFramer only (the exporter's encoding), batches of 512.
//   http/protobuf the whole OtlpExporter: on_span() (serialized into its queue) on the caller,
//                 batching, framing and POST over loopback by libcurl on its sender thread, to a
//                 discard sink (answers 200 with an empty body) in a forked child process.
//   http gzip     the same with gzip.
//   grpc          the same over OTLP/gRPC to a discard TraceService in a forked child.
//   jsonl         the JSONL exporter (--jsonl) writing to /dev/null, batches of 512.
// "per core" = spans / CPU seconds of this process (all its threads; the sinks run in other
// processes and are not counted).

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "userspace/export/jsonl_exporter.h"
#include "userspace/export/otlp/otlp_encoder.h"
#include "userspace/export/otlp/otlp_exporter.h"

namespace {

using namespace ztrace;
using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

std::vector<spans::Span> make_spans(size_t count) {
  std::vector<std::shared_ptr<const spans::Resource>> resources;
  for (int p = 0; p < 4; ++p) {
    auto r = std::make_shared<spans::Resource>();
    const int64_t pid = 41000 + p;
    r->attributes = {
        {"service.name", std::string("checkout-") + std::to_string(p)},
        {"host.name", std::string("node-7.prod.example")},
        {"process.pid", pid},
        {"process.executable.name", std::string("java")},
        {"process.executable.path", std::string("/usr/lib/jvm/java-17-openjdk-amd64/bin/java")},
        {"process.command_line",
         std::string("java -Xmx2g -jar /srv/checkout/checkout-service.jar --port 8080")},
        {"process.runtime.name", std::string("java")},
        {"service.instance.id", std::string("0f3c2a9e-8d7b-4c1e-9a55-6b2f8e1d4c3a")},
        {"deployment.environment", std::string("prod")}};
    resources.push_back(std::move(r));
  }
  std::vector<spans::Span> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    spans::Span s;
    s.trace_id = spans::random_trace_id();
    s.span_id = spans::random_span_id();
    s.name = "GET";
    s.kind = spans::SpanKind::kServer;
    s.start_time_unix_nano = 1'795'265'663'904'685'800ULL + i * 1000;
    s.end_time_unix_nano = s.start_time_unix_nano + 668'323;
    s.set("http.request.method", std::string("GET"));
    s.set("url.path", "/api/v1/carts/" + std::to_string(100000 + i % 5000) + "/items");
    s.set("url.scheme", std::string("http"));
    s.set("http.response.status_code", int64_t{200});
    s.set("server.address", std::string("10.42.7.19"));
    s.set("server.port", int64_t{8080});
    s.set("client.address", std::string("10.42.3.201"));
    s.set("client.port", int64_t{40000 + static_cast<int64_t>(i % 20000)});
    s.set("network.peer.address", std::string("10.42.3.201"));
    s.set("network.peer.port", int64_t{40000 + static_cast<int64_t>(i % 20000)});
    s.set("network.protocol.version", std::string("1.1"));
    s.set("user_agent.original", std::string("okhttp/4.12.0"));
    s.set("http.route", std::string("/api/v1/carts/{id}/items"));
    s.resource = resources[i % resources.size()];
    out.push_back(std::move(s));
  }
  return out;
}

// --- sinks, each in a child process --------------------------------------------------------

int listen_on_free_port(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 16) != 0) {
    std::perror("sink");
    std::exit(1);
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

[[noreturn]] void run_http_sink(int listen_fd) {
  static constexpr char kAnswer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  while (true) {
    const int fd = accept(listen_fd, nullptr, nullptr);
    if (fd < 0) continue;
    std::thread([fd] {
      std::string buffer;
      std::vector<char> chunk(1 << 20);
      while (true) {
        const size_t end = buffer.find("\r\n\r\n");
        if (end != std::string::npos) {
          size_t length = 0;
          const size_t at = buffer.find("Content-Length: ");
          if (at != std::string::npos && at < end) length = std::stoul(buffer.substr(at + 16));
          if (buffer.size() >= end + 4 + length) {
            buffer.erase(0, end + 4 + length);
            if (write(fd, kAnswer, sizeof(kAnswer) - 1) < 0) break;
            continue;
          }
        }
        const ssize_t n = read(fd, chunk.data(), chunk.size());
        if (n <= 0) break;
        buffer.append(chunk.data(), static_cast<size_t>(n));
      }
      close(fd);
    }).detach();
  }
}

class DiscardService final
    : public opentelemetry::proto::collector::trace::v1::TraceService::Service {
  grpc::Status Export(
      grpc::ServerContext*,
      const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest*,
      opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse*) override {
    return grpc::Status::OK;
  }
};

[[noreturn]] void run_grpc_sink(int port) {
  DiscardService service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(64 << 20);
  auto server = builder.BuildAndStart();
  if (!server) std::exit(1);
  server->Wait();
  std::exit(0);
}

pid_t fork_sink(bool grpc, int* port) {
  int fd = listen_on_free_port(port);
  if (grpc) close(fd);  // the gRPC server binds the port itself
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // no sink outlives a crashed benchmark
    if (grpc) run_grpc_sink(*port);
    run_http_sink(fd);
  }
  if (!grpc) close(fd);
  return pid;
}

// --- rows ----------------------------------------------------------------------------------

struct Row {
  std::string name;
  size_t spans = 0;
  double wall_s = 0, cpu_s = 0, wire_bytes_per_span = -1;
  uint64_t dropped = 0;
};

void print(const Row& row) {
  char wire[32] = "n/a";
  if (row.wire_bytes_per_span >= 0)
    std::snprintf(wire, sizeof(wire), "%.0f", row.wire_bytes_per_span);
  std::printf("| %-26s | %8zu | %6.2f | %6.2f | %9.0f | %6s | %llu |\n", row.name.c_str(),
              row.spans, row.wall_s, row.cpu_s, row.spans / row.cpu_s, wire,
              static_cast<unsigned long long>(row.dropped));
  std::fflush(stdout);
}

Row bench_encode(const std::vector<spans::Span>& spans) {
  // What the exporter does: each span serialized once, requests framed around the bytes.
  otlp::SpanSerializer serializer;
  otlp::RequestFramer framer({.agent_version = "0.1.0"});
  std::vector<otlp::SerializedSpan> batch(512);
  std::string bytes;
  size_t total_bytes = 0;
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  for (size_t i = 0; i < spans.size(); i += 512) {
    const size_t n = std::min<size_t>(512, spans.size() - i);
    batch.resize(n);
    for (size_t k = 0; k < n; ++k) {
      serializer.serialize(spans[i + k], &batch[k].bytes);
      batch[k].resource = spans[i + k].resource;
    }
    framer.frame(batch, &bytes);
    total_bytes += bytes.size();
  }
  Row row{.name = "encode (protobuf, no send)", .spans = spans.size()};
  row.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  row.cpu_s = cpu_seconds() - cpu0;
  row.wire_bytes_per_span = static_cast<double>(total_bytes) / spans.size();
  return row;
}

Row bench_jsonl(const std::vector<spans::Span>& spans) {
  std::string error;
  auto jsonl = exporter::JsonlExporter::open("/dev/null", &error);
  if (!jsonl) std::exit(1);
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  for (size_t i = 0; i < spans.size(); i += 512) {
    const size_t n = std::min<size_t>(512, spans.size() - i);
    jsonl->export_spans(std::span(spans).subspan(i, n));
  }
  Row row{.name = "jsonl -> /dev/null", .spans = spans.size()};
  row.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  row.cpu_s = cpu_seconds() - cpu0;
  return row;
}

Row bench_export(const std::string& name, const std::vector<spans::Span>& spans,
                 otlp::Protocol protocol, otlp::Compression compression, int port) {
  otlp::OtlpOptions options;
  options.enabled = true;
  options.protocol = protocol;
  options.compression = compression;
  options.endpoint = protocol == otlp::Protocol::kGrpc
                         ? "http://127.0.0.1:" + std::to_string(port)
                         : "http://127.0.0.1:" + std::to_string(port) + "/v1/traces";
  options.max_queue_spans = spans.size() + 1;
  options.max_queue_bytes = size_t{4} << 30;
  options.batch_delay = std::chrono::milliseconds(100);
  options.flush_timeout = std::chrono::milliseconds(120000);
  options.agent_version = "0.1.0";
  std::string error;
  auto exporter = otlp::OtlpExporter::create(options, &error);
  if (!exporter) {
    std::fprintf(stderr, "%s\n", error.c_str());
    std::exit(1);
  }
  auto stats = exporter->stats();
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  for (const spans::Span& span : spans) exporter->on_span(span);
  exporter->flush();
  Row row{.name = name, .spans = spans.size()};
  row.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  row.cpu_s = cpu_seconds() - cpu0;
  if (stats->spans_exported != spans.size()) {
    std::fprintf(stderr, "%s: only %llu of %zu spans exported\n", name.c_str(),
                 static_cast<unsigned long long>(stats->spans_exported.load()), spans.size());
  }
  row.dropped = stats->spans_dropped();
  // gRPC compresses inside the library: its bytes_sent is the message before gzip.
  if (!(protocol == otlp::Protocol::kGrpc && compression == otlp::Compression::kGzip)) {
    row.wire_bytes_per_span = static_cast<double>(stats->bytes_sent) / spans.size();
  }
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  signal(SIGPIPE, SIG_IGN);
  // Sinks first: fork before this process starts any thread (gRPC, curl).
  int http_port = 0, grpc_port = 0;
  const pid_t http_sink = fork_sink(false, &http_port);
  const pid_t grpc_sink = fork_sink(true, &grpc_port);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  const std::vector<spans::Span> spans = make_spans(count);
  std::printf(
      "OTLP export, realistic HTTP SERVER span (13 attributes, 9-attribute resource), "
      "batches of 512, %u CPUs\n\n",
      std::thread::hardware_concurrency());
  std::printf("| %-26s | %8s | %6s | %6s | %9s | %6s | %s |\n", "path", "spans", "wall s", "CPU s",
              "spans/s/core", "B/span", "dropped");
  std::printf("|---|---|---|---|---|---|---|\n");
  print(bench_encode(spans));
  print(bench_export("http/protobuf -> sink", spans, otlp::Protocol::kHttpProtobuf,
                     otlp::Compression::kNone, http_port));
  print(bench_export("http/protobuf gzip -> sink", spans, otlp::Protocol::kHttpProtobuf,
                     otlp::Compression::kGzip, http_port));
  print(bench_export("grpc -> sink", spans, otlp::Protocol::kGrpc, otlp::Compression::kNone,
                     grpc_port));
  print(bench_export("grpc gzip -> sink", spans, otlp::Protocol::kGrpc, otlp::Compression::kGzip,
                     grpc_port));
  print(bench_jsonl(spans));
  kill(http_sink, SIGKILL);
  kill(grpc_sink, SIGKILL);
  waitpid(http_sink, nullptr, 0);
  waitpid(grpc_sink, nullptr, 0);
  return 0;
}
