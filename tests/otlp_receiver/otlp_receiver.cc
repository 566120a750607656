// Test OTLP receiver: an OTLP/gRPC TraceService and an OTLP/HTTP /v1/traces endpoint that
// record what they get, with switches to misbehave. Used by the e2e tests and the benchmark.
//
//   otlp_receiver [--grpc-port N|auto] [--http-port N|auto] [--spans FILE] [--requests FILE]
//                 [--raw-dir DIR] [--delay-ms N] [--grpc-fail-code C] [--http-fail-status S]
//                 [--fail-count N] [--retry-after-s S] [--reject N]
//                 [--tls-cert PEM --tls-key PEM] [--discard]
//
// Each listener logs "otlp_receiver: gRPC|HTTP on 127.0.0.1:PORT" to stderr once it listens
// ("auto": a free port chosen by the kernel, so concurrent test runs never collide).
// --spans: every span of every accepted request, one JSON object per line in the agent's
//   JSON lines schema (README) plus "scope_name", "scope_version", "schema_url",
//   "scope_schema_url", "transport", "request".
// --requests: one line per request, answered or failed: {"request", "transport", "path",
//   "content_type", "content_encoding", "user_agent", "headers", "body_bytes", "spans",
//   "resource_spans", "answer"}.
// --raw-dir: each OTLP/HTTP body as received (after gzip decoding) in DIR/http-<n>.pb.
// --grpc-fail-code / --http-fail-status: answer the first --fail-count requests (all when
//   negative, the default) with this gRPC status code / HTTP status; --retry-after-s adds a
//   Retry-After header (HTTP) or a google.rpc.RetryInfo (gRPC).
// --reject N: a partial success rejecting N spans of each accepted request.
// --discard: record nothing (benchmark sink); the count of accepted spans is logged at exit.
// Lines are flushed as written, so a test can read them while the receiver runs.

#include <google/protobuf/any.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace {

namespace collector = opentelemetry::proto::collector::trace::v1;
namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;
using Json = nlohmann::ordered_json;

struct Options {
  int grpc_port = 0;
  int http_port = 0;
  std::string spans_path;
  std::string requests_path;
  std::string raw_dir;
  int delay_ms = 0;
  int grpc_fail_code = 0;
  int http_fail_status = 0;
  int fail_count = -1;
  int retry_after_s = 0;
  int reject = 0;
  std::string tls_cert;
  std::string tls_key;
  bool discard = false;
};

Options g_options;
std::mutex g_mutex;
FILE* g_spans = nullptr;
FILE* g_requests = nullptr;
int g_request_count = 0;  // guarded by g_mutex

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

Json value_json(const common::AnyValue& value) {
  switch (value.value_case()) {
    case common::AnyValue::kStringValue:
      return value.string_value();
    case common::AnyValue::kIntValue:
      return value.int_value();
    case common::AnyValue::kDoubleValue:
      return value.double_value();
    case common::AnyValue::kBoolValue:
      return value.bool_value();
    default:
      return nullptr;
  }
}

Json attributes_json(const google::protobuf::RepeatedPtrField<common::KeyValue>& attributes) {
  Json out = Json::object();
  for (const auto& kv : attributes) out[kv.key()] = value_json(kv.value());
  return out;
}

std::string kind_name(trace::Span::SpanKind kind) {
  switch (kind) {
    case trace::Span::SPAN_KIND_SERVER:
      return "SERVER";
    case trace::Span::SPAN_KIND_CLIENT:
      return "CLIENT";
    case trace::Span::SPAN_KIND_PRODUCER:
      return "PRODUCER";
    case trace::Span::SPAN_KIND_CONSUMER:
      return "CONSUMER";
    case trace::Span::SPAN_KIND_INTERNAL:
      return "INTERNAL";
    default:
      return "UNSPECIFIED";
  }
}

std::string status_name(trace::Status::StatusCode code) {
  switch (code) {
    case trace::Status::STATUS_CODE_OK:
      return "OK";
    case trace::Status::STATUS_CODE_ERROR:
      return "ERROR";
    default:
      return "UNSET";
  }
}

