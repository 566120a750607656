// ztrace command line: `run` starts the agent, `check` reports what the host allows,
// `version` prints the version.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "userspace/agent/agent.h"
#include "userspace/agent/bpf_object_check.h"
#include "userspace/agent/host_setup.h"
#include "userspace/bpf_support/load_log.h"
#include "userspace/common/duration.h"
#include "userspace/export/otlp/otlp_config.h"
#include "userspace/sampling/settings_sources.h"
#include "userspace/view/terminal.h"
#include "userspace/view/view_command.h"
#include "userspace/view/web_server.h"

namespace {

void setup_logging(const std::string& level) {
  // Logs go to stderr; stdout carries the console span lines.
  auto logger = spdlog::stderr_color_mt("ztrace");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

// Loads every BPF object into this kernel and prints each program's verdict, then the kernel
// memory of each object's maps.
int report_bpf_programs() {
  int failures = 0;
  std::printf("\n%-15s %-28s %-8s %s\n", "object", "program", "loaded",
              "verified instructions (limit 1,000,000)");
  const ztrace::agent::BpfObjectsCheck check = ztrace::agent::load_every_bpf_object();
  for (const auto& report : check.programs) {
    if (report.loaded) {
      std::printf("%-15s %-28s %-8s %u\n", report.object.c_str(), report.program.c_str(), "yes",
                  report.verified_instructions);
    } else {
      ++failures;
      std::printf("%-15s %-28s %-8s %s\n", report.object.c_str(), report.program.c_str(), "NO",
                  report.error.c_str());
    }
  }
  std::printf("\n%-15s %-5s %s\n", "maps of", "maps",
              "kernel memory (shared maps count for socket_trace)");
  size_t maps = 0;
  uint64_t bytes = 0;
  for (const auto& report : check.maps) {
    std::printf("%-15s %-5zu %.1f MiB\n", report.object.c_str(), report.maps,
                report.bytes / 1048576.0);
    maps += report.maps;
    bytes += report.bytes;
  }
  std::printf("%-15s %-5zu %.1f MiB\n", "all objects", maps, bytes / 1048576.0);
  return failures;
}

int run_check() {
  int failures = 0;
  bool can_load = true;
  for (const auto& check : ztrace::agent::inspect_host()) {
    std::printf("%-10s %-4s %s\n", check.name.c_str(), check.ok ? "ok" : "no",
                check.detail.c_str());
    if (!check.ok && (check.name == "root" || check.name == "btf")) {
      ++failures;
      can_load = false;
    }
  }
  if (can_load) failures += report_bpf_programs();
  return failures == 0 ? 0 : 1;
}

const std::vector<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error"};

// What `run` reads from the command line: the agent's options, and the flags that are
// resolved into them after parsing.
struct RunFlags {
  ztrace::agent::AgentOptions options;
  CLI::App* run = nullptr;  // what was given on the command line
  bool log_level_given = false;
  bool no_inject = false;
  bool no_capability_check = false;
  bool no_go_probes = false;
  bool no_openssl_probes = false;
  bool no_kafka_probes = false;
  bool no_java_agent = false;
  std::string java_attach_timeout;
  int stats_seconds = 60;
  std::string config_path;
  std::string mode;
  std::optional<double> sampling_ratio;
  std::optional<std::string> api_listen;
  std::optional<std::string> api_token_file;
  std::optional<std::string> metrics_listen;
  std::optional<size_t> metrics_max_series;
  bool k8s = false;
  std::vector<std::string> k8s_pod_labels;
  std::vector<std::string> k8s_namespaces;
  std::vector<std::string> k8s_exclude_namespaces;
};

void add_tracing_flags(CLI::App* run, RunFlags& flags) {
  run->add_option("--config", flags.config_path,
                  "YAML config file (README \"Configuration\"); the environment and flags "
                  "override it; SIGHUP re-reads it");
  run->add_option("--mode", flags.mode,
                  "off|system-only|hybrid|full-e2e (default hybrid): what is captured and "
                  "exported")
      ->check(CLI::IsMember({"off", "system-only", "hybrid", "full-e2e"}));
  run->add_option("--sampling-ratio", flags.sampling_ratio,
                  "Share of new traces kept in hybrid mode, 0 to 1 (default 1), decided from "
                  "the trace id the same way on every node")
      ->check(CLI::Range(0.0, 1.0));
  run->add_option("--api-listen", flags.api_listen,
                  "HOST:PORT of the control API and /metrics (default 127.0.0.1:8401; \"\": "
                  "none)");
  run->add_option("--metrics-listen", flags.metrics_listen,
                  "HOST:PORT serving /metrics alone, beside the control API (e.g. "
                  "0.0.0.0:9464 for Prometheus while the API stays on localhost)");
  run->add_option("--api-token-file", flags.api_token_file,
                  "File whose first line is the bearer token that state-changing API requests "
                  "(reload, on-demand rules) must carry");
  run->add_option("--metrics-max-series", flags.metrics_max_series,
                  "Series of the span metrics, and of the service graph, beyond which spans "
                  "are counted in one overflow series (default 2000)")
      ->check(CLI::Range(2, 1000000));
}

// Kubernetes: the pod selection of the flags, else of the config file (flags replace the
// file's list, as for every repeatable flag). Metadata is on with --k8s, k8s.enabled, any pod
// rule, or inside a pod (KUBERNETES_SERVICE_HOST).
bool resolve_k8s(RunFlags& flags, const std::optional<ztrace::sampling::ConfigFile>& file,
                 std::string* error) {
  auto& k8s = flags.options.k8s;
  if (!flags.k8s_pod_labels.empty()) {
    for (const auto& label : flags.k8s_pod_labels) {
      if (!k8s.selector.add_label(label, error)) return false;
    }
  } else if (file) {
    for (const auto& [key, value] : file->selection.k8s_pod_labels) {
      if (!k8s.selector.add_label(key + "=" + value, error))
        return *error = "config: " + *error, false;
    }
  }
  k8s.selector.namespaces = !flags.k8s_namespaces.empty() || !file ? flags.k8s_namespaces
                                                                   : file->selection.k8s_namespaces;
  k8s.selector.exclude_namespaces = !flags.k8s_exclude_namespaces.empty() || !file
                                        ? flags.k8s_exclude_namespaces
                                        : file->selection.k8s_exclude_namespaces;
  k8s.select_pods = !k8s.selector.empty();
  if (file && !file->k8s_node_name.empty() && k8s.node_name.empty())
    k8s.node_name = file->k8s_node_name;
  const bool in_pod = std::getenv("KUBERNETES_SERVICE_HOST") != nullptr;
  k8s.enabled = flags.k8s || k8s.select_pods || (file && file->k8s_enabled.value_or(false)) ||
                (in_pod && !(file && file->k8s_enabled == false));
  return true;
}

// The config file's capture:, probes:, log: and process selection, where no flag said otherwise
// (a flag beats the file; a repeatable flag replaces the file's list).
void apply_start_sections(const ztrace::sampling::StartFile& file, RunFlags& flags) {
  auto& options = flags.options;
  const auto given = [&flags](const char* flag) { return flags.run->count(flag) > 0; };
  if (file.max_capture_bytes && !given("--max-capture-bytes"))
    options.max_capture_bytes = static_cast<uint32_t>(*file.max_capture_bytes);
  if (file.ring_buffer_bytes && !given("--ring-buffer-bytes"))
    options.ring_buffer_bytes = static_cast<uint32_t>(*file.ring_buffer_bytes);
  if (file.max_connections && !given("--max-connections"))
    options.max_connections = *file.max_connections;
  if (file.url_query && !given("--capture-url-query")) options.capture_url_query = *file.url_query;
  // The --no-* flags only turn off.
  if (file.inject == false) flags.no_inject = true;
  if (file.go_probes == false) flags.no_go_probes = true;
  if (file.openssl_probes == false) flags.no_openssl_probes = true;
  if (file.java_attach_timeout_ns && !given("--java-attach-timeout")) {
    options.java_attach_timeout =
        std::chrono::milliseconds(*file.java_attach_timeout_ns / 1'000'000);
  }
  if (file.kafka_probes == false) flags.no_kafka_probes = true;
  if (file.stats_interval_ns && !given("--stats-interval"))
    flags.stats_seconds = static_cast<int>(*file.stats_interval_ns / 1'000'000'000);
  auto& selection = options.selection;
  if (file.pids && !given("--pid")) selection.pids.assign(file.pids->begin(), file.pids->end());
  if (file.exe_globs && !given("--exe")) selection.exe_globs = *file.exe_globs;
  if (file.ports && !given("--port"))
    selection.ports.assign(file.ports->begin(), file.ports->end());
}

// The tracing settings from the config file, the environment and the flags; false (and a
// message) when one of them is invalid.
bool resolve_tracing(RunFlags& flags, const std::map<std::string, std::string>& env) {
  auto& options = flags.options;
  std::string error;
  ztrace::sampling::SettingsLayer file;
  std::optional<ztrace::sampling::ConfigFile> file_selection;
  if (!flags.config_path.empty()) {
    auto read = ztrace::sampling::read_config_file(flags.config_path, &error);
    if (!read) return spdlog::error("config: {}", error), false;
    file = read->tracing;
    file_selection = read;
    options.config_file = *read;
    apply_start_sections(read->agent.start, flags);
    if (read->api_listen) options.api_listen = *read->api_listen;
    if (read->java_agent && !flags.no_java_agent) options.java_agent = *read->java_agent;
    if (read->api_token_file) options.api_token_file = *read->api_token_file;
    if (read->metrics_listen) options.metrics_listen = *read->metrics_listen;
    options.tenancy = read->tenancy;
    if (read->metrics_max_series && !flags.metrics_max_series) {
      options.metrics_max_series = *read->metrics_max_series;
    }
  }
  if (flags.metrics_max_series) options.metrics_max_series = *flags.metrics_max_series;
  if (flags.api_listen) options.api_listen = *flags.api_listen;
  if (flags.api_token_file) options.api_token_file = *flags.api_token_file;
  if (flags.metrics_listen) options.metrics_listen = *flags.metrics_listen;
  if (!resolve_k8s(flags, file_selection, &error)) return spdlog::error("{}", error), false;
  auto from_env = ztrace::sampling::read_sampler_env(env, &error);
  if (!from_env) return spdlog::error("environment: {}", error), false;
  options.config_path = flags.config_path;
  options.tracing_env = *from_env;
  if (!flags.mode.empty()) options.tracing_flags.mode = ztrace::sampling::parse_mode(flags.mode);
  options.tracing_flags.ratio = flags.sampling_ratio;
  options.tracing = ztrace::sampling::merge(file, options.tracing_env, options.tracing_flags);
  return true;
}

void add_selection_flags(CLI::App* run, RunFlags& flags) {
  auto& selection = flags.options.selection;
  run->add_option("--pid", selection.pids, "Trace this process and its children (repeatable)");
  run->add_option("--exe", selection.exe_globs,
                  "Trace processes whose executable path or name matches this glob, including "
                  "ones started later (repeatable)");
  run->add_option("--port", selection.ports,
                  "Trace only connections whose local or remote TCP port is this (repeatable)")
      ->check(CLI::Range(1, 65535));
}

void add_k8s_flags(CLI::App* run, RunFlags& flags) {
  run->add_flag("--k8s", flags.k8s,
                "Kubernetes pod metadata on resources (on by itself inside a pod or with a pod "
                "rule)");
  run->add_option("--k8s-pod-label", flags.k8s_pod_labels,
                  "Trace the processes of pods with this label, KEY=VALUE (repeatable: all must "
                  "match; followed as labels change)");
  run->add_option("--k8s-namespace", flags.k8s_namespaces,
                  "Trace only pods in namespaces matching this glob (repeatable)");
  run->add_option("--k8s-exclude-namespace", flags.k8s_exclude_namespaces,
                  "Never trace pods in namespaces matching this glob (repeatable)");
  run->add_option("--kubeconfig", flags.options.k8s.kubeconfig,
                  "kubeconfig file (default: KUBECONFIG, else the pod's service account)");
  run->add_option("--k8s-node-name", flags.options.k8s.node_name,
                  "This node's name (default: NODE_NAME, else the host name)");
}

void add_capture_flags(CLI::App* run, RunFlags& flags) {
  auto& options = flags.options;
  run->add_option("--max-capture-bytes", options.max_capture_bytes,
                  "Bytes captured per syscall (rounded up to 4 KiB pieces); the rest of a "
                  "larger call is skipped with its length recorded")
      ->check(CLI::Range(4096, 65536));
  run->add_flag("--no-inject", flags.no_inject,
                "Do not add traceparent headers to outgoing plaintext HTTP/1.x requests");
  run->add_flag("--no-go-probes", flags.no_go_probes,
                "Do not attach uprobes to Go programs (their HTTPS is then not traced)");
  run->add_flag("--no-openssl-probes", flags.no_openssl_probes,
                "Do not attach uprobes to OpenSSL (libssl, node): their TLS is then not traced");
  run->add_flag("--no-kafka-probes", flags.no_kafka_probes,
                "Do not attach uprobes to librdkafka's produce calls: its send spans are then "
                "not children of the requests that produced");
  run->add_flag("--no-capability-check", flags.no_capability_check,
                "Start even when a capability the agent needs is missing (what then fails "
                "is logged where it fails)");
  run->add_flag("--no-java-agent", flags.no_java_agent,
                "Do not load ztrace's Java agent into JVMs: their JSSE TLS is then not traced "
                "(config key probes.java_agent: false)");
  run->add_option("--java-agent-dir", options.java_agent_dir,
                  "Directory of the Java agent's files (default: java/ next to ztrace)");
  run->add_option("--java-attach-timeout", flags.java_attach_timeout,
                  "How long a JVM gets to open its attach listener before it is left at the "
                  "syscall layer, e.g. 30s (default; config key probes.java_attach_timeout)");
  run->add_flag("--capture-url-query", options.capture_url_query,
                "Record url.query (may contain secrets)");
  run->add_option("--ring-buffer-bytes", options.ring_buffer_bytes,
                  "Kernel→agent ring buffer size (power of two)")
      ->check(CLI::Range(1u << 16, 1u << 30));
  run->add_option("--max-connections", options.max_connections,
                  "Connections tracked at once; the least recently active beyond are dropped");
}

void add_output_flags(CLI::App* run, RunFlags& flags) {
  auto& options = flags.options;
  run->add_option("--jsonl", options.output_flags.jsonl_path,
                  "Also write every span as one JSON object per line to this file");
  run->add_flag("--no-console", options.output_flags.no_console,
                "Do not print a line per span on stdout");
  run->add_flag("--view", options.output_flags.view,
                "On stdout, each trace as a waterfall (as ztrace view) once no span of it came "
                "for 1 s, instead of a line per span");
  run->add_option("--record-events", options.record_events_path,
                  "Save every raw kernel event to this file (replayable by "
                  "bench/pipeline_bench; large: about 1 KiB per HTTP message)");
  run->add_option("--stats-interval", flags.stats_seconds,
                  "Seconds between counter log lines (0: only at exit)");
}

void add_otlp_flags(CLI::App* run, ztrace::otlp::OtlpFlags& otlp) {
  run->add_option("--otlp-endpoint", otlp.endpoint,
                  "Also export over OTLP to this http:// or https:// URL (as "
                  "OTEL_EXPORTER_OTLP_ENDPOINT: /v1/traces appended for http/protobuf unless "
                  "present)");
  run->add_option("--otlp-protocol", otlp.protocol, "grpc|http/protobuf (default http/protobuf)")
      ->check(CLI::IsMember({"grpc", "http/protobuf"}));
  run->add_option("--otlp-header", otlp.headers,
                  "key=value sent with every OTLP request (repeatable; replaces the same key "
                  "of OTEL_EXPORTER_OTLP_HEADERS)");
  run->add_option("--otlp-compression", otlp.compression, "gzip|none (default none)")
      ->check(CLI::IsMember({"gzip", "none"}));
  run->add_option("--otlp-timeout-ms", otlp.timeout_ms, "Per OTLP request (default 10000)");
  run->add_option("--otlp-ca-file", otlp.ca_file, "PEM CA bundle that verifies the endpoint");
  run->add_option("--otlp-client-cert", otlp.client_cert_file,
                  "PEM client certificate for mutual TLS (with --otlp-client-key)");
  run->add_option("--otlp-client-key", otlp.client_key_file, "PEM key of --otlp-client-cert");
  run->add_flag("--otlp-insecure-skip-verify", otlp.insecure_skip_verify,
                "TLS without verifying the endpoint's certificate (development only)");
  run->add_option("--otlp-queue-spans", otlp.max_queue_spans,
                  "Spans the OTLP exporter holds while the backend is slow or away, in flight "
                  "included (default 16384); beyond: dropped and counted");
  run->add_option("--otlp-batch-delay-ms", otlp.batch_delay_ms,
                  "Longest wait before a partial OTLP batch is sent (default 1000)");
  run->add_option("--otlp-retry-max-ms", otlp.max_retry_elapsed_ms,
                  "How long a batch is retried on retryable errors before it is dropped "
                  "(default 60000)");
}

void add_view_flags(CLI::App* view, ztrace::view::ViewOptions& options,
                    std::vector<std::string>& times, bool& plain, bool& web,
                    std::string& web_listen) {
  view->add_option("files", options.files, "JSON-lines span files (ztrace run --jsonl FILE)")
      ->required();
  view->add_flag("-f,--follow", options.follow,
                 "Keep reading the files as they grow; a trace is shown once no span of it "
                 "came for --settle");
  view->add_option("--service", options.filter.services,
                   "Only traces with a span of this service.name (repeatable)");
  view->add_option("--min-duration", times[0],
                   "Only traces at least this long, e.g. 250ms, 1.5s, 800us (plain numbers: ms)");
  view->add_flag("--errors", options.filter.errors_only, "Only traces with an error span");
  view->add_option("--trace", options.filter.trace_id_prefix,
                   "Only the trace with this id (or prefix)");
  view->add_option("--from", times[1],
                   "Only traces starting at or after this time (2026-12-05T12:00:00Z or unix "
                   "seconds)");
  view->add_option("--to", times[2], "Only traces starting before this time");
  view->add_option("--last", options.last, "Only the last N traces by start time");
  view->add_option("--width", options.waterfall.bar_width, "Columns of the timeline bar")
      ->check(CLI::Range(10, 400));
  view->add_flag("--plain", plain,
                 "Plain text even on a terminal (the default when stdout is not a terminal)");
  view->add_flag("--web", web,
                 "Serve the traces as a local web page instead (a searchable list, waterfalls "
                 "with span attributes, the service map) until Ctrl-C");
  view->add_option("--listen", web_listen, "With --web: HOST:PORT to serve on (port 0: any)")
      ->capture_default_str();
  view->add_option("--settle", times[3],
                   "With --follow: quiet time before a trace is shown (default 2s)");
}

// The time and duration flags into the view's options; false (and a message) when one is bad.
bool resolve_view_times(const std::vector<std::string>& times, ztrace::view::ViewOptions& options) {
  if (!times[0].empty()) {
    const auto ns = ztrace::parse_duration_ns(times[0], "ms");
    if (!ns) return spdlog::error("--min-duration: not a duration: {}", times[0]), false;
    options.filter.min_duration_ns = *ns;
  }
  for (int i : {1, 2}) {
    if (times[i].empty()) continue;
    const auto ns = ztrace::view::parse_time_unix_ns(times[i]);
    if (!ns)
      return spdlog::error("{}: not a time: {}", i == 1 ? "--from" : "--to", times[i]), false;
    (i == 1 ? options.filter.from_unix_ns : options.filter.to_unix_ns) = *ns;
  }
  if (!times[3].empty()) {
    const auto ns = ztrace::parse_duration_ns(times[3], "ms");
    if (!ns) return spdlog::error("--settle: not a duration: {}", times[3]), false;
    options.settle = std::chrono::milliseconds(*ns / 1'000'000);
  }
  return true;
}

// The parsed flags and the environment into the agent's options, then the agent's run.
int run_agent(RunFlags& flags) {
  auto& options = flags.options;
  options.inject_traceparent = !flags.no_inject;
  options.check_capabilities = !flags.no_capability_check;
  options.go_probes = !flags.no_go_probes;
  options.openssl_probes = !flags.no_openssl_probes;
  options.kafka_probes = !flags.no_kafka_probes;
  options.java_agent = !flags.no_java_agent && options.java_agent;
  options.stats_interval = std::chrono::seconds(flags.stats_seconds);
  if (!flags.java_attach_timeout.empty()) {
    const auto ns = ztrace::parse_duration_ns(flags.java_attach_timeout);
    if (!ns || *ns < 1'000'000) {
      spdlog::error("--java-attach-timeout: not a duration such as 500ms or 30s: {}",
                    flags.java_attach_timeout);
      return 2;
    }
    options.java_attach_timeout = std::chrono::milliseconds(*ns / 1'000'000);
  }
  std::map<std::string, std::string> sampler_env;
  for (const char* name : {"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"}) {
    if (const char* value = std::getenv(name)) sampler_env[name] = value;
  }
  if (!resolve_tracing(flags, sampler_env)) return 2;
  const auto& file_log_level = options.config_file.agent.start.log_level;
  if (file_log_level && !flags.log_level_given) setup_logging(*file_log_level);
  std::string otlp_error;
  std::vector<std::string> otlp_warnings;
  if (!ztrace::agent::resolve_outputs(options.output_flags, options.config_file.agent.exports,
                                      ztrace::otlp::process_env(), ZTRACE_VERSION, &options.outputs,
                                      &otlp_error, &otlp_warnings)) {
    spdlog::error("OTLP configuration: {}", otlp_error);
    return 2;
  }
  for (const auto& warning : otlp_warnings) spdlog::warn("OTLP configuration: {}", warning);
  options.version = ZTRACE_VERSION;
  return ztrace::agent::run_agent(options);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ztrace: OpenTelemetry traces for uninstrumented services, from eBPF"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember(kLogLevels));

  RunFlags run_flags;
  auto* run = app.add_subcommand(
      "run", "Run the agent until SIGINT/SIGTERM (SIGHUP: reload, SIGUSR1: log the counters)");
  // Accepted before or after the subcommand.
  run->add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember(kLogLevels));
  add_selection_flags(run, run_flags);
  add_k8s_flags(run, run_flags);
  add_tracing_flags(run, run_flags);
  add_output_flags(run, run_flags);
  add_capture_flags(run, run_flags);
  add_otlp_flags(run, run_flags.options.output_flags.otlp);
  run_flags.run = run;

  auto* check = app.add_subcommand(
      "check", "Report what this host allows, then load every BPF program and report each");
  auto* version = app.add_subcommand("version", "Print the version");
  ztrace::view::ViewOptions view_options;
  std::vector<std::string> view_times(4);  // min-duration, from, to, settle
  auto* view = app.add_subcommand(
      "view",
      "Show the traces in JSON-lines span files as waterfalls: interactive on a terminal, plain "
      "text in a pipe, or a local web page (--web)");
  bool view_plain = false;
  bool view_web = false;
  std::string view_listen = "127.0.0.1:8402";
  add_view_flags(view, view_options, view_times, view_plain, view_web, view_listen);

  CLI11_PARSE(app, argc, argv);
  setup_logging(log_level);
  run_flags.log_level_given = app.count("--log-level") + run->count("--log-level") > 0;
  ztrace::bpf_support::install_libbpf_logging();

  if (version->parsed()) {
    std::printf("ztrace %s\n", ZTRACE_VERSION);
    return 0;
  }
  if (check->parsed()) return run_check();
  if (view->parsed()) {
    if (!resolve_view_times(view_times, view_options)) return 2;
    if (view_web) return ztrace::view::serve_web(view_options, view_listen, std::cerr);
    view_options.interactive =
        !view_plain && !view_options.follow && ztrace::view::is_interactive_terminal();
    return ztrace::view::run_view(view_options, std::cout, std::cerr);
  }
  return run_agent(run_flags);
}
