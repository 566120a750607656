#pragma once

// The agent daemon: prepares the host, attaches the probes, and runs the intake thread
// (ring buffer → queue), the pipeline thread (events → spans) and each exporter's worker
// until a stop signal (signals.h), then drains, flushes and detaches everything.

#include <chrono>
#include <cstdint>
#include <string>

#include "k8s/pod_metadata.h"
#include "userspace/agent/outputs.h"
#include "userspace/export/otlp/otlp_config.h"
#include "userspace/export/tenancy_config.h"
#include "userspace/process/selection.h"
#include "userspace/sampling/settings_sources.h"
#include "userspace/sampling/tracing_settings.h"

namespace ztrace::agent {

struct AgentOptions {
  process::SelectionRules selection;
  // Where spans go, and the flags it came from (a reload that changes the config file's
  // export: resolves it again and replaces the exporters).
  Outputs outputs;
  OutputFlags output_flags;
  // The config file as read at start (empty without one): a reload compares the new file with
  // it, and names the changed sections that need a restart.
  sampling::ConfigFile config_file;
  std::string record_events_path;  // empty: raw events are not saved
  exporter::TenancyConfig tenancy;  // OTLP per tenant (export.otlp.tenants), as at start
  bool capture_url_query = false;
  bool inject_traceparent = true;  // sk_msg adds traceparent to outgoing plaintext requests
  bool go_probes = true;           // uprobes in Go binaries (crypto/tls plaintext)
  bool openssl_probes = true;      // uprobes in libssl and node (OpenSSL plaintext)
  bool kafka_probes = true;        // uprobes on librdkafka's produce calls (send ← request)
  bool check_capabilities = true;  // refuse to start without a needed capability
  bool java_agent = true;          // JSSE plaintext from a Java agent loaded into JVMs
  std::string java_agent_dir;      // its files; empty: `java/` next to the ztrace binary
  std::chrono::milliseconds java_attach_timeout{30000};  // per JVM, for its attach listener
  uint32_t max_capture_bytes = 16384;
  uint32_t ring_buffer_bytes = 4u << 20;
  size_t event_queue_bytes = 64u << 20;
  size_t max_connections = 16384;
  size_t metrics_max_series = 2000;  // span metrics and service graph series, each
  size_t export_queue_spans = 65536;
  std::chrono::seconds stats_interval{60};  // 0: never log counters
  // Mode and head sampling, and their sources: a reload (SIGHUP) re-reads the config file
  // and merges it again under the environment and the flags, which stay as at start.
  sampling::TracingSettings tracing;
  std::string config_path;  // empty: no config file
  sampling::SettingsLayer tracing_env;
  sampling::SettingsLayer tracing_flags;
  // The control port (health, status, reload, /metrics); empty: none.
  std::string api_listen = "127.0.0.1:8401";
  std::string metrics_listen;  // HOST:PORT of /metrics alone; empty: only on the control port
  std::string api_token_file;  // empty: no token (state-changing requests are not refused)
  std::string version;  // for ztrace_build_info
  // Pod metadata on resources, and pod selection (.enabled).
  k8s::K8sOptions k8s;
};

// Returns the process exit code.
int run_agent(const AgentOptions& options);

}  // namespace ztrace::agent
