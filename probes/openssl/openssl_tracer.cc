#include "probes/openssl/openssl_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "bpf/openssl_probes.h"
#include "openssl_probes.skel.h"
#include "probes/openssl/probe_table.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/ssl_sites.h"
#include "userspace/bpf_support/load_log.h"
#include "userspace/bpf_support/per_cpu_counters.h"
#include "userspace/bpf_support/uprobe_links.h"

namespace ztrace::probes::openssl {
namespace {

// Rescans after an exec: the loader maps the libraries within milliseconds; the second catches
// a libssl dlopened at start-up from a path no earlier scan saw.
constexpr std::chrono::milliseconds kRescanDelays[] = {
    std::chrono::milliseconds(0), std::chrono::milliseconds(200), std::chrono::milliseconds(2000)};

bool is_libssl_name(std::string_view name) { return name.starts_with("libssl.so"); }

// Node is the executable expected to carry OpenSSL: when its symbols are missing, say so.
bool expected_to_link_openssl(std::string_view name) {
  return name == "node" || name == "nodejs" || name.starts_with("node-");
}

zt_ssl_layout layout_of(const symbolizer::ElfFile& elf) {
  if (elf.find_symbol(kSince3_2)) return ZT_SSL_LAYOUT_UNKNOWN;
  if (elf.find_symbol(kSince3_0)) return ZT_SSL_LAYOUT_3_0;
  if (elf.find_symbol(kSince1_1_1)) return ZT_SSL_LAYOUT_1_1_1;
  return ZT_SSL_LAYOUT_UNKNOWN;
}

}  // namespace

openssl_probes_bpf* OpenSslTracer::load(const SharedMaps& shared, const Settings& settings,
                                        bool uprobe_multi, std::string* error) {
  openssl_probes_bpf* skel = openssl_probes_bpf__open();
  if (!skel) {
    *error = std::string("cannot open the OpenSSL probes BPF object: ") + std::strerror(errno);
    return nullptr;
  }
  skel->rodata->agent_tgid = settings.agent_pid;
  skel->rodata->trace_all_processes = settings.trace_all_processes ? 1 : 0;
  if (uprobe_multi) {
    bpf_program* p;
    bpf_object__for_each_program(p, skel->obj) {
      if (p != skel->progs.java_tls_handoff) {
        bpf_program__set_expected_attach_type(p, BPF_TRACE_UPROBE_MULTI);
      }
    }
  }
  auto* maps = &skel->maps;
  if (bpf_map__reuse_fd(maps->events, shared.events) ||
      bpf_map__reuse_fd(maps->conns, shared.conns) ||
      bpf_map__reuse_fd(maps->traced_pids, shared.traced_pids) ||
      bpf_map__reuse_fd(maps->tls_threads, shared.tls_threads) ||
      bpf_map__reuse_fd(maps->ssl_fds, shared.ssl_fds) ||
      bpf_map__reuse_fd(maps->traced_ports, shared.traced_ports) ||
      bpf_map__reuse_fd(maps->pending_injections, shared.pending_injections) ||
      bpf_map__reuse_fd(maps->pending_h2_injections, shared.pending_h2_injections) ||
      bpf_map__reuse_fd(maps->injectable_sockets, shared.injectable_sockets) ||
      bpf_map__reuse_fd(maps->inject_counters, shared.inject_counters) ||
      bpf_map__reuse_fd(maps->thread_requests, shared.thread_requests) ||
      bpf_map__reuse_fd(maps->thread_messages, shared.thread_messages) ||
      bpf_map__reuse_fd(maps->multiplexing_threads, shared.multiplexing_threads) ||
      bpf_map__reuse_fd(maps->thread_linkable_processes, shared.thread_linkable_processes) ||
      bpf_map__reuse_fd(maps->process_sampling_thresholds, shared.process_sampling_thresholds)) {
    *error = std::string("cannot share maps with the socket tracer: ") + std::strerror(errno);
    openssl_probes_bpf__destroy(skel);
    return nullptr;
  }
  if (int err = openssl_probes_bpf__load(skel)) {
    *error = bpf_support::with_verifier_rejection(std::string("cannot load the OpenSSL probes: ") +
                                                  std::strerror(-err));
    openssl_probes_bpf__destroy(skel);
    return nullptr;
  }
  return skel;
}

std::unique_ptr<OpenSslTracer> OpenSslTracer::open(const SharedMaps& shared,
                                                   const Settings& settings, std::string* error) {
  std::unique_ptr<OpenSslTracer> tracer(new OpenSslTracer());
  // uprobe_multi links detach in parallel (Linux >= 6.6); single uprobes otherwise.
  tracer->skel_ = load(shared, settings, /*uprobe_multi=*/true, error);
  tracer->uprobe_multi_ = tracer->skel_ != nullptr;
  if (!tracer->skel_) tracer->skel_ = load(shared, settings, /*uprobe_multi=*/false, error);
  if (!tracer->skel_) return nullptr;
  tracer->worker_ = std::thread([t = tracer.get()] { t->worker(); });
  return tracer;
}

std::string OpenSslTracer::attach_java_handoff() {
  std::lock_guard lock(mu_);
  if (java_handoff_) return "";
  java_handoff_ = bpf_program__attach(skel_->progs.java_tls_handoff);
  if (!java_handoff_) {
    return std::string("cannot attach the Java hand-off to sys_enter_ioctl: ") +
           std::strerror(errno);
  }
  return "";
}

OpenSslTracer::~OpenSslTracer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
  std::vector<bpf_link*> links = images_.links();
  if (java_handoff_) links.push_back(java_handoff_);
  bpf_support::destroy_links(links);
  if (skel_) openssl_probes_bpf__destroy(skel_);
}

