#include "userspace/agent/agent.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include "probes/go/go_tracer.h"
#include "userspace/agent/event_queue.h"
#include "userspace/agent/header_injector.h"
#include "userspace/agent/host_setup.h"
#include "userspace/agent/signals.h"
#include "userspace/agent/socket_tracer.h"
#include "userspace/common/counters.h"
#include "userspace/conntrack/protocols.h"
#include "userspace/export/batch_span_processor.h"
#include "userspace/export/console_exporter.h"
#include "userspace/export/export_pipeline.h"
#include "userspace/export/jsonl_exporter.h"
#include "userspace/export/otlp/otlp_exporter.h"
#include "userspace/pipeline/event_pipeline.h"
#include "userspace/pipeline/event_recording.h"
#include "userspace/process/process_info.h"
#include "userspace/process/process_table.h"
#include "userspace/spans/clock.h"
#include "userspace/spans/semconv.h"

namespace ztrace::agent {
namespace {

// Also how long a stop, reload or counter request may wait to be noticed.
constexpr int kRingPollIntervalMs = 20;

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

std::string exe_path_of(uint32_t pid) {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  return ec ? "" : path.string();
}

bool has_attribute(const spans::Resource& resource, std::string_view key) {
  for (const auto& attribute : resource.attributes) {
    if (attribute.key == key) return true;
  }
  return false;
}

bool is_go(const spans::Resource& resource) {
  for (const auto& attribute : resource.attributes) {
    if (attribute.key == semconv::process::kProcessRuntimeName) {
      const auto* name = std::get_if<std::string>(&attribute.value);
      return name && *name == "go";
    }
  }
  return false;
}

// Goroutines migrate between threads: in Go processes the kernel must not link by thread.
// Only the executable is looked at (its ELF notes), not the whole resource.
// Returns the Go processes (the selected ones get the Go probes).
std::vector<pid_t> mark_running_go_processes(SocketTracer& tracer) {
  std::vector<pid_t> go_pids;
  size_t marked = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    if (pid == getpid()) continue;
    const int exe = open((entry.path() / "exe").c_str(), O_RDONLY | O_CLOEXEC);
    if (exe < 0) continue;  // kernel thread or gone: nothing to link
    const bool go = process::is_go_elf(exe);
    close(exe);
    tracer.set_thread_linking(pid, !go);
    marked += go;
    if (go) go_pids.push_back(pid);
  }
  spdlog::debug("{} running Go processes excluded from thread linking", marked);
  return go_pids;
}

// Runs on the intake thread as soon as an exec event arrives, to read the new image's /proc
// entries before a short-lived process is gone. When it is already gone (or a zombie), the
// resource is built from what the event carried. The pipeline finds either in the table.
void remember_new_image(const zt_proc_event& exec, uint64_t ns_per_clock_tick,
                        const process::SelectionRules& selection, process::ProcessTable& processes,
                        SocketTracer& tracer, probes::go::GoTracer* go_tracer) {
  if (!selection.selects_all_processes() &&
      !selection.matches_process(exec.pid, exe_path_of(exec.pid))) {
    return;
  }
  const uint64_t start_ticks = exec.start_boottime_ns / ns_per_clock_tick;
  processes.forget(exec.pid);
  auto resource = processes.get(exec.pid, start_ticks);
  tracer.set_thread_linking(exec.pid, !is_go(*resource));
  if (go_tracer && is_go(*resource)) go_tracer->attach_async(exec.pid);
  if (has_attribute(*resource, semconv::process::kProcessExecutablePath)) return;
  const std::string_view filename(exec.filename,
                                  std::min<size_t>(exec.filename_bytes, sizeof(exec.filename)));
  const std::string_view argv(exec.argv, std::min<size_t>(exec.argv_bytes, sizeof(exec.argv)));
  processes.put(
      exec.pid, start_ticks,
      process::resource_from_exec(exec.pid, filename, argv, processes.resource_options()));
  spdlog::debug("pid {} exited before /proc could be read: resource from its exec event", exec.pid);
}

// Applies the selection rules to the processes running now: marks the Go ones, traces the
// selected ones in the kernel (all are, without rules) and gives the selected Go ones their
// probes (`attach_go_now`: before the agent says it is ready; else in the background).
// Returns the selected processes.
std::vector<pid_t> select_running_processes(const process::SelectionRules& selection,
                                            SocketTracer& tracer, probes::go::GoTracer* go_tracer,
                                            bool attach_go_now) {
  const std::vector<pid_t> running_go = mark_running_go_processes(tracer);
  std::vector<pid_t> running = process::matching_pids(selection, getpid());
  std::unordered_set<pid_t> chosen;
  if (!selection.selects_all_processes()) {
    running = process::with_descendants(running);
    std::erase(running, getpid());
    for (pid_t pid : running) tracer.trace_process(pid);
    chosen.insert(running.begin(), running.end());
  }
  if (go_tracer) {
    for (pid_t pid : running_go) {
      if (!selection.selects_all_processes() && !chosen.count(pid)) continue;
      if (attach_go_now) {
        go_tracer->attach(pid);
      } else {
        go_tracer->attach_async(pid);
      }
    }
  }
  return running;
}

// SIGHUP. The configuration is the command line and the environment, which a running process
// cannot re-read (a configuration file will come with its own issue); what can change is the
// set of running processes the selection rules match (one whose exec event was lost, say).
void reload(const process::SelectionRules& selection, SocketTracer& tracer,
            probes::go::GoTracer* go_tracer) {
  const std::vector<pid_t> selected = select_running_processes(selection, tracer, go_tracer, false);
  spdlog::info(
      "reload requested (SIGHUP): selection rules re-applied to the running processes ({} "
      "selected); flags and environment are read at start only",
      selection.selects_all_processes() ? std::string("all") : std::to_string(selected.size()));
}

// Console and JSON lines each behind their own batch processor; OTLP batches itself. OTLP
// only reads spans: it comes first, so that the last processor takes each span without a copy.
std::vector<std::unique_ptr<exporter::SpanProcessor>> make_exporters(
    const AgentOptions& options, std::string* error,
    std::shared_ptr<const otlp::OtlpStats>* otlp_stats) {
  const exporter::BatchOptions batch_options{.max_queue_spans = options.export_queue_spans};
  std::vector<std::unique_ptr<exporter::SpanProcessor>> exporters;
  if (options.console_output) {
    exporters.push_back(std::make_unique<exporter::BatchSpanProcessor>(
        std::make_unique<exporter::ConsoleExporter>(), batch_options));
  }
  if (!options.jsonl_path.empty()) {
    auto jsonl = exporter::JsonlExporter::open(options.jsonl_path, error);
    if (!jsonl) return {};
    exporters.push_back(
        std::make_unique<exporter::BatchSpanProcessor>(std::move(jsonl), batch_options));
  }
  if (options.otlp.enabled) {
    auto otlp_exporter = otlp::OtlpExporter::create(options.otlp, error);
    if (!otlp_exporter) return {};
    spdlog::info("OTLP export: {}", otlp_exporter->describe());
    *otlp_stats = otlp_exporter->stats();
    exporters.insert(exporters.begin(), std::move(otlp_exporter));
  }
  return exporters;
}

void log_otlp_counters(const otlp::OtlpStats* s) {
  if (s == nullptr) return;
  const auto& latency = s->export_latency;
  spdlog::info(
      "otlp: spans queued={} exported={} rejected={} dropped queue_full={} queue_bytes={} "
      "retries_exhausted={} export_error={} shutdown={}; requests sent={} failed={} retries={}; "
      "bytes sent={} uncompressed={}; latency avg_us={} max_us={}; queue spans={} bytes={}",
      s->spans_queued.load(), s->spans_exported.load(), s->spans_rejected.load(),
      s->spans_dropped_queue_full.load(), s->spans_dropped_queue_bytes.load(),
      s->spans_dropped_retries_exhausted.load(), s->spans_dropped_export_error.load(),
      s->spans_dropped_shutdown.load(), s->requests_sent.load(), s->requests_failed.load(),
      s->retries.load(), s->bytes_sent.load(), s->bytes_uncompressed.load(),
      latency.count() == 0 ? 0 : latency.sum_us() / latency.count(), latency.max_us(),
      s->queue_spans.load(), s->queue_bytes.load());
}

void log_link_outcomes(const pipeline::EventPipelineStats& p) {
  const auto& o = p.link_outcomes;
  spdlog::info(
      "links: server spans new_trace={} from_header={} bad_header={}; client spans "
      "by_thread={} by_goroutine={} by_forwarded_line={} root={} ambiguous_event_loop={} "
      "unlinkable_runtime={} stale={}; "
      "no_context={} unsampled={}",
      o[ZT_CTX_SERVER_NEW], o[ZT_CTX_SERVER_HEADER], o[ZT_CTX_SERVER_BAD_HEADER],
      o[ZT_CTX_CLIENT_THREAD], o[ZT_CTX_CLIENT_GOROUTINE], o[ZT_CTX_CLIENT_LINE_MATCH],
      o[ZT_CTX_CLIENT_ROOT], o[ZT_CTX_CLIENT_AMBIGUOUS], o[ZT_CTX_CLIENT_UNTRUSTED],
      o[ZT_CTX_CLIENT_STALE], o[ZT_CTX_NONE], p.spans.unsampled);
}

// Per output, what became of the spans built: a failing output does not hide what the others
// wrote. OTLP's `accepted` are queued; its own line says what the backend acknowledged.
void log_output_counters(const exporter::ExportStats& e) {
  CounterLine line("outputs:");
  line.add("", {{"handed", e.spans_handed}});
  for (const auto& processor : e.processors) line.add(processor.name, processor);
  spdlog::info("{}", line.text());
}

void log_counters(const pipeline::EventPipelineStats& p, const exporter::ExportStats& e,
                  const DropCounts& kernel_drops, uint64_t queue_drops) {
  CounterLine line("counters:");
  line.add("events", p.events)
      .add("kernel drops", {{"data", kernel_drops[ZT_DROP_DATA_RINGBUF_FULL]},
                            {"control", kernel_drops[ZT_DROP_CONTROL_RINGBUF_FULL]},
                            {"inflight", kernel_drops[ZT_DROP_INFLIGHT_FULL]},
                            {"conn_table", kernel_drops[ZT_DROP_CONN_UPDATE_FAILED]}})
      .add("intake queue", {{"drops", queue_drops}})
      .add("connections", p.connections)
      .add("spans", p.spans);
  conntrack::Protocols::for_each(
      [&]<typename Protocol>() { line.add(Protocol::kName, p.connections.of<Protocol>()); });
  spdlog::info("{}", line.text());
  log_link_outcomes(p);
  log_output_counters(e);
}

}  // namespace

