// OTLP export end to end: the agent traces curl -> python and exports to the test receiver
// (tests/otlp_receiver) over OTLP/HTTP and OTLP/gRPC, plain and TLS. The receiver must get
// exactly the spans the agent wrote to its JSON lines file, field for field, with one
// ResourceSpans per process, scope ztrace and the schema URL; protoc decodes the bodies.
#include <catch2/catch_test_macros.hpp>
#include <set>

#include "tests/e2e/harness.h"
#include "tests/e2e/otlp_support.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

// Three requests on one keep-alive connection: 3 SERVER (python) + 3 CLIENT (curl) spans.
std::vector<CurlLine> make_traffic(const fs::path& dir, int port, std::string_view tag) {
  const std::string t(tag);
  auto lines = parse_curl_output(must_run(dir, curl_command({{url(port, "/ok/" + t + "1")},
                                                             {url(port, "/notfound/" + t + "2")},
                                                             {url(port, "/ok/" + t + "3")}})));
  REQUIRE(lines.size() == 3);
  REQUIRE((lines[0].code == 200 && lines[1].code == 404 && lines[2].code == 200));
  return lines;
}

// OTLP spans reach the receiver shortly after the JSON lines: wait for `count`.
std::vector<Span> wait_for_received(const Receiver& receiver, size_t count,
                                    std::chrono::milliseconds timeout = 10s) {
  wait_until([&] { return receiver.spans().size() >= count; }, timeout);
  return receiver.spans();
}

// Each request holds one ResourceSpans per process among its spans.
void check_one_resource_per_process(const std::vector<nlohmann::json>& requests,
                                    const std::vector<Span>& received) {
  for (const auto& request : requests) {
    if (request.value("answer", "") != "ok") continue;
    std::set<int64_t> pids;
    for (const Span& span : received) {
      if (span.raw.value("request", -1) == request.value("request", -2)) pids.insert(span.pid());
    }
    INFO("request " << request.dump());
    CHECK(request.value("resource_spans", 0) == static_cast<int>(pids.size()));
  }
}

void make_certificates(const fs::path& dir, const std::string& name) {
  // A CA and a server certificate for 127.0.0.1 signed by it (EC keys: fast to make).
  const std::string ca_key = (dir / (name + "-ca.key")).string();
  const std::string ca = (dir / (name + "-ca.pem")).string();
  const std::string key = (dir / (name + "-server.key")).string();
  const std::string csr = (dir / (name + "-server.csr")).string();
  const std::string cert = (dir / (name + "-server.pem")).string();
  const std::string ext = (dir / (name + "-ext.cnf")).string();
  write_file(ext,
             "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
             "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
  must_run(dir, {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key, "-out", ca, "-days",
                 "2", "-subj", "/CN=ztrace test CA " + name});
  must_run(dir, {"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"});
  must_run(dir, {"openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                 "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext});
}

}  // namespace

