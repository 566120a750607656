#include "userspace/export/otlp/otlp_config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

#include "userspace/process/process_info.h"

namespace ztrace::otlp {

std::string_view to_string(Protocol protocol) {
  return protocol == Protocol::kGrpc ? "grpc" : "http/protobuf";
}

std::string_view to_string(Compression compression) {
  return compression == Compression::kGzip ? "gzip" : "none";
}

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::optional<Headers> parse_headers(std::string_view value) {
  // Same format as OTEL_RESOURCE_ATTRIBUTES (W3C Baggage-like list).
  return process::parse_resource_attributes(value);
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// The first set (non-empty) variable of `names`, with the name that gave it.
std::optional<std::pair<std::string, std::string>> first_set(
    const EnvLookup& env, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    std::optional<std::string> value = env(name);
    if (value && !trimmed(*value).empty())
      return std::make_pair(std::string(name), trimmed(*value));
  }
  return std::nullopt;
}

constexpr std::string_view kPrefix = "OTEL_EXPORTER_OTLP_";

// OTEL_EXPORTER_OTLP_TRACES_<suffix>, then OTEL_EXPORTER_OTLP_<suffix>.
std::optional<std::pair<std::string, std::string>> traces_then_generic(const EnvLookup& env,
                                                                       std::string_view suffix) {
  const std::string specific = std::string(kPrefix) + "TRACES_" + std::string(suffix);
  const std::string generic = std::string(kPrefix) + std::string(suffix);
  return first_set(env, {specific, generic});
}

bool parse_int(std::string_view text, int64_t* out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// `base` + "v1/traces" with exactly one '/' between (spec: "for the per-signal variables
// ... the URL path is appended").
std::string append_traces_path(const std::string& base) {
  ParsedUrl url;
  parse_url(base, &url);
  if (url.path.empty()) return base + "/v1/traces";
  if (base.back() == '/') return base + "v1/traces";
  return base + "/v1/traces";
}

bool ends_with_traces_path(const std::string& endpoint) {
  ParsedUrl url;
  if (!parse_url(endpoint, &url)) return false;
  const std::string_view path = url.path.substr(0, url.path.find('?'));
  return path.ends_with("/v1/traces") || path.ends_with("/v1/traces/");
}

}  // namespace

bool parse_url(std::string_view url, ParsedUrl* out) {
  *out = ParsedUrl{};
  std::string_view rest = url;
  if (const size_t sep = rest.find("://"); sep != std::string_view::npos) {
    out->scheme = lower(rest.substr(0, sep));
    if (out->scheme != "http" && out->scheme != "https") return false;
    rest.remove_prefix(sep + 3);
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out->path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);  // credentials belong in headers, not here
  }
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    out->host = std::string(authority.substr(0, close + 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    out->host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out->host.empty()) return false;
  if (!port_text.empty()) {
    int64_t port = 0;
    if (!parse_int(port_text, &port) || port < 1 || port > 65535) return false;
    out->port = static_cast<int>(port);
  }
  return true;
}

namespace {

// Where resolve_options reports: a refusal (the agent does not start), or a warning.
class Findings {
 public:
  Findings(std::string* error, std::vector<std::string>* warnings)
      : error_(error), warnings_(warnings) {}
  bool fail(std::string message) {
    if (error_ != nullptr) *error_ = std::move(message);
    return false;
  }
  void warn(std::string message) {
    if (warnings_ != nullptr) warnings_->push_back(std::move(message));
  }

