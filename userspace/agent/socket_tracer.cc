#include "userspace/agent/socket_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "socket_trace.skel.h"
#include "userspace/bpf_support/load_log.h"
#include "userspace/bpf_support/per_cpu_counters.h"

namespace ztrace::agent {
namespace {

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

bool syscall_tracepoint_exists(const std::string& name) {
  for (const char* root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    if (access((std::string(root) + "/events/syscalls/" + name).c_str(), F_OK) == 0) return true;
  }
  return false;
}

uint32_t round_up_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

}  // namespace

std::unique_ptr<SocketTracer> SocketTracer::open(const TracerOptions& options, EventHandler handler,
                                                 std::string* error) {
  std::unique_ptr<SocketTracer> tracer(new SocketTracer());
  tracer->handler_ = std::move(handler);
  socket_trace_bpf* skel = socket_trace_bpf__open();
  if (!skel) {
    *error = "cannot open the BPF object: " + errno_text(errno);
    return nullptr;
  }
  tracer->skel_ = skel;

  auto* rodata = skel->rodata;
  rodata->agent_tgid = options.agent_pid;
  rodata->trace_all_processes = options.trace_all_processes ? 1 : 0;
  rodata->filter_by_port = options.ports.empty() ? 0 : 1;
  uint32_t pieces = (options.max_capture_bytes + ZT_PIECE_BYTES - 1) / ZT_PIECE_BYTES;
  if (pieces < 1) pieces = 1;
  if (pieces > ZT_MAX_PIECES_PER_CALL) pieces = ZT_MAX_PIECES_PER_CALL;
  rodata->max_pieces_per_call = pieces;
  rodata->inject_enabled = options.inject_traceparent ? 1 : 0;
  bpf_map__set_max_entries(skel->maps.events, round_up_pow2(options.ring_buffer_bytes));
  bpf_map__set_max_entries(skel->maps.conns, options.max_tracked_fds);
  // close_range(2) is Linux 5.9+: older kernels have no such tracepoint (nor such closes).
  if (!syscall_tracepoint_exists("sys_enter_close_range")) {
    bpf_program__set_autoload(skel->progs.enter_close_range, false);
  }

  int err = socket_trace_bpf__load(skel);
  if (err) {
    *error = bpf_support::with_verifier_rejection(
        "cannot load the BPF programs (kernel >= 5.11 with BTF and root needed): " +
        errno_text(err));
    return nullptr;
  }
  for (uint16_t port : options.ports) {
    uint8_t one = 1;
    bpf_map__update_elem(skel->maps.traced_ports, &port, sizeof(port), &one, sizeof(one), BPF_ANY);
  }

  // Attach program by program so a failure names the program.
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    if (!bpf_program__autoload(prog)) continue;
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      *error = std::string("cannot attach ") + bpf_program__name(prog) + " (" +
               bpf_program__section_name(prog) + "): " + errno_text(errno);
      return nullptr;
    }
    tracer->links_.push_back(link);
  }

  tracer->ring_ = ring_buffer__new(bpf_map__fd(skel->maps.events), &SocketTracer::on_ring_event,
                                   tracer.get(), nullptr);
  if (!tracer->ring_) {
    *error = "cannot open the ring buffer: " + errno_text(errno);
    return nullptr;
  }
  return tracer;
}

SocketTracer::~SocketTracer() {
  if (ring_) ring_buffer__free(ring_);
  for (bpf_link* link : links_) bpf_link__destroy(link);
  if (skel_) socket_trace_bpf__destroy(skel_);
}

namespace {
// Returned by the ring callback to stop libbpf's consume loop (the sample is consumed).
constexpr int kPollBudgetSpent = -EAGAIN;
}  // namespace

int SocketTracer::on_ring_event(void* ctx, void* data, size_t size) {
  auto* self = static_cast<SocketTracer*>(ctx);
  self->handler_({static_cast<const uint8_t*>(data), size});
  return ++self->events_this_poll_ >= kMaxEventsPerPoll ? kPollBudgetSpent : 0;
}

int SocketTracer::poll(int timeout_ms) {
  events_this_poll_ = 0;
  // The kernel side wakes us only for large batches (BPF_RB_NO_WAKEUP otherwise), so epoll
  // alone would leave small batches unread: wait, then always consume.
  int rc = ring_buffer__poll(ring_, more_waiting_ ? 0 : timeout_ms);
  if (rc < 0 && rc != -EINTR && rc != kPollBudgetSpent) return rc;
  if (events_this_poll_ < kMaxEventsPerPoll) {
    rc = ring_buffer__consume(ring_);
    if (rc < 0 && rc != kPollBudgetSpent) return rc;
  }
  more_waiting_ = events_this_poll_ >= kMaxEventsPerPoll;
  return events_this_poll_;
}

