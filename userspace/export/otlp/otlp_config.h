#pragma once

// OTLP exporter configuration: the standard OTEL_EXPORTER_OTLP_* environment variables
// (OpenTelemetry specification, "OTLP Exporter Configuration") overridden by command line
// flags.
//
// Precedence, highest first: flag, OTEL_EXPORTER_OTLP_TRACES_<X>, OTEL_EXPORTER_OTLP_<X>,
// default. An empty variable counts as unset (SDK environment variable spec).
//
// Endpoint: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is. OTEL_EXPORTER_OTLP_ENDPOINT is a
// base URL: for OTLP/HTTP `v1/traces` is appended to its path. --otlp-endpoint acts like
// OTEL_EXPORTER_OTLP_ENDPOINT, except that a URL whose path already ends in `/v1/traces` is
// used as is. OTLP export is enabled only when one of these three is set.
//
// Protocol default: http/protobuf (the specification's default). http/json is refused.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "userspace/export/otlp/retry_policy.h"
#include "userspace/spans/span.h"

namespace ztrace::otlp {

enum class Protocol { kGrpc, kHttpProtobuf };
enum class Compression { kNone, kGzip };

std::string_view to_string(Protocol protocol);
std::string_view to_string(Compression compression);

struct TlsOptions {
  std::string ca_file;           // PEM roots; empty: the system's
  std::string client_cert_file;  // PEM; with client_key_file: mutual TLS
  std::string client_key_file;   // PEM
  // Development only: TLS without verifying the server's certificate or name.
  bool insecure_skip_verify = false;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct OtlpOptions {
  bool enabled = false;  // an endpoint was configured
  Protocol protocol = Protocol::kHttpProtobuf;
  // OTLP/HTTP: the URL requests are POSTed to. OTLP/gRPC: scheme://host:port (the scheme says
  // whether to use TLS).
  std::string endpoint;
  bool use_tls = false;  // https://, or a gRPC endpoint without scheme that is not insecure
  Headers headers;
  Compression compression = Compression::kNone;
  std::chrono::milliseconds timeout{10000};  // per request
  TlsOptions tls;
  // The agent's own OTEL_RESOURCE_ATTRIBUTES (e.g. deployment.environment): added to every
  // exported resource whose process did not set the same key.
  spans::Attributes extra_resource_attributes;
  std::string agent_version = "0.0.0";  // InstrumentationScope.version

  // Queue and batching. The queue bound includes the batch in flight.
  size_t max_queue_spans = 16384;
  size_t max_queue_bytes = 32u << 20;  // estimated memory of the queued spans
  size_t max_batch_spans = 512;
  // Below the default 4 MiB a gRPC server (and the Collector's OTLP/HTTP receiver) accepts.
  size_t max_batch_bytes = 2u << 20;
  std::chrono::milliseconds batch_delay{1000};  // longest wait for a partial batch
  RetryOptions retry;
  // At shutdown (flush()): how long queued spans may take to go out.
  std::chrono::milliseconds flush_timeout{2500};
  // Non-retryable and repeated retryable errors are logged at most once per interval (per
  // kind of error), with the count of the ones not logged.
  std::chrono::milliseconds error_log_interval{30000};
};

// Command line overrides; empty / nullopt: not given.
struct OtlpFlags {
  std::string endpoint;
  std::string protocol;
  std::vector<std::string> headers;  // "key=value", each replaces an env header of that key
  std::string compression;
  std::optional<int64_t> timeout_ms;
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;
  bool insecure_skip_verify = false;
  std::optional<size_t> max_queue_spans;
  std::optional<int64_t> batch_delay_ms;
  std::optional<int64_t> max_retry_elapsed_ms;
};

// The config file's export.otlp: under the environment, which is under the flags.
struct OtlpFileLayer {
  std::string endpoint;
  std::string protocol;
  Headers headers;  // each replaced by an environment or flag header of the same key
  std::string compression;
  std::optional<int64_t> timeout_ms;
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;
  bool insecure_skip_verify = false;
  std::optional<size_t> max_queue_spans;
  std::optional<int64_t> batch_delay_ms;
  std::optional<int64_t> max_retry_elapsed_ms;
};

// Looks a variable up; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup process_env();  // getenv

// Fills `out` from the flags, the environment and the config file. False with `*error` set when a
// value is invalid (the agent refuses to start rather than export somewhere unintended). `warnings`
// receives messages about values that were ignored. out->enabled is false (and the rest
// defaults) when no endpoint is configured.
bool resolve_options(const OtlpFlags& flags, const EnvLookup& env, OtlpOptions* out,
                     std::string* error, std::vector<std::string>* warnings = nullptr,
                     const OtlpFileLayer& file = {});

// The options of a tenant's exporter (multi-tenancy): `base`'s protocol, compression,
// timeout, CA, queue and retries, but only `headers` and no client certificate: nothing of the
// agent's own credentials. `endpoint` is read as --otlp-endpoint is; empty: base's endpoint
// (then `base` must have one). False with `*error` when there is no usable endpoint.
bool tenant_options(const OtlpOptions& base, const std::string& endpoint, Headers headers,
                    OtlpOptions* out, std::string* error);

// OTEL_EXPORTER_OTLP_HEADERS: comma-separated key=value, values percent-decoded, whitespace
// trimmed. nullopt when malformed.
std::optional<Headers> parse_headers(std::string_view value);

// Parts of an http(s) URL. False when `url` is not one.
struct ParsedUrl {
  std::string scheme;  // "http" / "https" (lowercased); empty when the URL had none
  std::string host;    // IPv6 literals keep their brackets
  int port = 0;        // 0: none given
  std::string path;    // from the first '/', may be empty
};
bool parse_url(std::string_view url, ParsedUrl* out);

}  // namespace ztrace::otlp
