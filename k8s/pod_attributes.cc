#include "k8s/pod_attributes.h"

#include <string>

namespace ztrace::k8s {
namespace {

constexpr std::string_view kServiceNameAnnotation = "resource.opentelemetry.io/service.name";
constexpr std::string_view kServiceNamespaceAnnotation =
    "resource.opentelemetry.io/service.namespace";
constexpr std::string_view kServiceVersionAnnotation = "resource.opentelemetry.io/service.version";
constexpr std::string_view kAppNameLabel = "app.kubernetes.io/name";
constexpr std::string_view kAppVersionLabel = "app.kubernetes.io/version";

// Owner kinds with a semantic-convention attribute.
spans::AttributeKey owner_key(std::string_view kind, bool* known) {
  *known = true;
  if (kind == "ReplicaSet") return "k8s.replicaset.name";
  if (kind == "Deployment") return "k8s.deployment.name";
  if (kind == "StatefulSet") return "k8s.statefulset.name";
  if (kind == "DaemonSet") return "k8s.daemonset.name";
  if (kind == "Job") return "k8s.job.name";
  if (kind == "CronJob") return "k8s.cronjob.name";
  *known = false;
  return "k8s.unknown.name";
}

const std::string* find(const std::map<std::string, std::string>& map, std::string_view key) {
  const auto it = map.find(std::string(key));
  return it == map.end() || it->second.empty() ? nullptr : &it->second;
}

}  // namespace

void put_attribute(spans::Attributes& attributes, std::string_view key,
                   spans::AttributeValue value) {
  for (spans::Attribute& attribute : attributes) {
    if (attribute.key == key) {
      attribute.value = std::move(value);
      return;
    }
  }
  attributes.push_back({spans::AttributeKey::intern(key), std::move(value)});
}

void add_cgroup_attributes(std::string_view pod_uid, std::string_view container_id,
                           std::string_view node_name, spans::Attributes& attributes) {
  if (!container_id.empty()) put_attribute(attributes, "container.id", std::string(container_id));
  if (!pod_uid.empty()) put_attribute(attributes, "k8s.pod.uid", std::string(pod_uid));
  if (!node_name.empty() && !pod_uid.empty()) {
    put_attribute(attributes, "k8s.node.name", std::string(node_name));
  }
}

void add_pod_attributes(const Pod& pod, const std::vector<OwnerRef>& owners,
                        std::string_view container_id, std::string_view node_name,
                        spans::Attributes& attributes) {
  put_attribute(attributes, "k8s.namespace.name", pod.namespace_name);
  put_attribute(attributes, "k8s.pod.name", pod.name);
  put_attribute(attributes, "k8s.pod.uid", pod.uid);
  const std::string& node = pod.node_name.empty() ? std::string(node_name) : pod.node_name;
  if (!node.empty()) put_attribute(attributes, "k8s.node.name", node);
  const std::string* container_name = nullptr;
  for (const PodContainer& container : pod.containers) {
    if (!container_id.empty() && container.id == container_id) container_name = &container.name;
  }
  if (!container_id.empty()) put_attribute(attributes, "container.id", std::string(container_id));
  if (container_name) put_attribute(attributes, "k8s.container.name", *container_name);
  for (const OwnerRef& owner : owners) {
    bool known = false;
    const spans::AttributeKey key = owner_key(owner.kind, &known);
    if (known) put_attribute(attributes, key, owner.name);
  }

  std::string service_name = pod.name;
  if (const std::string* v = find(pod.annotations, kServiceNameAnnotation)) {
    service_name = *v;
  } else if (const std::string* v = find(pod.labels, kAppNameLabel)) {
    service_name = *v;
  } else if (!owners.empty()) {
    service_name = owners.back().name;
  }
  put_attribute(attributes, "service.name", service_name);
  const std::string* service_namespace = find(pod.annotations, kServiceNamespaceAnnotation);
  put_attribute(attributes, "service.namespace",
                service_namespace ? *service_namespace : pod.namespace_name);
  const std::string* version = find(pod.annotations, kServiceVersionAnnotation);
  if (!version) version = find(pod.labels, kAppVersionLabel);
  if (version) put_attribute(attributes, "service.version", *version);
  // The conventions' recommended form: stable across restarts of the same container, unique
  // within the cluster.
  put_attribute(attributes, "service.instance.id",
                pod.namespace_name + "." + pod.name + "." +
                    (container_name ? *container_name : std::string(container_id)));
}

}  // namespace ztrace::k8s
