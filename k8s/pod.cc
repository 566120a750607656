#include "k8s/pod.h"

#include <nlohmann/json.hpp>

namespace ztrace::k8s {
namespace {

using nlohmann::json;

// A string field, "" when absent; false when present but not a string.
bool string_field(const json& object, const char* key, std::string& out) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bool string_map(const json& object, const char* key, std::map<std::string, std::string>& out) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return true;
  if (!it->is_object()) return false;
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return false;
    out[k] = v.get<std::string>();
  }
  return true;
}

}  // namespace

std::optional<OwnerRef> controller_of(const json& object) {
  if (!object.is_object()) return std::nullopt;
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return std::nullopt;
  const auto owners = metadata->find("ownerReferences");
  if (owners == metadata->end() || !owners->is_array()) return std::nullopt;
  for (const json& owner : *owners) {
    if (!owner.is_object() || owner.value("controller", false) != true) continue;
    OwnerRef ref;
    if (!string_field(owner, "kind", ref.kind) || !string_field(owner, "name", ref.name)) continue;
    if (!ref.kind.empty() && !ref.name.empty()) return ref;
  }
  return std::nullopt;
}

std::optional<Pod> parse_pod(const json& object, std::string* error) {
  auto fail = [&](const std::string& what) {
    *error = what;
    return std::nullopt;
  };
  if (!object.is_object()) return fail("not an object");
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return fail("no metadata");
  Pod pod;
  if (!string_field(*metadata, "uid", pod.uid) || pod.uid.empty()) {
    return fail("metadata.uid missing or not a string");
  }
  if (!string_field(*metadata, "name", pod.name) || pod.name.empty()) {
    return fail("metadata.name missing or not a string");
  }
  if (!string_field(*metadata, "namespace", pod.namespace_name) || pod.namespace_name.empty()) {
    return fail("metadata.namespace missing or not a string");
  }
  if (!string_field(*metadata, "resourceVersion", pod.resource_version)) {
    return fail("metadata.resourceVersion not a string");
  }
  if (!string_map(*metadata, "labels", pod.labels)) return fail("metadata.labels not a string map");
  if (!string_map(*metadata, "annotations", pod.annotations)) {
    return fail("metadata.annotations not a string map");
  }
  pod.controller = controller_of(object);
  if (const auto spec = object.find("spec"); spec != object.end() && spec->is_object()) {
    if (!string_field(*spec, "nodeName", pod.node_name)) return fail("spec.nodeName not a string");
  }
  const auto status = object.find("status");
  if (status == object.end() || !status->is_object()) return pod;  // pending: no containers yet
  for (const char* list :
       {"initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"}) {
    const auto statuses = status->find(list);
    if (statuses == status->end() || statuses->is_null()) continue;
    if (!statuses->is_array()) return fail(std::string("status.") + list + " not an array");
    for (const json& entry : *statuses) {
      PodContainer container;
      std::string id;
      if (!entry.is_object() || !string_field(entry, "name", container.name) ||
          !string_field(entry, "containerID", id)) {
        return fail(std::string("status.") + list + ": malformed entry");
      }
      container.id =
          std::string(id.substr(id.find("://") == std::string::npos ? 0 : id.find("://") + 3));
      pod.containers.push_back(std::move(container));
    }
  }
  return pod;
}

}  // namespace ztrace::k8s