bool SocketTracer::trace_process(pid_t pid) {
  uint32_t key = pid;
  uint8_t one = 1;
  return bpf_map__update_elem(skel_->maps.traced_pids, &key, sizeof(key), &one, sizeof(one),
                              BPF_ANY) == 0;
}

void SocketTracer::untrace_process(pid_t pid) {
  uint32_t key = pid;
  bpf_map__delete_elem(skel_->maps.traced_pids, &key, sizeof(key), 0);
}

void SocketTracer::set_thread_linking(pid_t pid, bool threads_map_to_requests) {
  uint32_t key = pid;
  if (threads_map_to_requests) {
    uint8_t one = 1;
    bpf_map__update_elem(skel_->maps.thread_linkable_processes, &key, sizeof(key), &one,
                         sizeof(one), BPF_ANY);
  } else {
    bpf_map__delete_elem(skel_->maps.thread_linkable_processes, &key, sizeof(key), 0);
  }
}

void SocketTracer::hint_client_fd(pid_t pid, int32_t fd) {
  zt_conn_key key{static_cast<uint32_t>(pid), fd};
  const uint8_t yes = 1;
  bpf_map__update_elem(skel_->maps.client_fd_hints, &key, sizeof(key), &yes, sizeof(yes), BPF_ANY);
}

void SocketTracer::forget_fds(pid_t pid, std::span<const int32_t> fds) {
  for (int32_t fd : fds) {
    zt_conn_key key{static_cast<uint32_t>(pid), fd};
    bpf_map__delete_elem(skel_->maps.conns, &key, sizeof(key), 0);
  }
}

void SocketTracer::set_capture_paused(bool paused) {
  const bool resuming = skel_->bss->capture_paused && !paused;
  if (resuming) {
    const bpf_map* conns = skel_->maps.conns;
    zt_conn_key key{};
    zt_conn_key next{};
    std::vector<zt_conn_key> keys;
    for (const void* previous = nullptr;
         bpf_map__get_next_key(conns, previous, &next, sizeof(next)) == 0; previous = &key) {
      keys.push_back(next);
      key = next;
    }
    for (const auto& stale : keys) bpf_map__delete_elem(conns, &stale, sizeof(stale), 0);
  }
  skel_->bss->capture_paused = paused ? 1 : 0;
}

void SocketTracer::set_sampling_threshold(uint64_t threshold) {
  skel_->bss->sampling_threshold = threshold;
}

void SocketTracer::set_process_thresholds_in_use(bool in_use) {
  skel_->bss->process_thresholds_in_use = in_use ? 1 : 0;
}

void SocketTracer::set_process_sampling_threshold(pid_t pid, std::optional<uint64_t> threshold) {
  const uint32_t key = pid;
  if (threshold) {
    bpf_map__update_elem(skel_->maps.process_sampling_thresholds, &key, sizeof(key), &*threshold,
                         sizeof(*threshold), BPF_ANY);
  } else {
    bpf_map__delete_elem(skel_->maps.process_sampling_thresholds, &key, sizeof(key), 0);
  }
}

DropCounts SocketTracer::drop_counts() const {
  return bpf_support::sum_per_cpu_counters<DropCounts>(skel_->maps.drop_counters);
}

InjectOutcomeCounts SocketTracer::inject_counts() const {
  return bpf_support::sum_per_cpu_counters<InjectOutcomeCounts>(skel_->maps.inject_counters);
}

SharedMapFds SocketTracer::shared_map_fds() const {
  return {bpf_map__fd(skel_->maps.pending_injections),
          bpf_map__fd(skel_->maps.pending_h2_injections),
          bpf_map__fd(skel_->maps.inject_counters),
          bpf_map__fd(skel_->maps.traced_ports),
          bpf_map__fd(skel_->maps.injectable_sockets),
          bpf_map__fd(skel_->maps.events),
          bpf_map__fd(skel_->maps.conns),
          bpf_map__fd(skel_->maps.go_processes),
          bpf_map__fd(skel_->maps.goroutine_requests),
          bpf_map__fd(skel_->maps.goroutine_client_parents),
          bpf_map__fd(skel_->maps.goroutine_h2_readers),
          bpf_map__fd(skel_->maps.h2_stream_parents),
          bpf_map__fd(skel_->maps.process_sampling_thresholds),
          bpf_map__fd(skel_->maps.traced_pids),
          bpf_map__fd(skel_->maps.tls_threads),
          bpf_map__fd(skel_->maps.ssl_fds),
          bpf_map__fd(skel_->maps.thread_requests),
          bpf_map__fd(skel_->maps.thread_messages),
          bpf_map__fd(skel_->maps.multiplexing_threads),
          bpf_map__fd(skel_->maps.thread_linkable_processes)};
}

}  // namespace ztrace::agent
