#include "userspace/agent/process_tracking.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>

#include "probes/go/go_tracer.h"
#include "probes/java/java_agent.h"
#include "probes/openssl/openssl_tracer.h"
#include "userspace/agent/socket_tracer.h"
#include "userspace/process/process_info.h"
#include "userspace/spans/semconv.h"

namespace ztrace::agent {
namespace {

std::string exe_path_of(uint32_t pid) {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  return ec ? "" : path.string();
}

bool has_attribute(const spans::Resource& resource, std::string_view key) {
  return std::ranges::any_of(resource.attributes,
                             [&](const auto& attribute) { return attribute.key == key; });
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

}  // namespace

ProcessTracking::ProcessTracking(const process::SelectionRules& selection,
                                 process::ProcessTable& processes, SocketTracer& tracer,
                                 probes::go::GoTracer* go_tracer,
                                 probes::openssl::OpenSslTracer* openssl_tracer)
    : selection_(selection),
      processes_(processes),
      tracer_(tracer),
      go_tracer_(go_tracer),
      openssl_tracer_(openssl_tracer),
      explicit_pids_(selection.pids.begin(), selection.pids.end()),
      ns_per_clock_tick_(1'000'000'000 / sysconf(_SC_CLK_TCK)) {}

// Goroutines migrate between threads: in Go processes the kernel must not link by thread.
// Only the executable is looked at (its ELF notes), not the whole resource.
std::vector<pid_t> ProcessTracking::mark_running_go_processes() {
  std::vector<pid_t> go_pids;
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
    tracer_.set_thread_linking(pid, !go);
    if (go) go_pids.push_back(pid);
  }
  spdlog::debug("{} running Go processes excluded from thread linking", go_pids.size());
  return go_pids;
}

std::vector<pid_t> ProcessTracking::select_running(bool attach_go_now) {
  const std::vector<pid_t> running_go = mark_running_go_processes();
  std::vector<pid_t> running = process::matching_pids(selection_, getpid());
  std::unordered_set<pid_t> chosen;
  if (!selection_.selects_all_processes()) {
    running = process::with_descendants(running);
    std::erase(running, getpid());
    for (pid_t pid : running) trace(pid);
    chosen.insert(running.begin(), running.end());
  }
  // OpenSSL: the libraries and executables the running processes map (the probes sit on
  // files; the kernel keeps only selected processes).
  if (openssl_tracer_) {
    for (pid_t pid : running) {
      if (attach_go_now) {
        openssl_tracer_->scan(pid);
      } else {
        openssl_tracer_->scan_async(pid);
      }
    }
  }
  if (java_agent_) {
    for (pid_t pid : running) java_agent_->consider(pid, /*just_started=*/false);
  }
  if (go_tracer_) {
    for (pid_t pid : running_go) {
      if (!selection_.selects_all_processes() && !chosen.count(pid)) continue;
      if (attach_go_now) {
        go_tracer_->attach(pid);
      } else {
        go_tracer_->attach_async(pid);
      }
    }
  }
  return running;
}

void ProcessTracking::trace(pid_t pid) {
  tracer_.trace_process(pid);
  if (on_traced_) on_traced_(pid);
}

void ProcessTracking::apply_pod_selection(const std::vector<pid_t>& pids, bool selected) {
  for (pid_t pid : pids) {
    if (pid == getpid()) continue;
    if (selected) {
      trace(pid);
      if (go_tracer_) {
        const int exe =
            open(("/proc/" + std::to_string(pid) + "/exe").c_str(), O_RDONLY | O_CLOEXEC);
        const bool go = exe >= 0 && process::is_go_elf(exe);
        if (exe >= 0) close(exe);
        if (go) go_tracer_->attach_async(pid);
      }
    } else if (!explicit_pids_.count(pid) && !selection_.matches_process(pid, exe_path_of(pid))) {
      tracer_.untrace_process(pid);
    }
  }
}

void ProcessTracking::reload() {
  const std::vector<pid_t> selected = select_running(/*attach_go_now=*/false);
  spdlog::info(
      "reload requested (SIGHUP or the API): selection rules re-applied to the running "
      "processes ({} "
      "selected); flags and environment are read at start only",
      selection_.selects_all_processes() ? std::string("all") : std::to_string(selected.size()));
}

// When the new image is already gone (or a zombie), its resource is built from what the exec
// event carried. The pipeline finds either in the table.
void ProcessTracking::remember_new_image(const zt_proc_event& exec) {
  if (!selection_.selects_all_processes() &&
      !selection_.matches_process(exec.pid, exe_path_of(exec.pid))) {
    return;
  }
  const uint64_t start_ticks = exec.start_boottime_ns / ns_per_clock_tick_;
  processes_.forget(exec.pid);
  auto resource = processes_.get(exec.pid, start_ticks);
  tracer_.set_thread_linking(exec.pid, !is_go(*resource));
  if (go_tracer_ && is_go(*resource)) go_tracer_->attach_async(exec.pid);
  if (openssl_tracer_ && !is_go(*resource)) openssl_tracer_->scan_async(exec.pid);
  if (java_agent_ && !is_go(*resource)) java_agent_->consider(exec.pid, /*just_started=*/true);
  if (has_attribute(*resource, semconv::process::kProcessExecutablePath)) return;
  const std::string_view filename(exec.filename,
                                  std::min<size_t>(exec.filename_bytes, sizeof(exec.filename)));
  const std::string_view argv(exec.argv, std::min<size_t>(exec.argv_bytes, sizeof(exec.argv)));
  processes_.put(
      exec.pid, start_ticks,
      process::resource_from_exec(exec.pid, filename, argv, processes_.resource_options()));
  spdlog::debug("pid {} exited before /proc could be read: resource from its exec event", exec.pid);
}

void ProcessTracking::on_intake_event(std::span<const uint8_t> event) {
  if (event[0] == ZT_EVENT_PROC_EXEC && event.size() >= offsetof(zt_proc_event, argv)) {
    zt_proc_event exec{};
    std::memcpy(&exec, event.data(), std::min(event.size(), sizeof(exec)));
    remember_new_image(exec);
    resolved_on_intake_.insert(exec.pid);
  } else if (event[0] == ZT_EVENT_PROC_EXIT && event.size() >= offsetof(zt_proc_event, ppid)) {
    uint32_t pid;
    std::memcpy(&pid, event.data() + offsetof(zt_proc_event, pid), sizeof(pid));
    resolved_on_intake_.erase(pid);
    if (pid == last_resolved_pid_) last_resolved_pid_ = 0;
  } else if (event[0] == ZT_EVENT_DATA && event.size() >= offsetof(zt_data_event, data)) {
    uint32_t pid;
    std::memcpy(&pid, event.data() + offsetof(zt_data_event, pid), sizeof(pid));
    if (pid == last_resolved_pid_) return;  // most events follow one of the same process
    last_resolved_pid_ = pid;
    if (resolved_on_intake_.insert(pid).second) processes_.get(static_cast<pid_t>(pid));
  }
}

// Map updates are syscalls, safe from the pipeline thread.
pipeline::ProcessHooks ProcessTracking::pipeline_hooks() {
  pipeline::ProcessHooks hooks;
  hooks.on_exec = [this](uint32_t pid, const std::vector<int32_t>& socket_fds) {
    tracer_.forget_fds(pid, socket_fds);
    if (selection_.selects_all_processes()) return;
    if (selection_.matches_process(pid, exe_path_of(pid))) {
      trace(pid);
    } else if (!explicit_pids_.count(pid)) {
      tracer_.untrace_process(pid);
    }
  };
  hooks.on_exit = [this](uint32_t pid, const std::vector<int32_t>& socket_fds) {
    tracer_.forget_fds(pid, socket_fds);
    tracer_.set_thread_linking(pid, false);
    if (go_tracer_) go_tracer_->forget(pid);
  };
  // Processes the startup scan missed are first resolved here.
  hooks.on_resource = [this](uint32_t pid, const spans::Resource& resource) {
    tracer_.set_thread_linking(pid, !is_go(resource));
  };
  return hooks;
}

}  // namespace ztrace::agent
