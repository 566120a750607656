#pragma once

// Owns the socket_trace BPF object: loads it with the run's settings, attaches every program,
// and gives typed access to its maps. Destroying it detaches everything (nothing is pinned).

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bpf/socket_trace.h"
#include "userspace/common/kernel_counters.h"

struct socket_trace_bpf;
struct ring_buffer;
struct bpf_link;

namespace ztrace::agent {

struct TracerOptions {
  pid_t agent_pid = 0;
  bool trace_all_processes = true;
  std::vector<uint16_t> ports;         // empty: every TCP port
  uint32_t max_capture_bytes = 16384;  // per syscall, rounded up to whole pieces
  uint32_t ring_buffer_bytes = 4u << 20;
  uint32_t max_tracked_fds = 65536;
  bool inject_traceparent = false;  // queue headers for the HeaderInjector
};

// Maps the header injector shares with the socket tracer.
struct SharedMapFds {
  int pending_injections = -1;
  int pending_h2_injections = -1;
  int inject_counters = -1;
  int traced_ports = -1;
  int injectable_sockets = -1;
  int events = -1;  // the ring buffer (the Go probes emit into it too)
  int conns = -1;   // the fd table (the Go probes read what a socket is)
  // Linking by goroutine (bpf/goroutine_maps.bpf.h), shared with the Go probes.
  int go_processes = -1;
  int goroutine_requests = -1;
  int goroutine_client_parents = -1;
  int goroutine_h2_readers = -1;
  int h2_stream_parents = -1;
  int process_sampling_thresholds = -1;  // per-process head sampling, shared with the Go probes
  // The OpenSSL probes: selection, and the socket I/O of threads that call into OpenSSL.
  int traced_pids = -1;
  int tls_threads = -1;
  int ssl_fds = -1;
  // Linking by thread (bpf/thread_linking.bpf.h), shared with the Java agent's hand-off.
  int thread_requests = -1;
  int thread_messages = -1;  // the messages librdkafka consumers' threads process
  int multiplexing_threads = -1;
  int thread_linkable_processes = -1;
};

class SocketTracer {
 public:
  // Raw event bytes, valid only during the call.
  using EventHandler = std::function<void(std::span<const uint8_t>)>;

  static std::unique_ptr<SocketTracer> open(const TracerOptions& options, EventHandler handler,
                                            std::string* error);
  ~SocketTracer();
  SocketTracer(const SocketTracer&) = delete;
  SocketTracer& operator=(const SocketTracer&) = delete;

  // Waits up to timeout_ms for events and hands each to the handler, at most
  // kMaxEventsPerPoll per call (producers faster than us must not keep the caller here
  // forever: it hands batches on and checks for shutdown between calls); when that many were
  // waiting, the next call does not wait. Returns the events handled, <0 on error.
  int poll(int timeout_ms);
  static constexpr int kMaxEventsPerPoll = 8192;

  bool trace_process(pid_t pid);
  void untrace_process(pid_t pid);
  // Whether a process's threads map to the requests they serve (false for Go, whose
  // goroutines migrate between threads): in-kernel linking by thread happens only for
  // processes set to true here.
  void set_thread_linking(pid_t pid, bool threads_map_to_requests);
  // The fd is a client connection opened before the agent: its requests may get traceparent.
  void hint_client_fd(pid_t pid, int32_t fd);
  // Forgets what the kernel cached about these fds of a process (exec closes CLOEXEC fds
  // silently). Other stale entries (non-sockets) are harmless and age out of the LRU map.
  void forget_fds(pid_t pid, std::span<const int32_t> fds);

  // Mode "off": no data syscall is followed. On resuming, the connections the kernel knew
  // are forgotten: their bytes in between were not seen, so they rejoin as new connections
  // (never injected into), not as streams with a silent hole.
  void set_capture_paused(bool paused);
  // Head sampling of the traces the kernel starts (sampling::threshold_for_ratio).
  void set_sampling_threshold(uint64_t threshold);
  // Whether some processes have their own threshold: only then does a new trace look it up.
  void set_process_thresholds_in_use(bool in_use);
  // The threshold of the traces one process starts (nullopt: the settings' threshold again).
  void set_process_sampling_threshold(pid_t pid, std::optional<uint64_t> threshold);

  DropCounts drop_counts() const;
  InjectOutcomeCounts inject_counts() const;
  SharedMapFds shared_map_fds() const;
  size_t attached_programs() const { return links_.size(); }

 private:
  SocketTracer() = default;
  static int on_ring_event(void* ctx, void* data, size_t size);

  socket_trace_bpf* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  std::vector<bpf_link*> links_;
  EventHandler handler_;
  int events_this_poll_ = 0;
  bool more_waiting_ = false;  // the last poll stopped at kMaxEventsPerPoll
};

}  // namespace ztrace::agent
