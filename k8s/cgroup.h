#pragma once

// Process → container → pod from /proc/PID/cgroup alone (no API call): the kubelet names a
// pod's cgroup after its uid and the runtime names a container's after its id, under both the
// systemd and the cgroupfs cgroup drivers, on cgroup v1, v2 and hybrid hosts.

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace ztrace::k8s {

struct ContainerRef {
  std::string container_id;  // 64 hex digits; empty: a pod's cgroup but no container's
  std::string pod_uid;       // with dashes, as metadata.uid; empty: a container outside a pod
  bool operator==(const ContainerRef&) const = default;
};

// From the text of /proc/PID/cgroup ("HIERARCHY:CONTROLLERS:PATH" lines). The first line whose
// path names a pod or a container wins (on hybrid hosts the v1 and v2 lines agree). nullopt:
// neither (a host process).
std::optional<ContainerRef> parse_proc_cgroup(std::string_view text);

// One cgroup path, e.g. "/kubepods/besteffort/pod<uid>/<id>" or
// "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/
// cri-containerd-<id>.scope".
std::optional<ContainerRef> parse_cgroup_path(std::string_view path);

// The pod's own cgroup in `path`: the path up to the segment that names the pod
// ("/kubepods/besteffort/pod<uid>"); nullopt when no segment does.
std::optional<std::string> pod_cgroup_of_path(std::string_view path);

// The cgroup v2 path of /proc/PID/cgroup's text (its "0::PATH" line); nullopt without one.
std::optional<std::string> unified_cgroup_path(std::string_view proc_cgroup_text);

// Reads and parses PROC_ROOT/PID/cgroup; nullopt when unreadable or a host process.
std::optional<ContainerRef> read_container_ref(pid_t pid, std::string_view proc_root = "/proc");

// The cgroup v2 directory of PID's pod (relative to the cgroup2 mount) and the pod's uid, from
// PROC_ROOT/PID/cgroup; nullopt when unreadable or not in a pod.
struct PodCgroup {
  std::string path;
  std::string pod_uid;
};
std::optional<PodCgroup> read_pod_cgroup(pid_t pid, std::string_view proc_root = "/proc");

// "containerd://<id>", "cri-o://<id>", "docker://<id>" (a pod status' containerID) → "<id>".
std::string_view strip_runtime_prefix(std::string_view container_id);

}  // namespace ztrace::k8s
