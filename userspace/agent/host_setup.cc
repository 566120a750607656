#include "userspace/agent/host_setup.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace ztrace::agent {
namespace {

bool exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// libbpf attaches tracepoints through tracefs: at /sys/kernel/tracing or under debugfs.
bool tracefs_available() {
  return exists("/sys/kernel/tracing/events/syscalls") ||
         exists("/sys/kernel/debug/tracing/events/syscalls");
}

bool mounted(const std::string& fstype, const std::string& target) {
  std::ifstream mounts("/proc/mounts");
  std::string dev, dir, type, rest;
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest)) {
    if (type == fstype && dir == target) return true;
  }
  return false;
}

std::string cgroup2_mount() {
  std::ifstream mounts("/proc/mounts");
  std::string dev, dir, type, rest;
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest)) {
    if (type == "cgroup2") return dir;
  }
  return "";
}

}  // namespace

bool prepare_host(std::string* error) {
  if (geteuid() != 0) {
    *error =
        "ztrace must run as root: loading BPF programs and attaching syscall tracepoints needs "
        "CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (for tracefs), and reading other processes' "
        "/proc entries needs CAP_SYS_PTRACE";
    return false;
  }
  if (!exists("/sys/kernel/btf/vmlinux")) {
    *error =
        "the kernel has no BTF (/sys/kernel/btf/vmlinux): ztrace needs a kernel >= 5.11 "
        "built with CONFIG_DEBUG_INFO_BTF=y";
    return false;
  }
  if (!tracefs_available()) {
    if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0 ||
        !tracefs_available()) {
      *error = "tracefs is not mounted and mounting it at /sys/kernel/tracing failed; mount it "
               "with: mount -t tracefs nodev /sys/kernel/tracing";
      return false;
    }
  }
  return true;
}

std::vector<HostCheck> inspect_host() {
  std::vector<HostCheck> checks;
  struct utsname uts;
  uname(&uts);
  checks.push_back({"kernel", true, std::string(uts.release)});
  checks.push_back({"root", geteuid() == 0, geteuid() == 0 ? "euid 0" : "not root"});
  checks.push_back({"btf", exists("/sys/kernel/btf/vmlinux"), "/sys/kernel/btf/vmlinux"});
  checks.push_back({"tracefs", tracefs_available(),
                    tracefs_available() ? "syscall tracepoints visible"
                                        : "not mounted (ztrace run mounts it)"});
  bool bpffs = mounted("bpf", "/sys/fs/bpf");
  checks.push_back({"bpffs", bpffs, bpffs ? "/sys/fs/bpf" : "not mounted (not needed: ztrace pins nothing)"});
  std::string lockdown = read_first_line("/sys/kernel/security/lockdown");
  checks.push_back({"lockdown", true, lockdown.empty() ? "unknown" : lockdown});
  std::string cgroup2 = cgroup2_mount();
  checks.push_back({"cgroup2", !cgroup2.empty(), cgroup2.empty() ? "not mounted" : cgroup2});
  bool kprobes = exists("/sys/kernel/tracing/kprobe_events") ||
                 exists("/sys/kernel/debug/tracing/kprobe_events");
  checks.push_back({"kprobes", kprobes,
                    kprobes ? "available (not needed)" : "unavailable (not needed by ztrace)"});
  return checks;
}

}  // namespace ztrace::agent
