#include "probes/go/go_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "go_probes.skel.h"
#include "probes/go/probe_table.h"
#include "userspace/bpf_support/load_log.h"
#include "userspace/bpf_support/per_cpu_counters.h"
#include "userspace/bpf_support/shared_maps.h"
#include "userspace/bpf_support/uprobe_links.h"

namespace ztrace::probes::go {
namespace {

using symbolizer::GoField;

bpf_program* program_named(go_probes_bpf* skel, std::string_view name) {
  bpf_program* p;
  bpf_object__for_each_program(p, skel->obj) {
    if (name == bpf_program__name(p)) return p;
  }
  return nullptr;
}

bool in_range(const symbolizer::GoVersion& v, const GoProbeSpec& spec) {
  return !(v < spec.min_go) && !(spec.max_go < v);
}

std::string version_text(const symbolizer::GoVersion& v) {
  return std::to_string(v.major) + "." + std::to_string(v.minor);
}

// "" when the binary's version of the library is one its probes are for, else why not.
std::string library_version_problem(const symbolizer::GoBuildInfo& info, const LibraryModule& lib) {
  const symbolizer::GoModule* dep = info.dep(lib.module);
  if (!dep) return "";  // no module versions (GOPATH build): the probes' own checks decide
  // Module versions are semver ("v1.33.3"); the Go version parser reads the same numbers.
  const auto version = symbolizer::parse_go_version("go" + dep->version.substr(1));
  if (dep->version.empty() || !version || *version < lib.min || lib.max < *version) {
    return std::string(lib.module) + " " + dep->version + " is outside the versions probed";
  }
  return "";
}

zt_h2_meta_frame meta_frame(const symbolizer::GoOffsets& o, GoField headers_frame, GoField fields,
                            GoField frame_header, GoField stream_id) {
  return {static_cast<__u64>(o.get(headers_frame)), static_cast<__u64>(o.get(fields)),
          static_cast<__u64>(o.get(frame_header) + o.get(stream_id))};
}

}  // namespace

go_probes_bpf* GoTracer::load(const bpf_object& socket_tracer, bool uprobe_multi,
                              std::string* error) {
  go_probes_bpf* skel = go_probes_bpf__open();
  if (!skel) {
    *error = std::string("cannot open the Go probes BPF object: ") + std::strerror(errno);
    return nullptr;
  }
  if (uprobe_multi) {
    bpf_program* p;
    bpf_object__for_each_program(p, skel->obj) {
      bpf_program__set_expected_attach_type(p, BPF_TRACE_UPROBE_MULTI);
    }
  }
  if (std::string why = bpf_support::share_maps_by_name(skel->obj, socket_tracer); !why.empty()) {
    *error = "cannot share maps with the socket tracer: " + why;
    go_probes_bpf__destroy(skel);
    return nullptr;
  }
  if (int err = go_probes_bpf__load(skel)) {
    *error = bpf_support::with_verifier_rejection(std::string("cannot load the Go probes: ") +
                                                  std::strerror(-err));
    go_probes_bpf__destroy(skel);
    return nullptr;
  }
  return skel;
}

std::unique_ptr<GoTracer> GoTracer::open(const bpf_object& socket_tracer, std::string* error) {
  std::unique_ptr<GoTracer> tracer(new GoTracer());
  // uprobe_multi links (Linux >= 6.6) detach with one RCU grace period per link, and links
  // detach in parallel; a single uprobe's detach waits for its grace period under a global
  // mutex (~0.15 s each here: 12 probed images took 22 s to stop). Single uprobes otherwise.
  tracer->skel_ = load(socket_tracer, /*uprobe_multi=*/true, error);
  tracer->uprobe_multi_ = tracer->skel_ != nullptr;
  if (!tracer->skel_) tracer->skel_ = load(socket_tracer, /*uprobe_multi=*/false, error);
  if (!tracer->skel_) return nullptr;
  tracer->worker_ = std::thread([t = tracer.get()] { t->worker(); });
  return tracer;
}

GoTracer::~GoTracer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
  std::vector<bpf_link*> links;
  for (auto& [key, image] : images_)
    links.insert(links.end(), image.probes.links.begin(), image.probes.links.end());
  bpf_support::destroy_links(links);
  if (skel_) go_probes_bpf__destroy(skel_);
}

