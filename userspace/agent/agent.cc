#include "userspace/agent/agent.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "probes/go/go_tracer.h"
#include "probes/java/java_agent.h"
#include "probes/kafka/rdkafka_tracer.h"
#include "probes/openssl/openssl_tracer.h"
#include "userspace/agent/agent_metrics.h"
#include "userspace/agent/capabilities.h"
#include "userspace/agent/counter_log.h"
#include "userspace/agent/event_queue.h"
#include "userspace/agent/header_injector.h"
#include "userspace/agent/host_setup.h"
#include "userspace/agent/on_demand_sampling.h"
#include "userspace/agent/otlp_outputs.h"
#include "userspace/agent/outputs.h"
#include "userspace/agent/process_tracking.h"
#include "userspace/agent/signals.h"
#include "userspace/agent/socket_tracer.h"
#include "userspace/control/control_server.h"
#include "userspace/export/export_pipeline.h"
#include "userspace/export/otlp/otlp_exporter.h"
#include "userspace/pipeline/event_pipeline.h"
#include "userspace/pipeline/event_recording.h"
#include "userspace/process/process_table.h"
#include "userspace/spans/clock.h"
#include "userspace/view/web_view.h"

namespace ztrace::agent {
namespace {

// Also how long a stop, reload or counter request may wait to be noticed.
constexpr int kRingPollIntervalMs = 20;

// Exit codes: 2 the host, an output or the command line is unusable; 3 the probes failed.
constexpr int kExitSetupFailed = 2;
constexpr int kExitProbesFailed = 3;

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

TracerOptions tracer_options_of(const AgentOptions& options) {
  TracerOptions tracer;
  tracer.agent_pid = getpid();
  tracer.trace_all_processes = options.selection.selects_all_processes();
  tracer.ports = options.selection.ports;
  tracer.max_capture_bytes = options.max_capture_bytes;
  tracer.ring_buffer_bytes = options.ring_buffer_bytes;
  tracer.inject_traceparent = options.inject_traceparent;
  return tracer;
}

process::ProcessTableOptions process_table_options(k8s::PodMetadata* pods) {
  process::ProcessTableOptions options{.resource = {.host_name = host_name()}};
  if (pods) {
    options.resource.enrich = [pods](pid_t pid, spans::Attributes& attributes) {
      pods->enrich(pid, attributes);
    };
  }
  return options;
}

// One run of the agent. Members are declared in the order they are set up, so they are torn
// down in reverse: nothing outlives what it refers to.
class Agent {
 public:
  // `pods`: null without Kubernetes; else it outlives the agent.
  Agent(const AgentOptions& options, SignalWatcher& signals, k8s::PodMetadata* pods)
      : options_(options),
        signals_(signals),
        pods_(pods),
        processes_(process_table_options(pods)),
        queue_(options.event_queue_bytes) {}

  // Each returns 0, or the exit code after logging why the agent cannot run.
  int set_up_outputs();
  int attach_probes();
  void select_processes();
  void start_pipeline();
  void start_control_port();
  void start_metrics_port();
  void run_until_stopped();
  void drain_and_stop();

 private:
  void attach_optional_probes();
  // The process tracking's hooks, and the on-demand rules learning of processes.
  pipeline::ProcessHooks pipeline_hooks();
  void apply_tracing(const sampling::TracingSettings& settings);
  // SIGHUP and POST /api/config/reload; false (and why) when the config file is broken.
  bool reload(std::string* message);
  bool replace_exporters(const Outputs& outputs, const exporter::TenancyConfig& tenancy,
                         std::string* error);
  void publish_snapshot();
  AgentSnapshot snapshot();
  void pipeline_loop();
  void log_all_counters();
  std::vector<OtlpStatsOf> otlp_stats();

  void follow_pods();

