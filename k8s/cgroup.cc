#include "k8s/cgroup.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace ztrace::k8s {
namespace {

bool is_hex64(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// A pod uid is a UUID: 8-4-4-4-12 hex digits. The systemd driver writes it with '_' for '-'
// (a '-' in a slice name means nesting).
std::optional<std::string> as_pod_uid(std::string_view s) {
  if (s.size() != 36) return std::nullopt;
  std::string uid(s);
  for (size_t i = 0; i < uid.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position) {
      if (uid[i] != '-' && uid[i] != '_') return std::nullopt;
      uid[i] = '-';
    } else if (!std::isxdigit(static_cast<unsigned char>(uid[i]))) {
      return std::nullopt;
    }
  }
  return uid;
}

// "pod<uid>" (cgroupfs) or "kubepods[-<qos>]-pod<uid_>.slice" (systemd).
std::optional<std::string> pod_uid_of_segment(std::string_view segment) {
  if (segment.ends_with(".slice")) {
    segment.remove_suffix(6);
    const size_t pod = segment.rfind("-pod");
    if (pod == std::string_view::npos || !segment.starts_with("kubepods")) return std::nullopt;
    return as_pod_uid(segment.substr(pod + 4));
  }
  if (segment.starts_with("pod")) return as_pod_uid(segment.substr(3));
  return std::nullopt;
}

// "<id>" (cgroupfs), "cri-containerd-<id>.scope", "crio-<id>.scope", "docker-<id>.scope",
// "libpod-<id>.scope" (systemd). CRI-O's "crio-conmon-<id>.scope" is its monitor, not the
// container: excluded by name.
std::optional<std::string> container_id_of_segment(std::string_view segment) {
  if (is_hex64(segment)) return std::string(segment);
  if (!segment.ends_with(".scope") || segment.find("conmon") != std::string_view::npos) {
    return std::nullopt;
  }
  segment.remove_suffix(6);
  const size_t dash = segment.rfind('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const std::string_view id = segment.substr(dash + 1);
  if (!is_hex64(id)) return std::nullopt;
  return std::string(id);
}

}  // namespace

std::optional<ContainerRef> parse_cgroup_path(std::string_view path) {
  ContainerRef ref;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (!segment.empty()) {
      if (auto uid = pod_uid_of_segment(segment)) {
        ref.pod_uid = std::move(*uid);
        ref.container_id.clear();  // an id above the pod would be a node-level container's
      } else if (auto id = container_id_of_segment(segment)) {
        ref.container_id = std::move(*id);  // the innermost wins (docker-in-docker)
      }
    }
    start = end + 1;
  }
  if (ref.pod_uid.empty() && ref.container_id.empty()) return std::nullopt;
  return ref;
}

std::optional<std::string> pod_cgroup_of_path(std::string_view path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (!segment.empty() && pod_uid_of_segment(segment)) return std::string(path.substr(0, end));
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> unified_cgroup_path(std::string_view proc_cgroup_text) {
  size_t start = 0;
  while (start < proc_cgroup_text.size()) {
    size_t end = proc_cgroup_text.find('\n', start);
    if (end == std::string_view::npos) end = proc_cgroup_text.size();
    const std::string_view line = proc_cgroup_text.substr(start, end - start);
    if (line.rfind("0::", 0) == 0) return std::string(line.substr(3));
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<ContainerRef> parse_proc_cgroup(std::string_view text) {
  std::optional<ContainerRef> pod_only;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    const size_t first = line.find(':');
    const size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    auto ref = parse_cgroup_path(line.substr(second + 1));
    if (!ref) continue;
    if (!ref->container_id.empty()) return ref;
    // A pod-level path without a container (a v1 controller the runtime did not nest): keep
    // looking for a line that names the container too.
    if (!pod_only) pod_only = std::move(ref);
  }
  return pod_only;
}

namespace {

std::optional<std::string> read_proc_cgroup(pid_t pid, std::string_view proc_root) {
  std::ifstream file(std::string(proc_root) + "/" + std::to_string(pid) + "/cgroup");
  if (!file) return std::nullopt;
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

std::optional<ContainerRef> read_container_ref(pid_t pid, std::string_view proc_root) {
  const auto text = read_proc_cgroup(pid, proc_root);
  return text ? parse_proc_cgroup(*text) : std::nullopt;
}

std::optional<PodCgroup> read_pod_cgroup(pid_t pid, std::string_view proc_root) {
  const auto text = read_proc_cgroup(pid, proc_root);
  const auto path = text ? unified_cgroup_path(*text) : std::nullopt;
  auto pod_path = path ? pod_cgroup_of_path(*path) : std::nullopt;
  if (!pod_path) return std::nullopt;
  const auto ref = parse_cgroup_path(*pod_path);
  return PodCgroup{std::move(*pod_path), ref ? ref->pod_uid : ""};
}

std::string_view strip_runtime_prefix(std::string_view container_id) {
  const size_t scheme = container_id.find("://");
  return scheme == std::string_view::npos ? container_id : container_id.substr(scheme + 3);
}

}  // namespace ztrace::k8s