std::atomic<uint64_t> g_discarded_spans{0};  // --discard: spans accepted, reported at exit

// True when this request is to be failed (counts it).
bool next_request_fails(int* seq) {
  std::lock_guard lock(g_mutex);
  *seq = ++g_request_count;
  const bool failing = g_options.grpc_fail_code != 0 || g_options.http_fail_status != 0;
  return failing && (g_options.fail_count < 0 || *seq <= g_options.fail_count);
}

void record(int seq, const std::string& transport, const collector::ExportTraceServiceRequest& req,
            Json request_line, bool accepted) {
  if (g_options.discard) {
    if (!accepted) return;
    for (const auto& rs : req.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) g_discarded_spans += ss.spans_size();
    }
    return;
  }
  size_t span_count = 0;
  std::string span_lines;
  for (const auto& rs : req.resource_spans()) {
    const Json resource = attributes_json(rs.resource().attributes());
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& span : ss.spans()) {
        ++span_count;
        if (!accepted) continue;
        Json line;
        line["trace_id"] = hex(span.trace_id());
        line["span_id"] = hex(span.span_id());
        line["parent_span_id"] = hex(span.parent_span_id());
        line["name"] = span.name();
        line["kind"] = kind_name(span.kind());
        line["start_time_unix_nano"] = span.start_time_unix_nano();
        line["end_time_unix_nano"] = span.end_time_unix_nano();
        line["status"] = {{"code", status_name(span.status().code())},
                          {"message", span.status().message()}};
        line["attributes"] = attributes_json(span.attributes());
        line["resource"] = resource;
        line["flags"] = span.flags();
        line["scope_name"] = ss.scope().name();
        line["scope_version"] = ss.scope().version();
        line["schema_url"] = rs.schema_url();
        line["scope_schema_url"] = ss.schema_url();
        line["transport"] = transport;
        line["request"] = seq;
        span_lines += line.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
      }
    }
  }
  request_line["request"] = seq;
  request_line["transport"] = transport;
  request_line["spans"] = span_count;
  request_line["resource_spans"] = req.resource_spans_size();
  std::lock_guard lock(g_mutex);
  if (g_spans != nullptr && !span_lines.empty()) {
    std::fwrite(span_lines.data(), 1, span_lines.size(), g_spans);
    std::fflush(g_spans);
  }
  if (g_requests != nullptr) {
    const std::string text = request_line.dump(-1, ' ', false, Json::error_handler_t::replace);
    std::fprintf(g_requests, "%s\n", text.c_str());
    std::fflush(g_requests);
  }
}

void set_partial_success(collector::ExportTraceServiceResponse* response) {
  if (g_options.reject <= 0) return;
  response->mutable_partial_success()->set_rejected_spans(g_options.reject);
  response->mutable_partial_success()->set_error_message("rejected by the test receiver");
}