  const AgentOptions& options_;
  SignalWatcher& signals_;
  k8s::PodMetadata* pods_;
  spans::KernelClock clock_;
  process::ProcessTable processes_;
  EventQueue queue_;
  EventBatch intake_batch_;  // intake thread: events since the last push to the queue
  // Each tenant's OTLP exporter, then the agent's own; replaced by a reload, under
  // snapshot_mutex_.
  std::vector<OtlpStatsOf> otlp_stats_;
  std::optional<exporter::ExportPipeline> exporter_;
  std::unique_ptr<pipeline::EventRecordWriter> recorder_;
  std::unique_ptr<SocketTracer> tracer_;
  std::unique_ptr<probes::go::GoTracer> go_tracer_;  // optional: Go TLS plaintext, goroutines
  std::unique_ptr<probes::openssl::OpenSslTracer> openssl_tracer_;  // optional: OpenSSL plaintext
  std::unique_ptr<probes::java::JavaAgentLoader> java_agent_;       // optional: JSSE plaintext
  std::unique_ptr<probes::kafka::RdKafkaTracer> rdkafka_tracer_;    // optional: produce calls
  std::unique_ptr<HeaderInjector> injector_;         // optional: traceparent injection
  std::unique_ptr<ProcessTracking> process_tracking_;
  std::unique_ptr<sampling::ProcessSampling> process_sampling_;  // on-demand rules
  std::optional<pipeline::EventPipeline> pipeline_;
  std::mutex reload_mutex_;            // one reload at a time: the signal's or the API's
  sampling::TracingSettings tracing_;  // what is applied now; guarded by reload_mutex_
  // The config file as applied; guarded by reload_mutex_.
  sampling::ConfigFile applied_file_ = options_.config_file;
  std::mutex snapshot_mutex_;
  AgentSnapshot snapshot_;  // the pipeline thread's counters, each second; guarded by it
  std::unique_ptr<view::WebView> web_view_;          // /view/ on the control port (--jsonl)
  std::unique_ptr<control::ControlServer> metrics_port_;  // api.metrics_listen: /metrics alone
  std::unique_ptr<control::ControlServer> control_;       // last: stopped first
  std::thread pipeline_thread_;
};

int Agent::set_up_outputs() {
  std::string error;
  auto exporters = open_outputs(options_.outputs, options_.tenancy, options_.export_queue_spans,
                                &error, &otlp_stats_);
  if (!error.empty()) {
    spdlog::error("cannot set up output: {}", error);
    return kExitSetupFailed;
  }
  exporter_.emplace(std::move(exporters));
  if (!options_.record_events_path.empty()) {
    recorder_ = std::make_unique<pipeline::EventRecordWriter>(options_.record_events_path, &error);
    if (!error.empty()) {
      spdlog::error("{}", error);
      return kExitSetupFailed;
    }
  }
  return 0;
}

int Agent::attach_probes() {
  std::string error;
  // Events flow only once the intake loop polls, after process_tracking_ is set.
  tracer_ = SocketTracer::open(
      tracer_options_of(options_),
      [this](std::span<const uint8_t> event) {
        process_tracking_->on_intake_event(event);
        intake_batch_.append(event);
      },
      &error);
  if (!tracer_) {
    spdlog::error("{}", error);
    return kExitProbesFailed;
  }
  attach_optional_probes();
  process_tracking_ = std::make_unique<ProcessTracking>(options_.selection, processes_, *tracer_,
                                                        go_tracer_.get(), openssl_tracer_.get());
  process_tracking_->set_java_agent(java_agent_.get());
  process_sampling_ = make_process_sampling(*tracer_, go_tracer_.get(), processes_);
  if (injector_ && injector_->per_pod()) {
    process_tracking_->set_on_traced([this](pid_t pid) { injector_->cover_process(pid); });
  }
  follow_pods();
  return 0;
}

// A pod's metadata changed: its processes' resources are rebuilt at their next span. It
// entered or left the selection: the kernel traces its processes, or no longer.
void Agent::follow_pods() {
  if (!pods_) return;
  pods_->set_listener([this](const k8s::Pod& pod, bool selection_changed, bool selected) {
    const std::vector<pid_t> pids = pods_->pids_in_pod(pod.uid);
    for (pid_t pid : pids) processes_.forget(pid);
    if (!selection_changed) return;
    process_tracking_->apply_pod_selection(pids, selected);
    if (!selected && injector_) injector_->uncover_pod(pod.uid);
    spdlog::info("k8s: pod {}/{} {} ({} processes)", pod.namespace_name, pod.name,
                 selected ? "selected" : "no longer selected", pids.size());
  });
}

// The Go probes and injection are additions to tracing: when one cannot be set up, the agent
// traces without it (Go processes at the syscall layer) and says why.
void Agent::attach_optional_probes() {
  std::string error;
  if (options_.go_probes) {
    const SharedMapFds fds = tracer_->shared_map_fds();
    go_tracer_ =
        probes::go::GoTracer::open({fds.events, fds.conns, fds.go_processes, fds.goroutine_requests,
                                    fds.goroutine_client_parents, fds.goroutine_h2_readers,
                                    fds.h2_stream_parents, fds.process_sampling_thresholds},
                                   &error);
    if (!go_tracer_) spdlog::warn("Go probes off: {}", error);
  }
  if (options_.openssl_probes) {
    const SharedMapFds fds = tracer_->shared_map_fds();
    openssl_tracer_ = probes::openssl::OpenSslTracer::open(
        {fds.events, fds.conns, fds.traced_pids, fds.tls_threads, fds.ssl_fds, fds.traced_ports,
         fds.pending_injections, fds.pending_h2_injections, fds.injectable_sockets,
         fds.inject_counters, fds.thread_requests, fds.thread_messages, fds.multiplexing_threads,
         fds.thread_linkable_processes, fds.process_sampling_thresholds},
        {getpid(), options_.selection.selects_all_processes()}, &error);
    if (openssl_tracer_) {
      openssl_tracer_->attach_host_libraries();
    } else {
      spdlog::warn("OpenSSL probes off: {}", error);
    }
  }
  if (options_.kafka_probes) {
    const SharedMapFds fds = tracer_->shared_map_fds();
    rdkafka_tracer_ = probes::kafka::RdKafkaTracer::open(
        {fds.events, fds.conns, fds.traced_pids, fds.traced_ports, fds.thread_requests,
         fds.thread_messages, fds.multiplexing_threads, fds.thread_linkable_processes,
         fds.go_processes, fds.goroutine_requests, fds.goroutine_client_parents,
         fds.goroutine_h2_readers, fds.h2_stream_parents, fds.process_sampling_thresholds,
         fds.pending_injections, fds.pending_h2_injections, fds.injectable_sockets,
         fds.inject_counters},
        {getpid(), options_.selection.selects_all_processes()}, &error);
    if (rdkafka_tracer_) {
      rdkafka_tracer_->attach_host_libraries();
    } else {
      spdlog::warn("librdkafka probes off: {}", error);
    }
  }
  // The Java agent's plaintext enters through the OpenSSL probes' object (its maps and
  // emitter): without them, JVMs stay traced at the syscall layer.
  if (options_.java_agent && openssl_tracer_) {
    probes::java::JavaAgentSettings settings;
    settings.agent_dir = options_.java_agent_dir.empty()
                             ? probes::java::JavaAgentLoader::default_agent_dir()
                             : options_.java_agent_dir;
    settings.attach_timeout = options_.java_attach_timeout;
    java_agent_ = std::make_unique<probes::java::JavaAgentLoader>(
        settings, [t = openssl_tracer_.get()] { return t->attach_java_handoff(); });
  } else if (options_.java_agent) {
    spdlog::warn("Java TLS agent off: it needs the OpenSSL probes");
  }
  if (options_.inject_traceparent) {
    // Only pods selected: sockops goes on their cgroups alone.
    const auto& selection = options_.selection;
    const bool per_pod =
        selection.pod_selected && selection.pids.empty() && selection.exe_globs.empty();
    injector_ = HeaderInjector::open(*tracer_, !selection.ports.empty(), per_pod, &error);
    if (injector_) {
      spdlog::info("traceparent injection on (sockops on {}{})", injector_->cgroup_path(),
                   per_pod ? ", per selected pod cgroup" : "");
    } else {
      spdlog::warn("traceparent injection off: {}", error);
    }
  }
}

// Running processes are checked once; until then no request of theirs is linked by thread.
void Agent::select_processes() {
  const auto& selection = options_.selection;
  const std::vector<pid_t> running = process_tracking_->select_running(/*attach_go_now=*/true);
  if (rdkafka_tracer_) {  // librdkafka in other mount namespaces (the host's is probed)
    for (pid_t pid : running) rdkafka_tracer_->scan(pid);
  }
  if (!selection.selects_all_processes()) {
    spdlog::info("selected {} running processes", running.size());
  }
  if (injector_) {
    const size_t adopted = injector_->adopt_client_connections(running, selection.ports);
    spdlog::info(
        "{} client connections opened before the agent: traced, never injected (where their "
        "messages start is unknown)",
        adopted);
  }
}

void Agent::start_pipeline() {
  pipeline::EventPipelineOptions pipeline_options;
  pipeline_options.connections.max_connections = options_.max_connections;
  pipeline_options.spans.capture_url_query = options_.capture_url_query;
  pipeline_options.request_metrics.max_series = options_.metrics_max_series;
  pipeline_.emplace(pipeline_options, clock_, processes_, *exporter_, pipeline_hooks());
  pipeline_->set_process_sampling(process_sampling_.get());
  {
    std::lock_guard lock(reload_mutex_);
    apply_tracing(options_.tracing);
  }
  pipeline_thread_ = std::thread([this] { pipeline_loop(); });
  spdlog::info("ztrace ready: {} probes attached, tracing {}{}", tracer_->attached_programs(),
               options_.selection.selects_all_processes() ? "all processes" : "selected processes",
               options_.selection.ports.empty() ? "" : " on selected ports");
}

pipeline::ProcessHooks Agent::pipeline_hooks() {
  pipeline::ProcessHooks hooks = process_tracking_->pipeline_hooks();
  hooks.on_resource = [this, tracking = std::move(hooks.on_resource)](
                          uint32_t pid, const spans::Resource& resource) {
    tracking(pid, resource);
    process_sampling_->on_process(pid, resource);
  };
  hooks.on_exit = [this, tracking = std::move(hooks.on_exit)](
                      uint32_t pid, const std::vector<int32_t>& socket_fds) {
    tracking(pid, socket_fds);
    process_sampling_->on_exit(pid);
  };
  return hooks;
}

// The pipeline thread: queued events → spans, housekeeping each second, counters when due.
void Agent::pipeline_loop() {
  std::vector<EventBatch> batches;
  auto last_tick = std::chrono::steady_clock::now();
  auto last_stats = last_tick;
  const auto handle_event = [this](std::span<const uint8_t> event) {
    if (recorder_) recorder_->write(event);
    pipeline_->handle(event);
  };
  for (bool open = true; open;) {
    batches.clear();
    open = queue_.pop_all(batches, std::chrono::milliseconds(100));
    exporter_->take_offer();  // a reload's exporters, before the next span
    for (const auto& batch : batches) batch.for_each(handle_event);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_tick >= std::chrono::seconds(1)) {
      last_tick = now;
      pipeline_->tick(spans::KernelClock::monotonic_now_ns());
      process_sampling_->tick(spans::KernelClock::monotonic_now_ns());
      publish_snapshot();
    }
    const bool stats_due =
        options_.stats_interval.count() > 0 && now - last_stats >= options_.stats_interval;
    const bool dump_requested = signals_.take_counter_dump_request();  // SIGUSR1
    if (stats_due || dump_requested) {
      last_stats = now;
      clock_.refresh();
      log_all_counters();
    }
  }
}

void Agent::log_all_counters() {
  log_counters(pipeline_->stats(), exporter_->stats(), tracer_->drop_counts(),
               queue_.dropped_events());
  log_otlp_counters(otlp_stats());
}

std::vector<OtlpStatsOf> Agent::otlp_stats() {
  std::lock_guard lock(snapshot_mutex_);
  return otlp_stats_;
}

// Every probe and the pipeline take the settings at once: no reload of any program.
void Agent::apply_tracing(const sampling::TracingSettings& settings) {
  const bool capture = settings.mode != sampling::TracingMode::kOff;
  const uint64_t threshold = sampling::threshold_of(settings);
  tracer_->set_sampling_threshold(threshold);
  tracer_->set_capture_paused(!capture);
  if (go_tracer_) {
    go_tracer_->set_sampling_threshold(threshold);
    go_tracer_->set_capture_paused(!capture);
  }
  if (openssl_tracer_) openssl_tracer_->set_capture_paused(!capture);
  if (rdkafka_tracer_) rdkafka_tracer_->set_capture_paused(!capture);
  pipeline_->set_tracing(threshold, capture && settings.mode != sampling::TracingMode::kSystemOnly);
  const bool tail = settings.mode == sampling::TracingMode::kHybrid && settings.tail;
  process_sampling_->set_active(settings.mode == sampling::TracingMode::kHybrid && !tail);
  pipeline_->set_adaptive(settings.mode == sampling::TracingMode::kHybrid ? settings.adaptive
                                                                          : std::nullopt);
  pipeline_->set_tail_sampling(tail ? settings.tail : std::nullopt,
                               sampling::threshold_for_ratio(settings.ratio));
  spdlog::info("tracing: {}{}", settings.describe(),
               tracing_ == settings ? "" : " (was " + tracing_.describe() + ")");
  tracing_ = settings;
}

// The config file again (a broken one keeps the running settings), and the selection rules
// over the running processes. Flags and environment are read at start only.
bool Agent::reload(std::string* message) {
  std::lock_guard lock(reload_mutex_);
  process_tracking_->reload();
  if (options_.config_path.empty()) {
    *message = "no config file: " + tracing_.describe() + " kept";
    return true;
  }
  std::string error;
  const auto file = sampling::read_config_file(options_.config_path, &error);
  std::optional<Outputs> outputs;
  if (file && (file->agent.exports != applied_file_.agent.exports ||
               file->tenancy != applied_file_.tenancy)) {
    std::vector<std::string> warnings;
    outputs.emplace();
    if (!resolve_outputs(options_.output_flags, file->agent.exports, otlp::process_env(),
                         options_.version, &*outputs, &error, &warnings)) {
      outputs.reset();
    }
    for (const auto& warning : warnings) spdlog::warn("OTLP configuration: {}", warning);
  }
  if (!file || (!outputs && !error.empty())) {
    *message = "reload failed, running settings kept (" + tracing_.describe() + "): " + error;
    spdlog::error("{}", *message);
    return false;
  }
  apply_tracing(sampling::merge(file->tracing, options_.tracing_env, options_.tracing_flags));
  *message = tracing_.describe();
  if (outputs && !replace_exporters(*outputs, file->tenancy, &error)) {
    *message += "; exporters kept: " + error;
    spdlog::error("reload: exporters kept: {}", error);
    return false;
  }
  if (outputs) *message += "; exporters replaced";
  std::string restart;
  for (const auto& section : applied_file_.restart_only_changes(*file)) {
    restart += (restart.empty() ? "" : ", ") + section;
  }
  if (!restart.empty()) {
    *message += "; changed, applied at the next restart: " + restart;
    spdlog::warn("reload: changed, applied at the next restart: {}", restart);
  }
  applied_file_.tracing = file->tracing;
  if (outputs) {
    applied_file_.agent.exports = file->agent.exports;
    applied_file_.tenancy = file->tenancy;
  }
  return true;
}

// New exporters take spans from the pipeline's next event on; the old ones flush what they
// hold, then stop. A new output that cannot be opened keeps the old ones.
bool Agent::replace_exporters(const Outputs& outputs, const exporter::TenancyConfig& tenancy,
                              std::string* error) {
  std::vector<OtlpStatsOf> otlp_stats;
  auto exporters = open_outputs(outputs, tenancy, options_.export_queue_spans, error, &otlp_stats);
  if (!error->empty()) return false;
  spdlog::info("reload: new exporters ({}), the old ones flushing", exporters.size());
  {
    std::lock_guard lock(snapshot_mutex_);
    otlp_stats_ = std::move(otlp_stats);
  }
  exporter_->offer(std::move(exporters));
  if (!exporter_->shut_down_replaced(std::chrono::seconds(2), std::chrono::seconds(5))) {
    spdlog::warn("reload: the old exporters did not finish in time (their spans may be lost)");
  }
  return true;
}

// The pipeline thread's counters for /metrics (pipeline stats are not thread-safe).
void Agent::publish_snapshot() {
  auto pipeline = pipeline_->stats();
  auto request_metrics = pipeline_->request_metrics();
  auto exports = exporter_->stats();
  std::lock_guard lock(snapshot_mutex_);
  snapshot_.pipeline = std::move(pipeline);
  snapshot_.request_metrics = std::move(request_metrics);
  snapshot_.exports = std::move(exports);
}

AgentSnapshot Agent::snapshot() {
  AgentSnapshot snapshot;
  {
    std::lock_guard lock(snapshot_mutex_);
    snapshot = snapshot_;
  }
  snapshot.kernel_drops = tracer_->drop_counts();
  snapshot.injections = tracer_->inject_counts();
  snapshot.intake_queue_drops = queue_.dropped_events();
  snapshot.otlp = otlp_stats();
  snapshot.bpf_programs = read_bpf_program_stats();
  snapshot.bpf_stats_enabled = bpf_stats_enabled();
  if (pods_) {
    const auto& c = pods_->counters();
    snapshot.k8s = K8sSnapshot{pods_->pod_count(),    c.connected.load(), c.lists.load(),
                               c.watch_events.load(), c.bookmarks.load(), c.relists_gone.load(),
                               c.errors.load(),       c.malformed.load(), c.owner_lookups.load(),
                               c.owner_errors.load()};
  }
  snapshot.sampling_rules = process_sampling_->rules().size();
  snapshot.sampling_rule_processes = process_sampling_->processes_with_own_threshold();
  std::lock_guard lock(reload_mutex_);
  snapshot.tracing = tracing_;
  return snapshot;
}

// An operator's port: not being able to open it is said, and tracing goes on.
void Agent::start_control_port() {
  if (options_.api_listen.empty()) return;
  control::ControlHandlers handlers;
  handlers.ready = [] { return true; };  // the port opens once every probe is attached
  handlers.metrics = [this] { return render_metrics(snapshot(), options_.version); };
  handlers.status_json = [this] {
    std::lock_guard lock(reload_mutex_);
    std::string adaptive;
    {
      std::lock_guard snapshot_lock(snapshot_mutex_);
      adaptive = adaptive_status_json(snapshot_.pipeline.adaptive);
    }
    return render_tracing_status(tracing_, rules_json(*process_sampling_), adaptive);
  };
  handlers.reload = [this](std::string* message) { return reload(message); };
  handlers.enable_rule = [this](const std::string& body, std::string* answer) {
    return enable_rule(*process_sampling_, body, answer);
  };
  handlers.disable_rule = [this](const std::string& body, std::string* answer) {
    return disable_rule(*process_sampling_, body, answer);
  };
  if (!options_.outputs.jsonl_path.empty()) {
    web_view_ = std::make_unique<view::WebView>(
        std::vector<std::string>{options_.outputs.jsonl_path}, view::TraceFilter{});
    handlers.view = [this](const std::string& path,
                           const std::map<std::string, std::string>& params) {
      view::WebReply reply = web_view_->get(path, params);
      return control::ControlHandlers::Page{reply.status, std::move(reply.content_type),
                                            std::move(reply.body)};
    };
  }
  std::string error;
  std::string token;
  if (!options_.api_token_file.empty()) {
    auto read = control::read_token_file(options_.api_token_file, &error);
    if (!read) {
      // Open without the token would be open to anyone on the host: stay closed instead.
      spdlog::warn("{}; the agent runs without the control API", error);
      return;
    }
    token = std::move(*read);
  }
  control_ = control::ControlServer::start(options_.api_listen, std::move(handlers),
                                           std::move(token), &error);
  if (control_) {
    spdlog::info(
        "control API on http://{} (/health, /ready, /metrics, /api/tracing/status, "
        "POST /api/config/reload, /api/tracing/enable, /api/tracing/disable){}{}",
        control_->address(),
        options_.api_token_file.empty() ? "" : ", POST requests need the token",
        web_view_ ? ", the trace viewer at /view/" : "");
  } else {
    spdlog::warn("{}; the agent runs without it", error);
  }
}

// /metrics alone on a port of its own (api.metrics_listen), e.g. open to Prometheus while the
// control API stays on localhost.
void Agent::start_metrics_port() {
  if (options_.metrics_listen.empty()) return;
  control::ControlHandlers handlers;
  handlers.metrics = [this] { return render_metrics(snapshot(), options_.version); };
  std::string error;
  metrics_port_ =
      control::ControlServer::start(options_.metrics_listen, std::move(handlers), "", &error);
  if (metrics_port_) {
    spdlog::info("metrics on http://{}/metrics", metrics_port_->address());
  } else {
    spdlog::warn("{}; the agent runs without its metrics port", error);
  }
}

// The intake loop: ring buffer → queue, until a stop signal or a ring error.
void Agent::run_until_stopped() {
  while (!signals_.stop_requested()) {
    // The kernel wakes us only for large batches; the timeout bounds span latency.
    const int rc = tracer_->poll(kRingPollIntervalMs);
    queue_.push(intake_batch_);
    if (rc < 0) {
      spdlog::error("ring buffer poll failed: {}", rc);
      break;
    }
    if (signals_.take_reload_request()) {
      std::string message;
      reload(&message);
    }
  }
  spdlog::info("stopping ({}): draining events and flushing output",
               signals_.stop_requested() ? "signal " + std::to_string(signals_.stop_signal())
                                         : std::string("ring buffer error"));
}

void Agent::drain_and_stop() {
  control_.reset();  // before what its handlers read
  if (pods_) pods_->set_listener(nullptr);  // it calls into the agent
  // What the ring holds now (bounded: busy producers must not delay the stop).
  for (int round = 0; round < 64 && tracer_->poll(0) >= SocketTracer::kMaxEventsPerPoll; ++round) {
    queue_.push(intake_batch_);
  }
  queue_.push(intake_batch_);
  queue_.close();
  pipeline_thread_.join();
  pipeline_->finish();  // traces held for tail sampling are decided before the export flush

  const DropCounts kernel_drops = tracer_->drop_counts();
  log_injection_counters(tracer_->inject_counts());
  if (recorder_) {
    spdlog::info("recorded {} events to {}{}", recorder_->events_written(),
                 options_.record_events_path, recorder_->failed() ? " (then a write failed)" : "");
  }
  if (go_tracer_) log_go_probe_counters(*go_tracer_);
  if (openssl_tracer_) log_openssl_probe_counters(*openssl_tracer_);
  if (rdkafka_tracer_) log_rdkafka_probe_counters(*rdkafka_tracer_);
  // Detach every probe before the slow part.
  go_tracer_.reset();
  java_agent_.reset();
  openssl_tracer_.reset();
  rdkafka_tracer_.reset();
  injector_.reset();
  tracer_.reset();
  const bool flushed = exporter_->shutdown(std::chrono::seconds(5));
  log_counters(pipeline_->stats(), exporter_->stats(), kernel_drops, queue_.dropped_events());
  log_otlp_counters(otlp_stats());
  spdlog::info("stopped{}", flushed ? "" : " (export flush deadline passed; see counters)");
}

}  // namespace