TEST_CASE(
    "otlp http from OTEL_EXPORTER_OTLP_ENDPOINT: the receiver gets exactly the spans "
    "and resources; protoc decodes the body",
    "[e2e][otlp][otlp-http]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24400);
  const auto dir = fresh_dir("otlp_http");
  Receiver receiver(dir, {.http_port = Receiver::kAuto});
  const int http_port = receiver.http_port();
  Process server = start_python_server(dir, port);
  // Generic endpoint: the agent must append /v1/traces (the receiver serves nothing else).
  // The agent's OTEL_RESOURCE_ATTRIBUTES is added to every resource.
  ScopedEnv env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:" + std::to_string(http_port)},
                 {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
                 {"OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=e2e%20http"},
                 {"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=e2e"}});
  Agent agent(dir, {.ports = {port}, .extra_args = {"--otlp-batch-delay-ms", "100"}});
  make_traffic(dir, port, "h");
  const std::vector<Span> expected = stop_and_collect(agent);
  REQUIRE(expected.size() == 6);
  const std::vector<Span> received = wait_for_received(receiver, 6);
  INFO("agent log:\n" << agent.log_tail());
  check_same_spans(received, expected, {{"deployment.environment", "e2e"}});
  expect_one(received, "SERVER", {"GET", "/notfound/h2", 404, port});
  expect_one(received, "CLIENT", {"GET", "/ok/h3", 200, port});

  const auto requests = receiver.requests();
  REQUIRE_FALSE(requests.empty());
  for (const auto& request : requests) {
    INFO(request.dump());
    CHECK(request.value("answer", "") == "ok");
    CHECK(request.value("path", "") == "/v1/traces");
    CHECK(request.value("content_type", "") == "application/x-protobuf");
    CHECK(request.value("content_encoding", "") == "gzip");
    CHECK(request["headers"].value("x-tenant", "") == "e2e http");
    CHECK(request.value("user_agent", "").starts_with("ztrace/"));
  }
  check_one_resource_per_process(requests, received);
  const auto counters = last_otlp_counters(agent.log());
  INFO(describe(counters));
  CHECK(counters.at("spans.exported") == 6);
  CHECK(counters.at("requests.sent") == requests.size());
  CHECK(counters.at("bytes.sent") > 0);
  CHECK(counters.at("bytes.sent") < counters.at("bytes.uncompressed"));  // gzip did something

  // An independent decoder: protoc with the Debian .proto files.
  const fs::path body = receiver.raw_dir() / "http-1.pb";
  REQUIRE(fs::exists(body));
  const CommandResult decoded = run_command(
      dir, {"sh", "-c",
            "protoc -I '" + otlp_proto_root().string() +
                "' --decode opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest "
                "opentelemetry/proto/collector/trace/v1/trace_service.proto < '" +
                body.string() + "'"});
  INFO(decoded.describe);
  CHECK(decoded.exit_code == 0);
  CHECK(decoded.out.find("resource_spans {") != std::string::npos);
  CHECK(decoded.out.find("key: \"service.name\"") != std::string::npos);
  CHECK(decoded.out.find("name: \"ztrace\"") != std::string::npos);
  CHECK(decoded.out.find("string_value: \"/ok/h1\"") != std::string::npos);
}