// google.rpc.Status { code = 1; message = 2; details = 3 (Any) } with a RetryInfo detail,
// written field by field (no generated copy of google/rpc protos in Debian).
std::string rpc_status_bytes(int code, const std::string& message, int retry_after_s) {
  google::protobuf::UnknownFieldSet status;
  status.AddVarint(1, static_cast<uint64_t>(code));
  status.AddLengthDelimited(2, message);
  if (retry_after_s > 0) {
    google::protobuf::Duration delay;
    delay.set_seconds(retry_after_s);
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

class TraceServiceImpl final : public collector::TraceService::Service {
  grpc::Status Export(grpc::ServerContext* context,
                      const collector::ExportTraceServiceRequest* request,
                      collector::ExportTraceServiceResponse* response) override {
    int seq = 0;
    const bool fail = next_request_fails(&seq);
    if (g_options.delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(g_options.delay_ms));
    }
    Json line;
    line["path"] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    Json headers = Json::object();
    for (const auto& [key, value] : context->client_metadata()) {
      headers[std::string(key.data(), key.size())] = std::string(value.data(), value.size());
    }
    line["headers"] = headers;
    line["user_agent"] = headers.value("user-agent", "");
    line["body_bytes"] = request->ByteSizeLong();
    if (fail && g_options.grpc_fail_code != 0) {
      line["answer"] = "gRPC " + std::to_string(g_options.grpc_fail_code);
      record(seq, "grpc", *request, line, false);
      const auto code = static_cast<grpc::StatusCode>(g_options.grpc_fail_code);
      return grpc::Status(code, "failed by the test receiver",
                          rpc_status_bytes(g_options.grpc_fail_code, "failed by the test receiver",
                                           g_options.retry_after_s));
    }
    line["answer"] = "ok";
    record(seq, "grpc", *request, line, true);
    set_partial_success(response);
    return grpc::Status::OK;
  }
};

void handle_http(const httplib::Request& req, httplib::Response& res) {
  int seq = 0;
  const bool fail = next_request_fails(&seq);
  if (g_options.delay_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(g_options.delay_ms));
  }
  collector::ExportTraceServiceRequest request;
  Json line;
  line["path"] = req.path;
  line["content_type"] = req.get_header_value("Content-Type");
  line["content_encoding"] = req.get_header_value("Content-Encoding");
  line["user_agent"] = req.get_header_value("User-Agent");
  Json headers = Json::object();
  for (const auto& [key, value] : req.headers) headers[key] = value;
  line["headers"] = headers;
  line["body_bytes"] = req.body.size();
  if (!g_options.raw_dir.empty() && !g_options.discard) {
    std::ofstream(g_options.raw_dir + "/http-" + std::to_string(seq) + ".pb", std::ios::binary)
        << req.body;
  }
  if (!request.ParseFromString(req.body)) {
    line["answer"] = "HTTP 400";
    record(seq, "http", request, line, false);
    res.status = 400;
    res.set_content(rpc_status_bytes(3, "not an ExportTraceServiceRequest", 0),
                    "application/x-protobuf");
    return;
  }
  if (fail && g_options.http_fail_status != 0) {
    line["answer"] = "HTTP " + std::to_string(g_options.http_fail_status);
    record(seq, "http", request, line, false);
    res.status = g_options.http_fail_status;
    if (g_options.retry_after_s > 0) {
      res.set_header("Retry-After", std::to_string(g_options.retry_after_s));
    }
    res.set_content(rpc_status_bytes(14, "failed by the test receiver", 0),
                    "application/x-protobuf");
    return;
  }
  line["answer"] = "ok";
  record(seq, "http", request, line, true);
  collector::ExportTraceServiceResponse response;
  set_partial_success(&response);
  res.status = 200;
  res.set_content(response.SerializeAsString(), "application/x-protobuf");
}

int int_arg(int argc, char** argv, int* i) {
  if (*i + 1 >= argc) {
    std::fprintf(stderr, "%s needs a value\n", argv[*i]);
    std::exit(2);
  }
  return std::atoi(argv[++*i]);
}

// A port number, or "auto": any free port (-1), printed once listening.
int port_arg(int argc, char** argv, int* i) {
  if (*i + 1 < argc && std::string(argv[*i + 1]) == "auto") {
    ++*i;
    return -1;
  }
  return int_arg(argc, argv, i);
}

std::string str_arg(int argc, char** argv, int* i) {
  if (*i + 1 >= argc) {
    std::fprintf(stderr, "%s needs a value\n", argv[*i]);
    std::exit(2);
  }
  return argv[++*i];
}

}  // namespace

