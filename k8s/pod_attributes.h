#pragma once

// The OpenTelemetry resource attributes of a process in a pod (semantic conventions, k8s.* and
// container.*), and service.* derived from the pod when the target does not name itself.

#include <string_view>
#include <vector>

#include "k8s/pod.h"
#include "userspace/spans/span.h"

namespace ztrace::k8s {

// `owners`: the controller chain, nearest first (ReplicaSet, then its Deployment).
// Sets (replacing same-named keys): k8s.namespace.name, k8s.pod.name, k8s.pod.uid,
// k8s.node.name, k8s.container.name (when `container_id` is one of the pod's), container.id,
// k8s.<owner kind>.name for each owner, and service.name, service.namespace, service.version,
// service.instance.id. service.name is, first found: the annotation
// resource.opentelemetry.io/service.name, the label app.kubernetes.io/name, the outermost
// owner's name, the pod's name. The caller applies the target's own OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES afterwards, so they win.
void add_pod_attributes(const Pod& pod, const std::vector<OwnerRef>& owners,
                        std::string_view container_id, std::string_view node_name,
                        spans::Attributes& attributes);

// What is known from the cgroup alone, while the pod's metadata is not (yet) at hand.
void add_cgroup_attributes(std::string_view pod_uid, std::string_view container_id,
                           std::string_view node_name, spans::Attributes& attributes);

// Sets `key` to `value`, replacing an attribute of the same name.
void put_attribute(spans::Attributes& attributes, std::string_view key,
                   spans::AttributeValue value);

}  // namespace ztrace::k8s