std::string OpenSslTracer::attach_image(const std::string& path, bpf_support::UprobeLinks* links) {
  auto elf = symbolizer::ElfFile::open(path);
  if (!elf) return elf.reason();
  if (!(*elf)->find_symbol("SSL_read")) {
    return "no SSL_read symbol (no OpenSSL, or its symbols are stripped or local)";
  }
  const zt_ssl_layout layout = layout_of(**elf);
  bpf_program* enter = skel_->progs.ssl_call_enter;
  bpf_program* result = skel_->progs.ssl_call_result;
  std::map<bpf_program*, std::vector<Site>> plan;
  size_t emulated = 0, sites_total = 0;
  for (const auto& spec : kSslProbes) {
    auto symbol = (*elf)->find_symbol(spec.symbol);
    std::optional<uint64_t> offset;
    if (symbol && symbol->size > 0) offset = (*elf)->vaddr_to_offset(symbol->value);
    if (!offset) {
      if (spec.required) return "no " + std::string(spec.symbol) + " function";
      continue;
    }
    const auto code = (*elf)->code_at_vaddr(symbol->value, symbol->size);
    auto sites = symbolizer::find_ssl_sites(code);
    if (!sites) {
      if (spec.required) return std::string(spec.symbol) + ": " + sites.reason();
      continue;
    }
    uint64_t cookie =
        (spec.write ? ZT_SSL_CALL_WRITE : 0) |
        (spec.count_in_rcx || sites->enter_at_internal_call ? ZT_SSL_COUNT_IN_RCX : 0) |
        (static_cast<uint64_t>(layout) << ZT_SSL_LAYOUT_SHIFT);
    plan[enter].push_back({*offset + sites->enter_offset, cookie});
    for (uint64_t at : sites->result_offsets) plan[result].push_back({*offset + at, 0});
    emulated += (sites->enter_emulated ? 1 : 0) + (sites->result_emulated ? 1 : 0);
    sites_total += 1 + sites->result_offsets.size();
  }
  spdlog::debug("OpenSSL probes: {} sites, {} emulated, layout {}", sites_total, emulated,
                static_cast<int>(layout));
  return bpf_support::attach_uprobe_sites(plan, path, uprobe_multi_, links);
}

void OpenSslTracer::probe_file(const std::string& path, const std::string& name, Kind kind) {
  size_t uprobes = 0;
  const auto failure =
      images_.probe_once(path, [&](const std::string& open_path, bpf_support::UprobeLinks* links) {
        std::string why = attach_image(open_path, links);
        uprobes = links->uprobes;
        return why;
      });
  if (!failure) return;  // seen before
  const std::string base = std::filesystem::path(name).filename().string();
  if (failure->empty()) {
    spdlog::info("OpenSSL probes: {}: {} uprobes", name, uprobes);
  } else if (kind == Kind::kLibrary || expected_to_link_openssl(base)) {
    // Once per image: its processes stay at the syscall layer.
    spdlog::info("OpenSSL probes off for {}: {}; its TLS is traced at the syscall layer only", name,
                 *failure);
  }
}

void OpenSslTracer::attach_host_libraries() {
  for (const std::string& path : bpf_support::host_libraries(is_libssl_name)) {
    probe_file(path, path, Kind::kLibrary);
  }
}

void OpenSslTracer::scan(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink(proc + "/exe", ec);
  if (!ec) probe_file(proc + "/exe", exe.string(), Kind::kExecutable);
  // Through the process's root: the path is the one in its own mount namespace.
  for (const auto& file : bpf_support::mapped_libraries(pid, is_libssl_name)) {
    probe_file(proc + "/root" + file, file, Kind::kLibrary);
  }
}

void OpenSslTracer::scan_async(pid_t pid) {
  {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    for (auto delay : kRescanDelays) queue_.emplace_back(now + delay, pid);
    std::sort(queue_.begin(), queue_.end());
  }
  wake_.notify_one();
}

void OpenSslTracer::worker() {
  std::unique_lock lock(mu_);
  while (true) {
    if (queue_.empty()) {
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    } else {
      wake_.wait_until(lock, queue_.front().first, [&] { return stopping_; });
    }
    if (stopping_) return;
    if (queue_.empty() || queue_.front().first > Clock::now()) continue;
    const pid_t pid = queue_.front().second;
    queue_.pop_front();
    lock.unlock();
    scan(pid);
    lock.lock();
  }
}

void OpenSslTracer::set_capture_paused(bool paused) { skel_->bss->capture_paused = paused ? 1 : 0; }

SslCounters OpenSslTracer::counters() const {
  return bpf_support::sum_per_cpu_counters<SslCounters>(skel_->maps.ssl_counters);
}

size_t OpenSslTracer::probed_images() const { return images_.probed(); }

size_t OpenSslTracer::attached_uprobes() const { return images_.uprobes(); }

}  // namespace ztrace::probes::openssl