int main(int argc, char** argv) {
  Options& o = g_options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--grpc-port") {
      o.grpc_port = port_arg(argc, argv, &i);
    } else if (arg == "--http-port") {
      o.http_port = port_arg(argc, argv, &i);
    } else if (arg == "--spans") {
      o.spans_path = str_arg(argc, argv, &i);
    } else if (arg == "--requests") {
      o.requests_path = str_arg(argc, argv, &i);
    } else if (arg == "--raw-dir") {
      o.raw_dir = str_arg(argc, argv, &i);
    } else if (arg == "--delay-ms") {
      o.delay_ms = int_arg(argc, argv, &i);
    } else if (arg == "--grpc-fail-code") {
      o.grpc_fail_code = int_arg(argc, argv, &i);
    } else if (arg == "--http-fail-status") {
      o.http_fail_status = int_arg(argc, argv, &i);
    } else if (arg == "--fail-count") {
      o.fail_count = int_arg(argc, argv, &i);
    } else if (arg == "--retry-after-s") {
      o.retry_after_s = int_arg(argc, argv, &i);
    } else if (arg == "--reject") {
      o.reject = int_arg(argc, argv, &i);
    } else if (arg == "--tls-cert") {
      o.tls_cert = str_arg(argc, argv, &i);
    } else if (arg == "--tls-key") {
      o.tls_key = str_arg(argc, argv, &i);
    } else if (arg == "--discard") {
      o.discard = true;
    } else {
      std::fprintf(stderr, "unknown argument %s (see the comment at the top of the source)\n",
                   arg.c_str());
      return 2;
    }
  }
  if (o.grpc_port == 0 && o.http_port == 0) {
    std::fprintf(stderr, "give --grpc-port and/or --http-port\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (!o.spans_path.empty()) g_spans = std::fopen(o.spans_path.c_str(), "a");
  if (!o.requests_path.empty()) g_requests = std::fopen(o.requests_path.c_str(), "a");
  if (!o.raw_dir.empty()) std::filesystem::create_directories(o.raw_dir);
  const bool tls = !o.tls_cert.empty();

  TraceServiceImpl service;
  std::unique_ptr<grpc::Server> grpc_server;
  if (o.grpc_port != 0) {
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
    if (tls) {
      grpc::SslServerCredentialsOptions ssl;
      ssl.pem_key_cert_pairs.push_back({read_file(o.tls_key), read_file(o.tls_cert)});
      credentials = grpc::SslServerCredentials(ssl);
    }
    grpc::ServerBuilder builder;
    int bound_port = 0;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(std::max(o.grpc_port, 0)), credentials,
                             &bound_port);
    builder.RegisterService(&service);
    builder.SetMaxReceiveMessageSize(64 << 20);
    grpc_server = builder.BuildAndStart();
    if (!grpc_server || bound_port == 0) {
      std::fprintf(stderr, "cannot listen on gRPC port %d\n", o.grpc_port);
      return 1;
    }
    std::fprintf(stderr, "otlp_receiver: gRPC on 127.0.0.1:%d%s\n", bound_port,
                 tls ? " (TLS)" : "");
  }

  std::unique_ptr<httplib::Server> http_server;
  std::thread http_thread;
  if (o.http_port != 0) {
    if (tls) {
      http_server = std::make_unique<httplib::SSLServer>(o.tls_cert.c_str(), o.tls_key.c_str());
    } else {
      http_server = std::make_unique<httplib::Server>();
    }
    if (!http_server->is_valid()) {
      std::fprintf(stderr, "cannot set up the HTTP server (TLS files?)\n");
      return 1;
    }
    http_server->set_payload_max_length(64 << 20);
    http_server->Post("/v1/traces", handle_http);
    int bound_port = o.http_port;
    if (o.http_port < 0) {
      bound_port = http_server->bind_to_any_port("127.0.0.1");
    } else if (!http_server->bind_to_port("127.0.0.1", o.http_port)) {
      bound_port = -1;
    }
    if (bound_port <= 0) {
      std::fprintf(stderr, "cannot listen on HTTP port %d\n", o.http_port);
      return 1;
    }
    std::fprintf(stderr, "otlp_receiver: HTTP on 127.0.0.1:%d%s\n", bound_port,
                 tls ? " (TLS)" : "");
    http_thread = std::thread([&] { http_server->listen_after_bind(); });
  }

  // Until SIGTERM / SIGINT.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  if (http_server) {
    http_server->stop();
    http_thread.join();
  }
  if (grpc_server)
    grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  if (g_options.discard) {
    std::fprintf(stderr, "otlp_receiver: spans accepted=%llu\n",
                 static_cast<unsigned long long>(g_discarded_spans.load()));
  }
  return 0;
}
