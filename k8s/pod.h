#pragma once

// A pod as the agent keeps it: only what resource attributes and selection need, parsed from
// the API server's JSON (a malformed object is an error, never a crash).

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ztrace::k8s {

struct OwnerRef {
  std::string kind;  // "ReplicaSet", "StatefulSet", "DaemonSet", "Job", ...
  std::string name;
  bool operator==(const OwnerRef&) const = default;
};

struct PodContainer {
  std::string name;
  std::string id;  // without the runtime's "containerd://"; empty until the kubelet reports it
  bool operator==(const PodContainer&) const = default;
};

struct Pod {
  std::string uid;
  std::string namespace_name;
  std::string name;
  std::string node_name;
  std::string resource_version;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::optional<OwnerRef> controller;    // the ownerReference with controller: true
  std::vector<PodContainer> containers;  // status.containerStatuses and initContainerStatuses
  bool operator==(const Pod&) const = default;
};

// nullopt and `error` when a field the agent needs is missing or of the wrong type.
std::optional<Pod> parse_pod(const nlohmann::json& object, std::string* error);

// The controlling owner of any object (a ReplicaSet's Deployment, a Job's CronJob).
std::optional<OwnerRef> controller_of(const nlohmann::json& object);

}  // namespace ztrace::k8s
