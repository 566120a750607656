#include "probes/kafka/rdkafka_tracer.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "bpf/rdkafka_probes.h"
#include "probes/kafka/probe_table.h"
#include "rdkafka_probes.skel.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/rdkafka_sites.h"
#include "userspace/bpf_support/load_log.h"
#include "userspace/bpf_support/per_cpu_counters.h"
#include "userspace/bpf_support/shared_maps.h"

namespace ztrace::probes::kafka {
namespace {

bool is_librdkafka_name(std::string_view name) { return name.starts_with("librdkafka.so"); }

}  // namespace

rdkafka_probes_bpf* RdKafkaTracer::load(const bpf_object& socket_tracer, const Settings& settings,
                                        bool uprobe_multi, std::string* error) {
  rdkafka_probes_bpf* skel = rdkafka_probes_bpf__open();
  if (!skel) {
    *error = std::string("cannot open the librdkafka probes BPF object: ") + std::strerror(errno);
    return nullptr;
  }
  skel->rodata->agent_tgid = settings.agent_pid;
  skel->rodata->trace_all_processes = settings.trace_all_processes ? 1 : 0;
  if (uprobe_multi) {
    for (bpf_program* program : {skel->progs.rdkafka_produce_call, skel->progs.rdkafka_poll_return,
                                 skel->progs.rdkafka_consumer_close}) {
      bpf_program__set_expected_attach_type(program, BPF_TRACE_UPROBE_MULTI);
    }
  }
  if (std::string why = bpf_support::share_maps_by_name(skel->obj, socket_tracer); !why.empty()) {
    *error = "cannot share maps with the socket tracer: " + why;
    rdkafka_probes_bpf__destroy(skel);
    return nullptr;
  }
  if (int err = rdkafka_probes_bpf__load(skel)) {
    *error = bpf_support::with_verifier_rejection(
        std::string("cannot load the librdkafka probes: ") + std::strerror(-err));
    rdkafka_probes_bpf__destroy(skel);
    return nullptr;
  }
  return skel;
}

std::unique_ptr<RdKafkaTracer> RdKafkaTracer::open(const bpf_object& socket_tracer,
                                                   const Settings& settings, std::string* error) {
  std::unique_ptr<RdKafkaTracer> tracer(new RdKafkaTracer());
  tracer->skel_ = load(socket_tracer, settings, /*uprobe_multi=*/true, error);
  tracer->uprobe_multi_ = tracer->skel_ != nullptr;
  if (!tracer->skel_) tracer->skel_ = load(socket_tracer, settings, /*uprobe_multi=*/false, error);
  if (!tracer->skel_) return nullptr;
  return tracer;
}

RdKafkaTracer::~RdKafkaTracer() {
  bpf_support::destroy_links(images_.links());
  if (skel_) rdkafka_probes_bpf__destroy(skel_);
}

void RdKafkaTracer::add_consume_sites(
    const symbolizer::ElfFile& elf, const std::string& path,
    std::map<bpf_program*, std::vector<bpf_support::UprobeSite>>& plan) {
  static_assert(static_cast<int>(symbolizer::ResultReg::kR15) == ZT_RDKAFKA_REG_R15);
  auto consume = symbolizer::find_consume_sites(elf);
  if (!consume) {  // its consumers' calls stay unlinked to the messages they process
    spdlog::info("librdkafka consumer probe off for {}: {}", path, consume.reason());
    return;
  }
  auto poll_return = elf.vaddr_to_offset(consume->poll_return_vaddr);
  if (!poll_return) return;
  const uint64_t cookie =
      zt_rdkafka_poll_cookie(static_cast<uint32_t>(consume->message_reg),
                             consume->topic.topic_field, consume->topic.str_field);
  plan[skel_->progs.rdkafka_poll_return].push_back({*poll_return, cookie});
  if (consume->close_vaddr) {
    if (auto close = elf.vaddr_to_offset(*consume->close_vaddr)) {
      plan[skel_->progs.rdkafka_consumer_close].push_back({*close, 0});
    }
  }
}

std::string RdKafkaTracer::attach_image(const std::string& path, bpf_support::UprobeLinks* links) {
  auto elf = symbolizer::ElfFile::open(path);
  if (!elf) return elf.reason();
  std::map<bpf_program*, std::vector<bpf_support::UprobeSite>> plan;
  auto& sites = plan[skel_->progs.rdkafka_produce_call];
  for (const ProduceProbeSpec& spec : kProduceProbes) {
    auto symbol = (*elf)->find_symbol(spec.symbol);
    std::optional<uint64_t> offset;
    if (symbol && symbol->size > 0) offset = (*elf)->vaddr_to_offset(symbol->value);
    if (offset) sites.push_back({*offset, static_cast<uint64_t>(spec.call)});
  }
  add_consume_sites(**elf, path, plan);
  if (sites.empty()) return "none of rd_kafka_producev, rd_kafka_produceva, rd_kafka_produce";
  return bpf_support::attach_uprobe_sites(plan, path, uprobe_multi_, links);
}

void RdKafkaTracer::probe_file(const std::string& path, const std::string& name) {
  size_t uprobes = 0;
  const auto failure =
      images_.probe_once(path, [&](const std::string& open_path, bpf_support::UprobeLinks* links) {
        std::string why = attach_image(open_path, links);
        uprobes = links->uprobes;
        return why;
      });
  if (!failure) return;  // seen before
  if (failure->empty()) {
    spdlog::info("librdkafka probes: {}: {} uprobes", name, uprobes);
  } else {  // once per image: its produces stay unlinked to the requests that made them
    spdlog::info("librdkafka probes off for {}: {}", name, *failure);
  }
}

void RdKafkaTracer::attach_host_libraries() {
  for (const std::string& path : bpf_support::host_libraries(is_librdkafka_name)) {
    probe_file(path, path);
  }
}

void RdKafkaTracer::scan(pid_t pid) {
  const std::string root = "/proc/" + std::to_string(pid) + "/root";
  for (const auto& file : bpf_support::mapped_libraries(pid, is_librdkafka_name)) {
    probe_file(root + file, file);
  }
}

void RdKafkaTracer::set_capture_paused(bool paused) { skel_->bss->capture_paused = paused ? 1 : 0; }

RdKafkaCounters RdKafkaTracer::counters() const {
  return bpf_support::sum_per_cpu_counters<RdKafkaCounters>(skel_->maps.rdkafka_counters);
}

size_t RdKafkaTracer::probed_images() const { return images_.probed(); }

size_t RdKafkaTracer::attached_uprobes() const { return images_.uprobes(); }

}  // namespace ztrace::probes::kafka
