#pragma once

// What the agent does about processes: which ones the kernel traces (the selection rules, at
// start, on SIGHUP and at each exec), which are Go (no linking by thread, Go probes), and
// reading a new process's /proc entries on the intake thread while it surely exists.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <span>
#include <unordered_set>
#include <vector>

#include "bpf/socket_trace.h"
#include "userspace/pipeline/event_pipeline.h"
#include "userspace/process/process_table.h"
#include "userspace/process/selection.h"

namespace ztrace::probes::go {
class GoTracer;
}
namespace ztrace::probes::openssl {
class OpenSslTracer;
}
namespace ztrace::probes::java {
class JavaAgentLoader;
}

namespace ztrace::agent {

class SocketTracer;

class ProcessTracking {
 public:
  // `go_tracer` and `openssl_tracer` may be null (probes off). All must outlive this.
  ProcessTracking(const process::SelectionRules& selection, process::ProcessTable& processes,
                  SocketTracer& tracer, probes::go::GoTracer* go_tracer,
                  probes::openssl::OpenSslTracer* openssl_tracer);

  // Applies the selection to the processes running now: marks the Go ones, traces the
  // selected ones in the kernel (all are, without rules) and gives the selected Go ones their
  // probes (`attach_go_now`: before the agent says it is ready; else in the background).
  // Returns the selected processes.
  std::vector<pid_t> select_running(bool attach_go_now);

  // Selected JVMs, running and new, get the Java TLS agent (null: off). Must outlive this.
  void set_java_agent(probes::java::JavaAgentLoader* java_agent) { java_agent_ = java_agent; }

  // SIGHUP: flags and environment are read at start only; what can change is the set of
  // running processes the rules match (one whose exec event was lost, say).
  void reload();

  // A pod entered (`selected`) or left the selection: its processes are traced or no longer
  // (unless a pid or executable rule still selects them). From the Kubernetes watcher thread.
  void apply_pod_selection(const std::vector<pid_t>& pids, bool selected);

  // Every raw event, on the intake thread, before it is queued for the pipeline.
  void on_intake_event(std::span<const uint8_t> event);

  // What the pipeline thread calls at exec, exit and a process's first resource.
  pipeline::ProcessHooks pipeline_hooks();

  // Called with each process the kernel is told to trace (from any of the threads above);
  // set before they start.
  void set_on_traced(std::function<void(pid_t)> on_traced) { on_traced_ = std::move(on_traced); }

 private:
  void trace(pid_t pid);
  std::vector<pid_t> mark_running_go_processes();
  void remember_new_image(const zt_proc_event& exec);

  const process::SelectionRules& selection_;
  process::ProcessTable& processes_;
  SocketTracer& tracer_;
  probes::go::GoTracer* go_tracer_;
  probes::openssl::OpenSslTracer* openssl_tracer_;
  probes::java::JavaAgentLoader* java_agent_ = nullptr;
  const std::unordered_set<pid_t> explicit_pids_;
  const uint64_t ns_per_clock_tick_;
  // Processes whose resource the intake resolved: a process first seen here (one running
  // before the agent, so no exec event describes it) may exit before the pipeline thread gets
  // to its events, so /proc is read at once. Erased at exit. Intake thread only.
  std::unordered_set<uint32_t> resolved_on_intake_;
  uint32_t last_resolved_pid_ = 0;  // the last one looked up there (0: none)
  std::function<void(pid_t)> on_traced_;
};

}  // namespace ztrace::agent