TEST_CASE("otlp grpc from flags: the receiver gets exactly the spans; headers as metadata",
          "[e2e][otlp][otlp-grpc]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24402);
  const auto dir = fresh_dir("otlp_grpc");
  Receiver receiver(dir, {.grpc_port = Receiver::kAuto});
  const int grpc_port = receiver.grpc_port();
  Process server = start_python_server(dir, port);
  // The flags beat the environment: this endpoint has nobody listening.
  ScopedEnv env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"},
                 {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"}});
  Agent agent(
      dir, {.ports = {port},
            .extra_args = {"--otlp-endpoint", "http://127.0.0.1:" + std::to_string(grpc_port),
                           "--otlp-protocol", "grpc", "--otlp-compression", "gzip", "--otlp-header",
                           "x-tenant=e2e-grpc", "--otlp-batch-delay-ms", "100"}});
  make_traffic(dir, port, "g");
  const std::vector<Span> expected = stop_and_collect(agent);
  REQUIRE(expected.size() == 6);
  const std::vector<Span> received = wait_for_received(receiver, 6);
  INFO("agent log:\n" << agent.log_tail());
  check_same_spans(received, expected);
  const auto requests = receiver.requests();
  for (const auto& request : requests) {
    INFO(request.dump());
    CHECK(request.value("transport", "") == "grpc");
    CHECK(request["headers"].value("x-tenant", "") == "e2e-grpc");
  }
  check_one_resource_per_process(requests, received);
  const auto counters = last_otlp_counters(agent.log());
  INFO(describe(counters));
  CHECK(counters.at("spans.exported") == 6);
  CHECK(counters.at("requests.failed") == 0);
}

TEST_CASE(
    "otlp over TLS: a self-signed CA verifies over HTTP and gRPC; a wrong CA is a clear "
    "error and the agent keeps running",
    "[e2e][otlp][otlp-tls]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24404);
  const auto dir = fresh_dir("otlp_tls");
  make_certificates(dir, "good");
  make_certificates(dir, "other");
  Receiver receiver(dir, {.grpc_port = Receiver::kAuto,
                          .http_port = Receiver::kAuto,
                          .extra_args = {"--tls-cert", (dir / "good-server.pem").string(),
                                         "--tls-key", (dir / "good-server.key").string()}});
  const int http_port = receiver.http_port();
  const int grpc_port = receiver.grpc_port();
  Process server = start_python_server(dir, port);
  const std::string good_ca = (dir / "good-ca.pem").string();

  SECTION("OTLP/HTTP with the right CA") {
    Agent agent(dir,
                {.ports = {port},
                 .extra_args = {"--otlp-endpoint", "https://127.0.0.1:" + std::to_string(http_port),
                                "--otlp-ca-file", good_ca, "--otlp-batch-delay-ms", "100"}});
    make_traffic(dir, port, "t");
    const std::vector<Span> expected = stop_and_collect(agent);
    REQUIRE(expected.size() == 6);
    INFO("agent log:\n" << agent.log_tail());
    check_same_spans(wait_for_received(receiver, 6), expected);
  }
  SECTION("OTLP/gRPC with the right CA, from OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE") {
    ScopedEnv env({{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", good_ca}});
    Agent agent(dir,
                {.ports = {port},
                 .extra_args = {"--otlp-endpoint", "https://127.0.0.1:" + std::to_string(grpc_port),
                                "--otlp-protocol", "grpc", "--otlp-batch-delay-ms", "100"}});
    make_traffic(dir, port, "u");
    const std::vector<Span> expected = stop_and_collect(agent);
    REQUIRE(expected.size() == 6);
    INFO("agent log:\n" << agent.log_tail());
    check_same_spans(wait_for_received(receiver, 6), expected);
  }
  SECTION("a wrong CA") {
    for (const std::string protocol : {"http/protobuf", "grpc"}) {
      INFO(protocol);
      const int target = protocol == "grpc" ? grpc_port : http_port;
      const fs::path agent_dir = dir / (protocol == "grpc" ? "wrong-ca-grpc" : "wrong-ca-http");
      fs::create_directories(agent_dir);
      Agent agent(agent_dir,
                  {.ports = {port},
                   .extra_args = {"--otlp-endpoint", "https://127.0.0.1:" + std::to_string(target),
                                  "--otlp-protocol", protocol, "--otlp-ca-file",
                                  (dir / "other-ca.pem").string(), "--otlp-batch-delay-ms", "50",
                                  "--otlp-retry-max-ms", "1000"}});
      make_traffic(agent_dir, port, "w");
      // The error is logged while the agent runs, and it keeps tracing.
      const bool logged =
          wait_until([&] { return agent.log().find("failed (TLS: ") != std::string::npos; }, 10s);
      INFO("agent log:\n" << agent.log_tail());
      CHECK(logged);
      CHECK(agent.log().find("certificate") != std::string::npos);
      CHECK(agent.running());
      make_traffic(agent_dir, port, "x");
      const std::vector<Span> expected = stop_and_collect(agent);
      CHECK(expected.size() == 12);
      CHECK(receiver.spans().empty());
      const auto counters = last_otlp_counters(agent.log());
      INFO(describe(counters));
      CHECK(counters.at("spans.exported") == 0);
      // Not verifiable is permanent over HTTP; gRPC reports it as UNAVAILABLE (retried
      // until the budget). Either way every span is accounted for.
      CHECK(counters.at("spans.dropped.export_error") +
                counters.at("spans.dropped.retries_exhausted") +
                counters.at("spans.dropped.shutdown") ==
            12);
    }
  }
}

}  // namespace ztrace::e2e
