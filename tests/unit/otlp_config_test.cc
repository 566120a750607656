// OTLP exporter configuration: OTEL_EXPORTER_OTLP_* precedence and meaning, flags.
#include "userspace/export/otlp/otlp_config.h"

#include <catch2/catch_test_macros.hpp>
#include <map>
#include <string>

#include "userspace/export/otlp/retry_policy.h"

namespace ztrace::otlp {
namespace {

using std::chrono::milliseconds;
using Env = std::map<std::string, std::string>;

EnvLookup lookup(const Env& env) {
  return [env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

OtlpOptions resolve_ok(const OtlpFlags& flags, const Env& env,
                       std::vector<std::string>* warnings = nullptr) {
  OtlpOptions options;
  std::string error;
  if (!resolve_options(flags, lookup(env), &options, &error, warnings)) FAIL(error);
  return options;
}

std::string resolve_error(const OtlpFlags& flags, const Env& env) {
  OtlpOptions options;
  std::string error;
  REQUIRE_FALSE(resolve_options(flags, lookup(env), &options, &error));
  return error;
}

TEST_CASE("otlp config: off unless an endpoint is configured", "[otlp][config]") {
  CHECK_FALSE(resolve_ok({}, {}).enabled);
  // Other variables alone do not turn export on.
  CHECK_FALSE(resolve_ok({}, {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                              {"OTEL_EXPORTER_OTLP_HEADERS", "a=b"}})
                  .enabled);
  // An empty variable is unset (SDK environment variable spec).
  CHECK_FALSE(resolve_ok({}, {{"OTEL_EXPORTER_OTLP_ENDPOINT", ""}}).enabled);
}

TEST_CASE("otlp config: endpoint precedence and the /v1/traces rule", "[otlp][config]") {
  struct Row {
    std::string flag;
    Env env;
    std::string expected;
  };
  const Row rows[] = {
      // Generic: a base URL, v1/traces appended to its path with one '/'.
      {"",
       {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"}},
       "http://collector:4318/v1/traces"},
      {"",
       {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"}},
       "http://collector:4318/v1/traces"},
      {"",
       {{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://gw.example/otlp"}},
       "https://gw.example/otlp/v1/traces"},
      {"",
       {{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://gw.example/otlp/"}},
       "https://gw.example/otlp/v1/traces"},
      // Signal-specific: as is, and it beats the generic one.
      {"",
       {{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/custom"}},
       "http://collector:4318/custom"},
      {"",
       {{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://a:1/x"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:2"}},
       "http://a:1/x"},
      // The flag beats both; it is a base URL unless it already ends in /v1/traces.
      {"http://flag:4318",
       {{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://a:1/x"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:2"}},
       "http://flag:4318/v1/traces"},
      {"http://flag:4318/v1/traces", {}, "http://flag:4318/v1/traces"},
      {"http://[::1]:4318", {}, "http://[::1]:4318/v1/traces"},
  };
  for (const Row& row : rows) {
    INFO("flag=" << row.flag << " expected=" << row.expected);
    OtlpFlags flags;
    flags.endpoint = row.flag;
    const OtlpOptions options = resolve_ok(flags, row.env);
    CHECK(options.enabled);
    CHECK(options.protocol == Protocol::kHttpProtobuf);  // the spec's default
    CHECK(options.endpoint == row.expected);
  }
}

TEST_CASE("otlp config: protocol precedence; gRPC endpoints are never appended to",
          "[otlp][config]") {
  OtlpOptions options = resolve_ok({}, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"},
                                        {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}});
  CHECK(options.protocol == Protocol::kGrpc);
  CHECK(options.endpoint == "http://collector:4317");
  CHECK_FALSE(options.use_tls);

  // Signal-specific protocol beats the generic one, the flag beats both.
  options = resolve_ok({}, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"},
                            {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"},
                            {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"}});
  CHECK(options.protocol == Protocol::kGrpc);
  OtlpFlags flags;
  flags.protocol = "http/protobuf";
  options = resolve_ok(flags, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
                               {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"}});
  CHECK(options.protocol == Protocol::kHttpProtobuf);
  CHECK(options.endpoint == "http://c:4318/v1/traces");

  CHECK(resolve_error({}, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
                           {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}})
            .find("not supported") != std::string::npos);
  CHECK(resolve_error({}, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
                           {"OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"}})
            .find("OTEL_EXPORTER_OTLP_PROTOCOL=thrift") != std::string::npos);
}

TEST_CASE("otlp config: TLS from the scheme, INSECURE for scheme-less gRPC endpoints",
          "[otlp][config]") {
  CHECK(resolve_ok({}, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"}}).use_tls);
  CHECK_FALSE(resolve_ok({}, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}}).use_tls);
  const Env grpc_no_scheme = {{"OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"},
                              {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}};
  CHECK(resolve_ok({}, grpc_no_scheme).use_tls);
  Env insecure = grpc_no_scheme;
  insecure["OTEL_EXPORTER_OTLP_INSECURE"] = "true";
  CHECK_FALSE(resolve_ok({}, insecure).use_tls);
  insecure["OTEL_EXPORTER_OTLP_TRACES_INSECURE"] = "false";  // specific beats generic
  CHECK(resolve_ok({}, insecure).use_tls);
  // OTLP/HTTP needs a scheme.
  CHECK(resolve_error({}, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "c:4318"}}).find("http://") !=
        std::string::npos);
  CHECK_FALSE(resolve_error({}, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://c"}}).empty());

  const OtlpOptions files =
      resolve_ok({}, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c"},
                      {"OTEL_EXPORTER_OTLP_CERTIFICATE", "/generic/ca.pem"},
                      {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/traces/ca.pem"},
                      {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/c.pem"},
                      {"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/k.pem"}});
  CHECK(files.tls.ca_file == "/traces/ca.pem");
  CHECK(files.tls.client_cert_file == "/c.pem");
  CHECK(files.tls.client_key_file == "/k.pem");
  OtlpFlags flags;
  flags.ca_file = "/flag/ca.pem";
  flags.insecure_skip_verify = true;
  const OtlpOptions flagged = resolve_ok(flags, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c"},
                                                 {"OTEL_EXPORTER_OTLP_CERTIFICATE", "/e.pem"}});
  CHECK(flagged.tls.ca_file == "/flag/ca.pem");
  CHECK(flagged.tls.insecure_skip_verify);
  CHECK(resolve_error({}, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c"},
                           {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/c.pem"}})
            .find("key") != std::string::npos);
}

TEST_CASE("otlp config: headers, compression, timeout", "[otlp][config]") {
  const Env base = {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}};
  Env env = base;
  env["OTEL_EXPORTER_OTLP_HEADERS"] = "api-key=secret%20value, tenant = t1";
  OtlpOptions options = resolve_ok({}, env);
  REQUIRE(options.headers.size() == 2);
  CHECK(options.headers[0] == std::make_pair(std::string("api-key"), std::string("secret value")));
  CHECK(options.headers[1] == std::make_pair(std::string("tenant"), std::string("t1")));

  // The signal-specific list replaces the generic one (it does not merge).
  env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = "only=traces";
  options = resolve_ok({}, env);
  REQUIRE(options.headers.size() == 1);
  CHECK(options.headers[0].first == "only");

  // A flag replaces the same key (case-insensitively) and adds new ones.
  OtlpFlags flags;
  flags.headers = {"ONLY=flag", "x-extra=1"};
  options = resolve_ok(flags, env);
  REQUIRE(options.headers.size() == 2);
  CHECK(options.headers[0] == std::make_pair(std::string("ONLY"), std::string("flag")));
  CHECK(options.headers[1] == std::make_pair(std::string("x-extra"), std::string("1")));
  flags.headers = {"novalue"};
  CHECK_FALSE(resolve_error(flags, env).empty());

  std::vector<std::string> warnings;
  env = base;
  env["OTEL_EXPORTER_OTLP_HEADERS"] = "broken";
  options = resolve_ok({}, env, &warnings);
  CHECK(options.headers.empty());
  CHECK(warnings.size() == 1);

  env = base;
  CHECK(resolve_ok({}, env).compression == Compression::kNone);
  CHECK(resolve_ok({}, env).timeout == milliseconds(10000));
  env["OTEL_EXPORTER_OTLP_COMPRESSION"] = "gzip";
  env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "2500";
  options = resolve_ok({}, env);
  CHECK(options.compression == Compression::kGzip);
  CHECK(options.timeout == milliseconds(2500));
  env["OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"] = "none";
  env["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"] = "700";
  options = resolve_ok({}, env);
  CHECK(options.compression == Compression::kNone);
  CHECK(options.timeout == milliseconds(700));
  flags = {};
  flags.compression = "gzip";
  flags.timeout_ms = 50;
  options = resolve_ok(flags, env);
  CHECK(options.compression == Compression::kGzip);
  CHECK(options.timeout == milliseconds(50));

  env = base;
  env["OTEL_EXPORTER_OTLP_COMPRESSION"] = "zstd";
  CHECK(resolve_error({}, env).find("zstd") != std::string::npos);
  env = base;
  env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "10s";
  warnings.clear();
  CHECK(resolve_ok({}, env, &warnings).timeout == milliseconds(10000));
  CHECK(warnings.size() == 1);
}

TEST_CASE("otlp config: the agent's OTEL_RESOURCE_ATTRIBUTES", "[otlp][config]") {
  Env env = {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
             {"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,k8s.cluster.name=eu%2C1"}};
  OtlpOptions options = resolve_ok({}, env);
  REQUIRE(options.extra_resource_attributes.size() == 2);
  CHECK(options.extra_resource_attributes[0].key == "deployment.environment");
  CHECK(std::get<std::string>(options.extra_resource_attributes[0].value) == "prod");
  CHECK(std::get<std::string>(options.extra_resource_attributes[1].value) == "eu,1");
  // Malformed: the whole value is discarded (resource SDK spec), with a warning.
  env["OTEL_RESOURCE_ATTRIBUTES"] = "a=1,broken";
  std::vector<std::string> warnings;
  CHECK(resolve_ok({}, env, &warnings).extra_resource_attributes.empty());
  CHECK(warnings.size() == 1);
}

TEST_CASE("otlp config: queue and retry flags", "[otlp][config]") {
  OtlpFlags flags;
  flags.endpoint = "http://c:4318";
  flags.max_queue_spans = 40;
  flags.batch_delay_ms = 50;
  flags.max_retry_elapsed_ms = 1500;
  const OtlpOptions options = resolve_ok(flags, {});
  CHECK(options.max_queue_spans == 40);
  CHECK(options.batch_delay == milliseconds(50));
  CHECK(options.retry.max_elapsed == milliseconds(1500));
}

TEST_CASE("otlp config: parse_url", "[otlp][config]") {
  ParsedUrl url;
  REQUIRE(parse_url("https://user:pw@collector.example:4318/a/b?x=1", &url));
  CHECK(url.scheme == "https");
  CHECK(url.host == "collector.example");
  CHECK(url.port == 4318);
  CHECK(url.path == "/a/b?x=1");
  REQUIRE(parse_url("HTTP://[::1]:4317", &url));
  CHECK(url.scheme == "http");
  CHECK(url.host == "[::1]");
  CHECK(url.port == 4317);
  REQUIRE(parse_url("collector:4317", &url));
  CHECK(url.scheme.empty());
  CHECK(url.host == "collector");
  REQUIRE(parse_url("http://collector", &url));
  CHECK(url.port == 0);
  CHECK_FALSE(parse_url("http://collector:99999", &url));
  CHECK_FALSE(parse_url("http://:4318", &url));
  CHECK_FALSE(parse_url("http://[::1:4318", &url));
  CHECK_FALSE(parse_url("grpc://c:1", &url));
}

TEST_CASE("otlp retry policy: exponential, capped, jittered; server hints win", "[otlp][retry]") {
  RetryOptions options;
  options.initial_backoff = milliseconds(100);
  options.max_backoff = milliseconds(1000);
  options.multiplier = 2.0;
  options.jitter = 0.0;
  CHECK(backoff_delay(options, 1, std::nullopt, 0.5) == milliseconds(100));
  CHECK(backoff_delay(options, 2, std::nullopt, 0.5) == milliseconds(200));
  CHECK(backoff_delay(options, 4, std::nullopt, 0.5) == milliseconds(800));
  CHECK(backoff_delay(options, 5, std::nullopt, 0.5) == milliseconds(1000));
  CHECK(backoff_delay(options, 5000, std::nullopt, 0.5) == milliseconds(1000));  // no overflow
  options.jitter = 0.2;
  CHECK(backoff_delay(options, 1, std::nullopt, 0.0) == milliseconds(80));
  CHECK(backoff_delay(options, 1, std::nullopt, 0.999999) == milliseconds(119));
  CHECK(backoff_delay(options, 1, std::nullopt, 0.5) == milliseconds(100));
  // Retry-After / RetryInfo replace the backoff, even above its cap.
  CHECK(backoff_delay(options, 1, milliseconds(3000), 0.0) == milliseconds(3000));
  options.max_elapsed = milliseconds(5000);
  CHECK(within_budget(options, milliseconds(2000), milliseconds(3000)));
  CHECK_FALSE(within_budget(options, milliseconds(2001), milliseconds(3000)));
}

}  // namespace
}  // namespace ztrace::otlp