 private:
  std::string* error_;
  std::vector<std::string>* warnings_;
};

// A value and the flag or variable it came from (for messages).
struct Setting {
  std::string source;
  std::string value;
};

// The flag when given, else OTEL_EXPORTER_OTLP_TRACES_<suffix>, else OTEL_EXPORTER_OTLP_<suffix>,
// else the config file's value.
std::optional<Setting> flag_or_env(const std::string& flag_value, std::string_view flag_name,
                                   const EnvLookup& env, std::string_view suffix,
                                   const std::string& file_value = {},
                                   std::string_view file_key = {}) {
  if (!flag_value.empty()) return Setting{std::string(flag_name), flag_value};
  if (auto value = traces_then_generic(env, suffix)) return Setting{value->first, value->second};
  if (!file_value.empty()) return Setting{"export.otlp." + std::string(file_key), file_value};
  return std::nullopt;
}

bool resolve_protocol(const OtlpFlags& flags, const EnvLookup& env, const OtlpFileLayer& file,
                      OtlpOptions* out, Findings& findings) {
  const auto setting =
      flag_or_env(flags.protocol, "--otlp-protocol", env, "PROTOCOL", file.protocol, "protocol");
  if (!setting) return true;
  const std::string value = lower(setting->value);
  if (value == "grpc") {
    out->protocol = Protocol::kGrpc;
  } else if (value == "http/protobuf") {
    out->protocol = Protocol::kHttpProtobuf;
  } else if (value == "http/json") {
    return findings.fail(setting->source +
                         "=http/json is not supported: use http/protobuf or grpc");
  } else {
    return findings.fail(setting->source + "=" + setting->value +
                         ": expected grpc or http/protobuf");
  }
  return true;
}

// The endpoint as otlp_config.h says; nullopt when none is configured.
std::optional<Setting> configured_endpoint(const OtlpFlags& flags, const EnvLookup& env,
                                           const OtlpFileLayer& file, bool http) {
  // The flag and the file's key name a URL as is, or a base to which /v1/traces is appended.
  const auto as_given = [http](std::string_view source, const std::string& url) {
    std::string endpoint = trimmed(url);
    if (http && !ends_with_traces_path(endpoint)) endpoint = append_traces_path(endpoint);
    return Setting{std::string(source), std::move(endpoint)};
  };
  if (!flags.endpoint.empty()) return as_given("--otlp-endpoint", flags.endpoint);
  if (auto specific = first_set(env, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"})) {
    return Setting{specific->first, specific->second};
  }
  if (auto generic = first_set(env, {"OTEL_EXPORTER_OTLP_ENDPOINT"})) {
    return Setting{generic->first, http ? append_traces_path(generic->second) : generic->second};
  }
  if (!file.endpoint.empty()) return as_given("export.otlp.endpoint", file.endpoint);
  return std::nullopt;
}

// A URL the protocol can use; TLS from its scheme or, for gRPC without one, unless
// OTEL_EXPORTER_OTLP_[TRACES_]INSECURE=true (spec).
bool resolve_transport_security(const Setting& endpoint, const EnvLookup& env, OtlpOptions* out,
                                Findings& findings) {
  ParsedUrl url;
  if (!parse_url(endpoint.value, &url)) {
    return findings.fail(endpoint.source + "=" + endpoint.value +
                         ": not an http:// or https:// URL");
  }
  if (out->protocol == Protocol::kHttpProtobuf && url.scheme.empty()) {
    return findings.fail(endpoint.source + "=" + endpoint.value +
                         ": OTLP/HTTP needs a URL with http:// or https://");
  }
  if (url.scheme.empty()) {
    auto insecure = traces_then_generic(env, "INSECURE");
    out->use_tls = !(insecure && lower(insecure->second) == "true");
  } else {
    out->use_tls = url.scheme == "https";
  }
  return true;
}

// The variables' headers, each replaced by a --otlp-header of the same key.
// A header replaces the one of the same key (names are case-insensitive).
void set_header(Headers& headers, std::string key, std::string value) {
  std::erase_if(headers, [&](const auto& h) { return lower(h.first) == lower(key); });
  headers.emplace_back(std::move(key), std::move(value));
}

// The config file's headers, each replaced by the variables' header of the same key, then by
// a --otlp-header of that key.
bool resolve_headers(const OtlpFlags& flags, const EnvLookup& env, const OtlpFileLayer& file,
                     OtlpOptions* out, Findings& findings) {
  out->headers = file.headers;
  if (auto env_headers = traces_then_generic(env, "HEADERS")) {
    auto parsed = parse_headers(env_headers->second);
    if (!parsed) {
      findings.warn(env_headers->first + " is malformed (expected key=value,...): ignored");
    } else {
      for (auto& [key, value] : *parsed) set_header(out->headers, key, value);
    }
  }
  for (const std::string& header : flags.headers) {
    auto parsed = parse_headers(header);
    if (!parsed || parsed->size() != 1) {
      return findings.fail("--otlp-header " + header + ": expected key=value");
    }
    set_header(out->headers, parsed->front().first, parsed->front().second);
  }
  return true;
}

bool resolve_compression(const OtlpFlags& flags, const EnvLookup& env, const OtlpFileLayer& file,
                         OtlpOptions* out, Findings& findings) {
  const auto setting = flag_or_env(flags.compression, "--otlp-compression", env, "COMPRESSION",
                                   file.compression, "compression");
  if (!setting) return true;
  const std::string value = lower(setting->value);
  if (value == "gzip") {
    out->compression = Compression::kGzip;
  } else if (value == "none") {
    out->compression = Compression::kNone;
  } else {
    return findings.fail(setting->source + "=" + setting->value + ": expected gzip or none");
  }
  return true;
}

// A bad flag refuses to start; a bad variable is a warning (the default stays).
bool resolve_timeout(const OtlpFlags& flags, const EnvLookup& env, const OtlpFileLayer& file,
                     OtlpOptions* out, Findings& findings) {
  if (flags.timeout_ms) {
    if (*flags.timeout_ms <= 0) return findings.fail("--otlp-timeout-ms must be positive");
    out->timeout = std::chrono::milliseconds(*flags.timeout_ms);
  } else if (auto env_timeout = traces_then_generic(env, "TIMEOUT")) {
    int64_t timeout_ms = 0;
    if (!parse_int(env_timeout->second, &timeout_ms) || timeout_ms <= 0) {
      findings.warn(env_timeout->first + "=" + env_timeout->second +
                    " is not a positive number of milliseconds: 10000 used");
    } else {
      out->timeout = std::chrono::milliseconds(timeout_ms);
    }
  } else if (file.timeout_ms) {
    out->timeout = std::chrono::milliseconds(*file.timeout_ms);
  }
  return true;
}

bool resolve_tls_files(const OtlpFlags& flags, const EnvLookup& env, const OtlpFileLayer& file,
                       OtlpOptions* out, Findings& findings) {
  const auto path = [&](const std::string& flag_value, std::string_view suffix,
                        const std::string& file_value) {
    auto setting = flag_or_env(flag_value, "", env, suffix, file_value);
    return setting ? setting->value : std::string();
  };
  out->tls.ca_file = path(flags.ca_file, "CERTIFICATE", file.ca_file);
  out->tls.client_cert_file =
      path(flags.client_cert_file, "CLIENT_CERTIFICATE", file.client_cert_file);
  out->tls.client_key_file = path(flags.client_key_file, "CLIENT_KEY", file.client_key_file);
  out->tls.insecure_skip_verify = flags.insecure_skip_verify || file.insecure_skip_verify;
  if (out->tls.client_cert_file.empty() != out->tls.client_key_file.empty()) {
    return findings.fail("a TLS client certificate needs its key and a key its certificate");
  }
  if (!out->use_tls && (!out->tls.ca_file.empty() || !out->tls.client_cert_file.empty() ||
                        out->tls.insecure_skip_verify)) {
    findings.warn("TLS settings ignored: the OTLP endpoint " + out->endpoint + " is not https");
  }
  return true;
}

// The agent's own OTEL_RESOURCE_ATTRIBUTES, for every exported resource.
void resolve_resource_attributes(const EnvLookup& env, OtlpOptions* out, Findings& findings) {
  auto attributes = first_set(env, {"OTEL_RESOURCE_ATTRIBUTES"});
  if (!attributes) return;
  auto parsed = process::parse_resource_attributes(attributes->second);
  if (!parsed) {
    findings.warn("OTEL_RESOURCE_ATTRIBUTES is malformed (expected key=value,...): ignored");
    return;
  }
  for (auto& [key, value] : *parsed) {
    out->extra_resource_attributes.push_back({spans::AttributeKey::intern(key), std::move(value)});
  }
}

// These have no variable: the flag, else the config file's value.
void apply_queue_settings(const OtlpFlags& flags, const OtlpFileLayer& file, OtlpOptions* out) {
  if (auto spans = flags.max_queue_spans ? flags.max_queue_spans : file.max_queue_spans) {
    out->max_queue_spans = std::max<size_t>(*spans, 1);
  }
  if (auto delay = flags.batch_delay_ms ? flags.batch_delay_ms : file.batch_delay_ms) {
    out->batch_delay = std::chrono::milliseconds(std::max<int64_t>(*delay, 0));
  }
  if (auto retry =
          flags.max_retry_elapsed_ms ? flags.max_retry_elapsed_ms : file.max_retry_elapsed_ms) {
    out->retry.max_elapsed = std::chrono::milliseconds(std::max<int64_t>(*retry, 0));
  }
}

}  // namespace

bool resolve_options(const OtlpFlags& flags, const EnvLookup& env, OtlpOptions* out,
                     std::string* error, std::vector<std::string>* warnings,
                     const OtlpFileLayer& file) {
  *out = OtlpOptions{};
  Findings findings(error, warnings);
  // Protocol first: it decides what the generic endpoint means.
  if (!resolve_protocol(flags, env, file, out, findings)) return false;
  const std::optional<Setting> endpoint =
      configured_endpoint(flags, env, file, out->protocol == Protocol::kHttpProtobuf);
  if (!endpoint) return true;  // not configured: OTLP export stays off
  out->enabled = true;
  out->endpoint = endpoint->value;
  if (!resolve_transport_security(*endpoint, env, out, findings)) return false;
  if (!resolve_headers(flags, env, file, out, findings)) return false;
  if (!resolve_compression(flags, env, file, out, findings)) return false;
  if (!resolve_timeout(flags, env, file, out, findings)) return false;
  if (!resolve_tls_files(flags, env, file, out, findings)) return false;
  resolve_resource_attributes(env, out, findings);
  apply_queue_settings(flags, file, out);
  return true;
}

bool tenant_options(const OtlpOptions& base, const std::string& endpoint, Headers headers,
                    OtlpOptions* out, std::string* error) {
  *out = base;
  out->headers = std::move(headers);
  out->tls.client_cert_file.clear();
  out->tls.client_key_file.clear();
  if (endpoint.empty()) {
    if (!base.enabled) return *error = "no endpoint, and the agent has no OTLP endpoint", false;
    return true;
  }
  const bool http = base.protocol == Protocol::kHttpProtobuf;
  out->enabled = true;
  out->endpoint =
      configured_endpoint(OtlpFlags{.endpoint = endpoint}, process_env(), {}, http)->value;
  ParsedUrl url;
  if (!parse_url(out->endpoint, &url) || (http && url.scheme.empty())) {
    return *error = "endpoint " + endpoint + ": not an http:// or https:// URL", false;
  }
  out->use_tls = url.scheme.empty() ? base.use_tls || !base.enabled : url.scheme == "https";
  return true;
}

}  // namespace ztrace::otlp