namespace {

// Where one spec's program goes in this binary (file offsets, with the attach cookie each).
std::vector<GoTracer::Site> choose_sites(const symbolizer::GoBinary& binary,
                                         const GoProbeSpec& spec,
                                         const symbolizer::FunctionSites& sites) {
  const uint64_t entry = sites.entry_file_offset + sites.entry_site.offset;
  switch (spec.at) {
    case ProbeAt::kEntry:
      return {{entry}};
    case ProbeAt::kRbxNotNilOrEntry: {
      auto nonnil = binary.nonnil_site(spec.symbol, symbolizer::Reg::kRbx);
      return {{nonnil ? *nonnil : entry}};
    }
    case ProbeAt::kCopyLengthOrReturns:
      if (auto copy = binary.copy_length_site(spec.symbol)) {
        return {{copy->offset, static_cast<uint64_t>(copy->length_reg)}};
      }
      break;
    case ProbeAt::kReturns:
      break;
  }
  std::vector<GoTracer::Site> rets;
  for (uint64_t off : sites.ret_file_offsets) rets.push_back({off});
  return rets;
}

}  // namespace

std::string GoTracer::attach_image(const symbolizer::GoBinary& binary, const std::string& path,
                                   Image* image) {
  const auto& info = binary.buildinfo();
  if (!info.version) return "unknown Go version '" + info.go_version + "'";
  if (!binary.offsets()) return binary.offsets().reason();
  const symbolizer::GoOffsets& offsets = *binary.offsets();
  // Resolve every site first: a library is attached all or nothing.
  std::map<std::string_view, std::map<bpf_program*, std::vector<Site>>> plan;  // by library
  std::set<std::string_view> skipped_libraries;
  for (const auto& lib : kLibraryFields) {
    for (GoField f : lib.fields) {
      if (offsets.get(f) < 0) skipped_libraries.insert(lib.library);
    }
  }
  std::string problems;
  for (const auto& lib : kLibraryModules) {
    const std::string problem = library_version_problem(info, lib);
    if (problem.empty()) continue;
    skipped_libraries.insert(lib.library);
    problems += (problems.empty() ? "" : "; ") + problem;
  }
  for (const auto& spec : kGoProbes) {
    if (skipped_libraries.count(spec.library)) continue;
    if (!in_range(*info.version, spec)) {
      if (spec.required) skipped_libraries.insert(spec.library);
      continue;
    }
    auto sites = binary.sites(spec.symbol);
    bpf_program* program = program_named(skel_, spec.program);
    if (!sites || !program) {
      if (spec.required) {
        skipped_libraries.insert(spec.library);
        problems += (problems.empty() ? "" : "; ") +
                    (sites ? "no program " + std::string(spec.program) : sites.reason());
      }
      continue;
    }
    auto& program_sites = plan[spec.library][program];
    for (const Site& site : choose_sites(binary, spec, *sites)) program_sites.push_back(site);
  }
  std::map<bpf_program*, std::vector<Site>> attached;  // of the libraries not skipped
  for (auto& [library, programs] : plan) {
    if (skipped_libraries.count(library)) continue;
    for (auto& [program, sites] : programs) {
      auto& all = attached[program];
      all.insert(all.end(), sites.begin(), sites.end());
    }
  }
  if (attached.empty()) {
    return problems.empty() ? "no probed library in Go " + version_text(*info.version) : problems;
  }
  return bpf_support::attach_uprobe_sites(attached, path, uprobe_multi_, &image->probes);
}

