#pragma once

// Attaches bpf/go_probes.bpf.c to Go processes. Per executable image (device + inode) the
// uprobes are attached once, for every process running it; per process only its struct
// offsets are entered into `go_processes`, which is also what enables the probes for it.
// Processes are handed over by process discovery (startup scan, exec events); anything that
// keeps the probes off (not Go, too old, no offsets, symbol missing) is logged once per image
// with its reason and the process stays traced at the syscall layer.

#include <sys/types.h>

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bpf/go_probes.h"
#include "symbolizer/binary_cache.h"
#include "userspace/bpf_support/uprobe_links.h"
#include "userspace/common/kernel_counters.h"

struct go_probes_bpf;
struct bpf_object;
struct bpf_link;
struct bpf_program;

namespace ztrace::probes::go {

class GoTracer {
 public:
  // Loads the programs, sharing the socket tracer's maps.
  static std::unique_ptr<GoTracer> open(const bpf_object& socket_tracer, std::string* error);
  ~GoTracer();
  GoTracer(const GoTracer&) = delete;
  GoTracer& operator=(const GoTracer&) = delete;

  // Attaches to `pid` now (the startup scan: before the agent says it is ready). Returns ""
  // when probed, else the reason it is not.
  std::string attach(pid_t pid);
  // Queues `pid` for the background worker (exec events: never block the ring reader).
  void attach_async(pid_t pid);
  void forget(pid_t pid);

  // The run-time settings the socket tracer has too (bpf/settings.bpf.h).
  void set_capture_paused(bool paused);
  void set_sampling_threshold(uint64_t threshold);
  void set_process_thresholds_in_use(bool in_use);

  GoCounters counters() const;
  size_t probed_processes() const;
  size_t attached_uprobes() const;

  // A uprobe site: file offset in the image, and the attach cookie its program reads.
  using Site = bpf_support::UprobeSite;

 private:
  GoTracer() = default;
  struct Image {
    std::string failure;  // "" when attached
    bpf_support::UprobeLinks probes;
  };
  using ImageKey = std::tuple<dev_t, ino_t>;
  static go_probes_bpf* load(const bpf_object& socket_tracer, bool uprobe_multi,
                             std::string* error);
  std::string attach_image(const symbolizer::GoBinary& binary, const std::string& path,
                           Image* image);
  void worker();

  go_probes_bpf* skel_ = nullptr;
  bool uprobe_multi_ = false;  // programs loaded for uprobe_multi links
  symbolizer::BinaryCache binaries_;
  mutable std::mutex mu_;  // images_, probed_, queue_
  std::map<ImageKey, Image> images_;
  std::set<pid_t> probed_;
  std::deque<pid_t> queue_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace ztrace::probes::go