int run_agent(const AgentOptions& options) {
  // First: every thread started from here on inherits the signal mask it sets.
  const std::unique_ptr<SignalWatcher> signals = SignalWatcher::start();
  std::string error;
  if (!prepare_host(&error)) {
    spdlog::error("{}", error);
    return 2;
  }
  std::shared_ptr<const otlp::OtlpStats> otlp_stats;
  auto exporters = make_exporters(options, &error, &otlp_stats);
  if (!error.empty()) {
    spdlog::error("cannot set up output: {}", error);
    return 2;
  }
  std::unique_ptr<pipeline::EventRecordWriter> recorder;
  if (!options.record_events_path.empty()) {
    recorder = std::make_unique<pipeline::EventRecordWriter>(options.record_events_path, &error);
    if (!error.empty()) {
      spdlog::error("{}", error);
      return 2;
    }
  }
  exporter::ExportPipeline exporter(std::move(exporters));

  spans::KernelClock clock;
  process::ProcessTable processes({.resource = {.host_name = host_name()}});
  EventQueue queue(options.event_queue_bytes);
  EventBatch intake_batch;

  const auto& selection = options.selection;
  TracerOptions tracer_options;
  tracer_options.agent_pid = getpid();
  tracer_options.trace_all_processes = options.selection.selects_all_processes();
  tracer_options.ports = options.selection.ports;
  tracer_options.max_capture_bytes = options.max_capture_bytes;
  tracer_options.ring_buffer_bytes = options.ring_buffer_bytes;
  tracer_options.inject_traceparent = options.inject_traceparent;
  const uint64_t ns_per_clock_tick = 1'000'000'000 / sysconf(_SC_CLK_TCK);
  std::unique_ptr<SocketTracer> tracer;             // set below; events flow only once it polls
  std::unique_ptr<probes::go::GoTracer> go_tracer;  // optional: Go TLS plaintext
  // Processes whose resource the intake resolved: a process first seen here (one that was
  // running before the agent, so no exec event describes it) may exit before the pipeline
  // thread gets to its events; /proc is read now, while it surely exists. Erased at exit.
  std::unordered_set<uint32_t> resolved_on_intake;
  auto on_event = [&](std::span<const uint8_t> event) {
    if (event[0] == ZT_EVENT_PROC_EXEC && event.size() >= offsetof(zt_proc_event, argv)) {
      zt_proc_event exec{};
      std::memcpy(&exec, event.data(), std::min(event.size(), sizeof(exec)));
      remember_new_image(exec, ns_per_clock_tick, selection, processes, *tracer, go_tracer.get());
      resolved_on_intake.insert(exec.pid);
    } else if (event[0] == ZT_EVENT_PROC_EXIT && event.size() >= offsetof(zt_proc_event, ppid)) {
      uint32_t pid;
      std::memcpy(&pid, event.data() + offsetof(zt_proc_event, pid), sizeof(pid));
      resolved_on_intake.erase(pid);
    } else if (event[0] == ZT_EVENT_DATA && event.size() >= offsetof(zt_data_event, data)) {
      uint32_t pid;
      std::memcpy(&pid, event.data() + offsetof(zt_data_event, pid), sizeof(pid));
      if (resolved_on_intake.insert(pid).second) processes.get(static_cast<pid_t>(pid));
    }
    intake_batch.append(event);
  };
  tracer = SocketTracer::open(tracer_options, on_event, &error);
  if (!tracer) {
    spdlog::error("{}", error);
    return 3;
  }

  // The Go probes are an addition: without them Go processes are traced at the syscall layer.
  if (options.go_probes) {
    const SharedMapFds fds = tracer->shared_map_fds();
    go_tracer = probes::go::GoTracer::open(
        {fds.events, fds.conns, fds.go_processes, fds.goroutine_requests,
         fds.goroutine_client_parents, fds.goroutine_h2_readers, fds.h2_stream_parents},
        &error);
    if (!go_tracer) spdlog::warn("Go probes off: {}", error);
  }

  // Injection is an addition to tracing: when it cannot be set up, trace without it.
  std::unique_ptr<HeaderInjector> injector;
  if (options.inject_traceparent) {
    injector = HeaderInjector::open(*tracer, !options.selection.ports.empty(), &error);
    if (injector) {
      spdlog::info("traceparent injection on (sockops on {})", injector->cgroup_path());
    } else {
      spdlog::warn("traceparent injection off: {}", error);
    }
  }

  const std::unordered_set<pid_t> explicit_pids(selection.pids.begin(), selection.pids.end());
  // Running processes are checked once; until then no request of theirs is linked by thread.
  const std::vector<pid_t> running =
      select_running_processes(selection, *tracer, go_tracer.get(), /*attach_go_now=*/true);
  if (!selection.selects_all_processes()) {
    spdlog::info("selected {} running processes", running.size());
  }
  if (injector) {
    size_t adopted = 0;
    for (pid_t pid : running) adopted += injector->adopt_client_connections(pid, selection.ports);
    spdlog::info(
        "{} client connections opened before the agent: traced, never injected (where their "
        "messages start is unknown)",
        adopted);
  }

  // Hooks run on the pipeline thread; map updates are syscalls and thread-safe.
  pipeline::ProcessHooks hooks;
  hooks.on_exec = [&](uint32_t pid, const std::vector<int32_t>& socket_fds) {
    tracer->forget_fds(pid, socket_fds);
    if (selection.selects_all_processes()) return;
    if (selection.matches_process(pid, exe_path_of(pid))) {
      tracer->trace_process(pid);
    } else if (!explicit_pids.count(pid)) {
      tracer->untrace_process(pid);
    }
  };
  hooks.on_exit = [&](uint32_t pid, const std::vector<int32_t>& socket_fds) {
    tracer->forget_fds(pid, socket_fds);
    tracer->set_thread_linking(pid, false);
    if (go_tracer) go_tracer->forget(pid);
  };
  // Processes the startup scan missed are first resolved here.
  hooks.on_resource = [&](uint32_t pid, const spans::Resource& resource) {
    tracer->set_thread_linking(pid, !is_go(resource));
  };

  pipeline::EventPipelineOptions pipeline_options;
  pipeline_options.connections.max_connections = options.max_connections;
  pipeline_options.spans.capture_url_query = options.capture_url_query;
  pipeline::EventPipeline pipeline(pipeline_options, clock, processes, exporter, hooks);
  auto handle_event = [&](std::span<const uint8_t> event) {
    if (recorder) recorder->write(event);
    pipeline.handle(event);
  };

  std::thread pipeline_thread([&] {
    std::vector<EventBatch> batches;
    auto last_tick = std::chrono::steady_clock::now();
    auto last_stats = last_tick;
    bool open = true;
    while (open) {
      batches.clear();
      open = queue.pop_all(batches, std::chrono::milliseconds(100));
      for (const auto& batch : batches) batch.for_each(handle_event);
      auto now = std::chrono::steady_clock::now();
      if (now - last_tick >= std::chrono::seconds(1)) {
        last_tick = now;
        pipeline.tick(spans::KernelClock::monotonic_now_ns());
      }
      const bool stats_due =
          options.stats_interval.count() > 0 && now - last_stats >= options.stats_interval;
      const bool dump_requested = signals->take_counter_dump_request();  // SIGUSR1
      if (stats_due || dump_requested) {
        last_stats = now;
        clock.refresh();
        log_counters(pipeline.stats(), exporter.stats(), tracer->drop_counts(),
                     queue.dropped_events());
        log_otlp_counters(otlp_stats.get());
      }
    }
  });

  spdlog::info("ztrace ready: {} probes attached, tracing {}{}", tracer->attached_programs(),
               selection.selects_all_processes() ? "all processes" : "selected processes",
               selection.ports.empty() ? "" : " on selected ports");

  while (!signals->stop_requested()) {
    // The kernel wakes us only for large batches; the timeout bounds span latency.
    int rc = tracer->poll(kRingPollIntervalMs);
    queue.push(intake_batch);
    if (rc < 0) {
      spdlog::error("ring buffer poll failed: {}", rc);
      break;
    }
    if (signals->take_reload_request()) reload(selection, *tracer, go_tracer.get());
  }

  spdlog::info("stopping ({}): draining events and flushing output",
               signals->stop_requested() ? "signal " + std::to_string(signals->stop_signal())
                                         : std::string("ring buffer error"));
  // Drain what the ring holds now (bounded: busy producers must not delay the stop).
  for (int round = 0; round < 64 && tracer->poll(0) >= SocketTracer::kMaxEventsPerPoll; ++round) {
    queue.push(intake_batch);
  }
  queue.push(intake_batch);
  queue.close();
  pipeline_thread.join();
  const DropCounts kernel_drops = tracer->drop_counts();
  const InjectOutcomeCounts injections = tracer->inject_counts();
  spdlog::info(
      "injection: done={} skipped_mismatch={} failed={} app_had_header={} unconsumed={} "
      "h2_too_many={} h2_no_end_headers={} h2_too_big={} h2_joined_midway={} "
      "h2_lost_framing={} h1_in_message={} h1_unknown_boundary={} h1_joined_midway={} "
      "h1_head_split={} h1_head_too_long={} h1_chunked={} h1_bad_length={} "
      "h1_unclear_head={} h1_upgrade={} h1_not_http1={} h1_pipelined={} h1_partial_head={} "
      "h1_unseen_bytes={} h1_concurrent_writes={}",
      injections[ZT_INJECT_DONE], injections[ZT_INJECT_SKIPPED_MISMATCH],
      injections[ZT_INJECT_FAILED], injections[ZT_INJECT_HAD_HEADER],
      injections[ZT_INJECT_UNCONSUMED], injections[ZT_INJECT_H2_TOO_MANY],
      injections[ZT_INJECT_H2_NO_END_HEADERS], injections[ZT_INJECT_H2_TOO_BIG],
      injections[ZT_INJECT_H2_JOINED_MIDWAY], injections[ZT_INJECT_H2_LOST_FRAMING],
      injections[ZT_INJECT_H1_IN_MESSAGE], injections[ZT_INJECT_H1_UNKNOWN_BOUNDARY],
      injections[ZT_INJECT_H1_JOINED_MIDWAY], injections[ZT_INJECT_H1_HEAD_SPLIT],
      injections[ZT_INJECT_H1_HEAD_TOO_LONG], injections[ZT_INJECT_H1_CHUNKED],
      injections[ZT_INJECT_H1_BAD_LENGTH], injections[ZT_INJECT_H1_UNCLEAR_HEAD],
      injections[ZT_INJECT_H1_UPGRADE], injections[ZT_INJECT_H1_NOT_HTTP1],
      injections[ZT_INJECT_H1_PIPELINED], injections[ZT_INJECT_H1_PARTIAL_HEAD],
      injections[ZT_INJECT_H1_UNSEEN_BYTES], injections[ZT_INJECT_H1_CONCURRENT_WRITES]);
  if (recorder) {
    spdlog::info("recorded {} events to {}{}", recorder->events_written(),
                 options.record_events_path, recorder->failed() ? " (then a write failed)" : "");
  }
  if (go_tracer) {
    const auto go = go_tracer->counters();
    spdlog::info(
        "go probes: processes={} uprobes={} tls_pieces={} ring_full={} not_a_socket={} "
        "read_unmatched={} calls_in_request={} calls_outside_request={} h2_server_streams={} "
        "h2_streams_without_connection={}",
        go_tracer->probed_processes(), go_tracer->attached_uprobes(), go[ZT_GO_TLS_EVENTS],
        go[ZT_GO_RINGBUF_FULL], go[ZT_GO_NOT_A_SOCKET], go[ZT_GO_READ_UNMATCHED],
        go[ZT_GO_CALL_IN_REQUEST], go[ZT_GO_CALL_OUTSIDE_REQUEST], go[ZT_GO_H2_STREAMS],
        go[ZT_GO_H2_NO_CONNECTION]);
  }
  go_tracer.reset();
  injector.reset();
  tracer.reset();  // detach every probe before the slow part
  bool flushed = exporter.shutdown(std::chrono::seconds(5));
  log_counters(pipeline.stats(), exporter.stats(), kernel_drops, queue.dropped_events());
  log_otlp_counters(otlp_stats.get());
  spdlog::info("stopped{}", flushed ? "" : " (export flush deadline passed; see counters)");
  return 0;
}

}  // namespace ztrace::agent