std::string GoTracer::attach(pid_t pid) {
  // Hold the executable open: analysis and attach go through /proc/self/fd/N, which stays
  // valid when a short-lived process exits meanwhile (and works across mount namespaces
  // like /proc/PID/exe does).
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/exe").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "process gone";
  struct stat st {};
  fstat(fd, &st);
  const std::string exe = "/proc/self/fd/" + std::to_string(fd);
  const ImageKey key{st.st_dev, st.st_ino};
  auto binary = binaries_.for_path(exe);
  std::lock_guard lock(mu_);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  auto [it, fresh] = images_.try_emplace(key);
  Image& image = it->second;
  if (fresh) {
    image.failure = binary ? attach_image(**binary, exe, &image) : binary.reason();
    const std::string version = binary ? (*binary)->buildinfo().go_version : "";
    if (image.failure.empty()) {
      spdlog::info("Go probes: pid {} ({}, offsets from {}): {} uprobes", pid, version,
                   (*binary)->offsets()->source, image.probes.uprobes);
    } else {
      // Once per image: every later process of it stays at the syscall layer silently.
      spdlog::info("Go probes off for pid {} {}: {}; traced at the syscall layer only", pid,
                   version, image.failure);
    }
  }
  if (!image.failure.empty()) return image.failure;
  const auto& o = *(*binary)->offsets();
  zt_go_offsets offsets{};
  offsets.tls_conn_conn = o.get(GoField::kTlsConnConn);
  offsets.net_conn_fd = o.get(GoField::kNetConnFd);
  offsets.netfd_pfd = o.get(GoField::kNetFdPfd);
  offsets.pollfd_sysfd = o.get(GoField::kPollFdSysfd);
  offsets.g_goid = o.get(GoField::kGGoid);
  offsets.transport_request_request = o.get(GoField::kTransportRequestRequest);
  offsets.grpc_meta_frame =
      meta_frame(o, GoField::kH2MetaFrameHeaders, GoField::kH2MetaFrameFields,
                 GoField::kH2HeadersFrameHeader, GoField::kH2FrameHeaderStreamId);
  offsets.grpc_stream_id = o.get(GoField::kGrpcStreamId);
  offsets.grpc_header_frame_hf = o.get(GoField::kGrpcHeaderFrameHf);
  offsets.grpc_header_frame_init_stream = o.get(GoField::kGrpcHeaderFrameInitStream);
  offsets.http2_meta_frame =
      meta_frame(o, GoField::kHttp2MetaFrameHeaders, GoField::kHttp2MetaFrameFields,
                 GoField::kHttp2HeadersFrameHeader, GoField::kHttp2FrameHeaderStreamId);
  offsets.http2_server_conn_conn = o.get(GoField::kHttp2ServerConnConn);
  offsets.http2_response_writer_rws = o.get(GoField::kHttp2ResponseWriterRws);
  offsets.http2_response_writer_state_stream = o.get(GoField::kHttp2ResponseWriterStateStream);
  offsets.http2_stream_id = o.get(GoField::kHttp2StreamId);
  const uint32_t tgid = pid;
  if (bpf_map__update_elem(skel_->maps.go_processes, &tgid, sizeof(tgid), &offsets, sizeof(offsets),
                           BPF_ANY) != 0) {
    return std::string("go_processes update: ") + std::strerror(errno);
  }
  probed_.insert(pid);
  return "";
}

void GoTracer::attach_async(pid_t pid) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(pid);
  }
  wake_.notify_one();
}

void GoTracer::forget(pid_t pid) {
  std::lock_guard lock(mu_);
  if (!probed_.erase(pid)) return;
  const uint32_t tgid = pid;
  bpf_map__delete_elem(skel_->maps.go_processes, &tgid, sizeof(tgid), 0);
}

void GoTracer::worker() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    pid_t pid = queue_.front();
    queue_.pop_front();
    lock.unlock();
    attach(pid);
    lock.lock();
  }
}

void GoTracer::set_capture_paused(bool paused) { skel_->bss->capture_paused = paused ? 1 : 0; }

void GoTracer::set_sampling_threshold(uint64_t threshold) {
  skel_->bss->sampling_threshold = threshold;
}

void GoTracer::set_process_thresholds_in_use(bool in_use) {
  skel_->bss->process_thresholds_in_use = in_use ? 1 : 0;
}

GoCounters GoTracer::counters() const {
  return bpf_support::sum_per_cpu_counters<GoCounters>(skel_->maps.go_counters);
}

size_t GoTracer::probed_processes() const {
  std::lock_guard lock(mu_);
  return probed_.size();
}

size_t GoTracer::attached_uprobes() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, image] : images_) n += image.probes.uprobes;
  return n;
}

}  // namespace ztrace::probes::go
