#pragma once

// Attaches bpf/openssl_probes.bpf.c to OpenSSL: every libssl.so a process maps, and every
// executable that links OpenSSL statically with its symbols (node). Uprobes go on the file
// (device + inode) once, with pid -1: every process mapping it, now or later (exec, dlopen),
// hits them, and the BPF side keeps only selected processes. An image that cannot be probed
// (no symbols, a layout the site finder does not know) is logged once with the reason; its
// processes stay traced at the syscall layer.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "userspace/bpf_support/probed_images.h"
#include "userspace/bpf_support/uprobe_links.h"
#include "userspace/common/kernel_counters.h"

struct openssl_probes_bpf;
struct bpf_link;
struct bpf_program;

namespace ztrace::probes::openssl {

// Fds of the socket tracer's maps the probes share.
struct SharedMaps {
  int events;
  int conns;
  int traced_pids;
  int tls_threads;
  int ssl_fds;
  // Declared by the shared selection header; reused so that no second copy is created.
  int traced_ports;
  int pending_injections;
  int pending_h2_injections;
  int injectable_sockets;
  int inject_counters;
  // Linking by thread (the Java agent's hand-off).
  int thread_requests;
  int thread_messages;
  int multiplexing_threads;
  int thread_linkable_processes;
  int process_sampling_thresholds;  // new traces of on-demand rules' processes
};

struct Settings {
  pid_t agent_pid = 0;
  bool trace_all_processes = true;
};

class OpenSslTracer {
 public:
  static std::unique_ptr<OpenSslTracer> open(const SharedMaps& shared, const Settings& settings,
                                             std::string* error);
  ~OpenSslTracer();
  OpenSslTracer(const OpenSslTracer&) = delete;
  OpenSslTracer& operator=(const OpenSslTracer&) = delete;

  // The libssl files in the host's library directories: processes that map them later are
  // probed without a scan (a dlopen after exec, as Python's ssl module does, included).
  void attach_host_libraries();
  // The OpenSSL `pid` maps now: its libssl files (in its own mount namespace) and its
  // executable when that has the symbols.
  void scan(pid_t pid);
  // Queues `pid` for the worker (exec events: never block the ring reader); it is scanned
  // again once the dynamic loader has mapped its libraries.
  void scan_async(pid_t pid);

  // The sys_enter_ioctl program that takes the plaintext ztrace's Java agent hands over
  // (bpf/java_tls.h), attached on the first JVM: "" once attached, else why not.
  std::string attach_java_handoff();

  void set_capture_paused(bool paused);
  SslCounters counters() const;
  size_t probed_images() const;
  size_t attached_uprobes() const;

  using Site = bpf_support::UprobeSite;

 private:
  OpenSslTracer() = default;
  enum class Kind { kLibrary, kExecutable };
  static openssl_probes_bpf* load(const SharedMaps& shared, const Settings& settings,
                                  bool uprobe_multi, std::string* error);
  // `path` names an open file; `name` is what the log says.
  void probe_file(const std::string& path, const std::string& name, Kind kind);
  std::string attach_image(const std::string& path, bpf_support::UprobeLinks* links);
  void worker();

  openssl_probes_bpf* skel_ = nullptr;
  bool uprobe_multi_ = false;
  bpf_support::ProbedImages images_;
  mutable std::mutex mu_;  // queue_, java_handoff_
  using Clock = std::chrono::steady_clock;
  std::deque<std::pair<Clock::time_point, pid_t>> queue_;  // by due time
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread worker_;
  bpf_link* java_handoff_ = nullptr;
};

}  // namespace ztrace::probes::openssl
