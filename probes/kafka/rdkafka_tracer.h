#pragma once

// Attaches bpf/rdkafka_probes.bpf.c to librdkafka's produce functions (rd_kafka_producev,
// rd_kafka_produceva, rd_kafka_produce) and to its consumers' poll return and
// rd_kafka_consumer_close (symbolizer/rdkafka_sites.h): every librdkafka.so.1 in the host's library
// directories and those the running processes map (their own mount namespaces). Uprobes go on
// the file with pid -1, so a process that loads the library later (Python's confluent-kafka
// imports it after start) is covered by the host file's probes. A library without the
// symbols is logged once; processes without librdkafka never hit the probes.

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "userspace/bpf_support/probed_images.h"
#include "userspace/bpf_support/uprobe_links.h"
#include "userspace/common/kernel_counters.h"

struct bpf_program;
struct rdkafka_probes_bpf;
struct bpf_object;

namespace ztrace::symbolizer {
class ElfFile;
}

namespace ztrace::probes::kafka {

struct Settings {
  pid_t agent_pid = 0;
  bool trace_all_processes = true;
};

class RdKafkaTracer {
 public:
  static std::unique_ptr<RdKafkaTracer> open(const bpf_object& socket_tracer,
                                             const Settings& settings, std::string* error);
  ~RdKafkaTracer();
  RdKafkaTracer(const RdKafkaTracer&) = delete;
  RdKafkaTracer& operator=(const RdKafkaTracer&) = delete;

  void attach_host_libraries();
  // The librdkafka files `pid` maps now, through its own root.
  void scan(pid_t pid);

  void set_capture_paused(bool paused);
  RdKafkaCounters counters() const;
  size_t probed_images() const;
  size_t attached_uprobes() const;

 private:
  RdKafkaTracer() = default;
  static rdkafka_probes_bpf* load(const bpf_object& socket_tracer, const Settings& settings,
                                  bool uprobe_multi, std::string* error);
  void probe_file(const std::string& path, const std::string& name);
  std::string attach_image(const std::string& path, bpf_support::UprobeLinks* links);
  // The poll-return and close sites of a consumer (symbolizer/rdkafka_sites.h), when found.
  void add_consume_sites(const symbolizer::ElfFile& elf, const std::string& path,
                         std::map<bpf_program*, std::vector<bpf_support::UprobeSite>>& plan);

  rdkafka_probes_bpf* skel_ = nullptr;
  bool uprobe_multi_ = false;
  bpf_support::ProbedImages images_;
};

}  // namespace ztrace::probes::kafka