int run_agent(const AgentOptions& options) {
  // First: every thread started from here on inherits the signal mask it sets.
  const std::unique_ptr<SignalWatcher> signals = SignalWatcher::start();
  std::string error;
  if (!prepare_host(&error)) {
    spdlog::error("{}", error);
    return kExitSetupFailed;
  }
  if (options.check_capabilities) {
    const std::string missing = missing_capabilities(
        required_capabilities(options.inject_traceparent), effective_capabilities());
    if (!missing.empty()) {
      spdlog::error(
          "{}. Start ztrace with them (the Helm chart's securityContext names them all), or "
          "with --no-capability-check to try without",
          missing);
      return kExitSetupFailed;
    }
  }
  // Pods are known before the running processes are selected, when the API server answers
  // soon; else their processes are selected as the metadata arrives.
  AgentOptions effective = options;
  std::unique_ptr<k8s::PodMetadata> pods;
  if (options.k8s.enabled) {
    std::map<std::string, std::string> env;
    for (const char* name : {"KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}) {
      if (const char* value = std::getenv(name)) env[name] = value;
    }
    auto api = k8s::load_api_config(env, options.k8s.kubeconfig, &error);
    if (!api) {
      spdlog::error("Kubernetes: {}", error);
      return kExitSetupFailed;
    }
    pods = std::make_unique<k8s::PodMetadata>(options.k8s, std::move(*api));
    pods->start();
    if (!pods->wait_synced(std::chrono::seconds(5))) {
      spdlog::warn(
          "k8s: no pod list from the API server yet: tracing starts without pod metadata, "
          "which fills in when the API server answers");
    }
    if (options.k8s.select_pods) {
      effective.selection.pod_selected = [p = pods.get()](pid_t pid) {
        return p->pod_selected(pid);
      };
    }
  }
  Agent agent(effective, *signals, pods.get());
  if (const int rc = agent.set_up_outputs(); rc != 0) return rc;
  if (const int rc = agent.attach_probes(); rc != 0) return rc;
  agent.select_processes();
  agent.start_pipeline();
  agent.start_control_port();
  agent.start_metrics_port();
  agent.run_until_stopped();
  agent.drain_and_stop();
  if (pods) {
    pods->stop();
    const auto& c = pods->counters();
    spdlog::info(
        "k8s: {} pods known; {} lists, {} watch events, {} bookmarks, {} re-lists after 410, {} "
        "failed requests, {} malformed objects, {} owner lookups ({} failed)",
        pods->pod_count(), c.lists.load(), c.watch_events.load(), c.bookmarks.load(),
        c.relists_gone.load(), c.errors.load(), c.malformed.load(), c.owner_lookups.load(),
        c.owner_errors.load());
  }
  return 0;
}

}  // namespace ztrace::agent
