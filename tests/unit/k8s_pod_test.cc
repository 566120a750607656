// Pod objects from the API server → the agent's pod, its resource attributes and selection.

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "k8s/pod.h"
#include "k8s/pod_attributes.h"
#include "k8s/pod_selector.h"
#include "k8s/pod_store.h"

using nlohmann::json;
using namespace ztrace::k8s;

namespace {

const std::string kId = "4b1c0c6bb9e6f4a4ec1a4d1e6d2c0a9a4d3bbf2f1a6f1f36f0b3e1b5a3d8c2e1";
const std::string kSidecarId = "9a1c0c6bb9e6f4a4ec1a4d1e6d2c0a9a4d3bbf2f1a6f1f36f0b3e1b5a3d8c2e9";

json pod_json() {
  return json::parse(R"({
    "kind": "Pod", "apiVersion": "v1",
    "metadata": {
      "name": "shop-7d9f8c6b5-x2x9k", "namespace": "prod", "uid": "0f3f8a2c-5a4e-4d8b-9c3a-2f6e1d7b8a90",
      "resourceVersion": "1234",
      "labels": {"ztrace.io/trace": "true", "pod-template-hash": "7d9f8c6b5"},
      "ownerReferences": [
        {"apiVersion": "v1", "kind": "Node", "name": "not-the-controller", "uid": "x"},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "shop-7d9f8c6b5", "uid": "y", "controller": true}
      ]
    },
    "spec": {"nodeName": "node-a", "containers": [{"name": "app"}, {"name": "proxy"}]},
    "status": {"containerStatuses": [
      {"name": "app", "containerID": "containerd://)" +
                     kId + R"("},
      {"name": "proxy", "containerID": "cri-o://)" +
                     kSidecarId + R"("}
    ]}
  })");
}

std::string string_of(const ztrace::spans::Attributes& attributes, std::string_view key) {
  for (const auto& a : attributes) {
    if (a.key == key) return std::get<std::string>(a.value);
  }
  return "<absent>";
}

}  // namespace

TEST_CASE("a pod object is parsed", "[k8s]") {
  std::string error;
  const auto pod = parse_pod(pod_json(), &error);
  REQUIRE(pod);
  CHECK(pod->uid == "0f3f8a2c-5a4e-4d8b-9c3a-2f6e1d7b8a90");
  CHECK(pod->name == "shop-7d9f8c6b5-x2x9k");
  CHECK(pod->namespace_name == "prod");
  CHECK(pod->node_name == "node-a");
  CHECK(pod->resource_version == "1234");
  CHECK(pod->labels.at("ztrace.io/trace") == "true");
  REQUIRE(pod->controller);
  CHECK(*pod->controller == OwnerRef{"ReplicaSet", "shop-7d9f8c6b5"});
  REQUIRE(pod->containers.size() == 2);
  CHECK(pod->containers[0] == PodContainer{"app", kId});
  CHECK(pod->containers[1] == PodContainer{"proxy", kSidecarId});
}

TEST_CASE("a pending pod has no containers yet", "[k8s]") {
  json object = pod_json();
  object.erase("status");
  std::string error;
  const auto pod = parse_pod(object, &error);
  REQUIRE(pod);
  CHECK(pod->containers.empty());
}

TEST_CASE("malformed pod objects are rejected with a reason", "[k8s]") {
  struct Case {
    const char* name;
    json object;
    std::string error;
  };
  json no_uid = pod_json();
  no_uid["metadata"].erase("uid");
  json uid_number = pod_json();
  uid_number["metadata"]["uid"] = 42;
  json labels_list = pod_json();
  labels_list["metadata"]["labels"] = json::array({"a"});
  json label_number = pod_json();
  label_number["metadata"]["labels"]["n"] = 1;
  json statuses_object = pod_json();
  statuses_object["status"]["containerStatuses"] = json::object();
  json status_entry = pod_json();
  status_entry["status"]["containerStatuses"][0]["containerID"] = true;
  const Case cases[] = {
      {"not an object", json::array(), "not an object"},
      {"no metadata", json::object(), "no metadata"},
      {"no uid", no_uid, "metadata.uid missing or not a string"},
      {"uid not a string", uid_number, "metadata.uid missing or not a string"},
      {"labels a list", labels_list, "metadata.labels not a string map"},
      {"a label value a number", label_number, "metadata.labels not a string map"},
      {"containerStatuses an object", statuses_object, "status.containerStatuses not an array"},
      {"a containerID not a string", status_entry, "status.containerStatuses: malformed entry"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    std::string error;
    CHECK_FALSE(parse_pod(c.object, &error));
    CHECK(error == c.error);
  }
}

TEST_CASE("pod resource attributes follow the OpenTelemetry conventions", "[k8s]") {
  std::string error;
  const auto pod = parse_pod(pod_json(), &error);
  REQUIRE(pod);
  const std::vector<OwnerRef> owners = {{"ReplicaSet", "shop-7d9f8c6b5"}, {"Deployment", "shop"}};
  ztrace::spans::Attributes attributes;
  attributes.push_back({"service.name", std::string("python3")});
  add_pod_attributes(*pod, owners, kId, "ignored-node", attributes);
  CHECK(string_of(attributes, "k8s.namespace.name") == "prod");
  CHECK(string_of(attributes, "k8s.pod.name") == "shop-7d9f8c6b5-x2x9k");
  CHECK(string_of(attributes, "k8s.pod.uid") == "0f3f8a2c-5a4e-4d8b-9c3a-2f6e1d7b8a90");
  CHECK(string_of(attributes, "k8s.node.name") == "node-a");
  CHECK(string_of(attributes, "k8s.container.name") == "app");
  CHECK(string_of(attributes, "container.id") == kId);
  CHECK(string_of(attributes, "k8s.replicaset.name") == "shop-7d9f8c6b5");
  CHECK(string_of(attributes, "k8s.deployment.name") == "shop");
  CHECK(string_of(attributes, "service.name") == "shop");  // the outermost owner
  CHECK(string_of(attributes, "service.namespace") == "prod");
  CHECK(string_of(attributes, "service.version") == "<absent>");
  CHECK(string_of(attributes, "service.instance.id") == "prod.shop-7d9f8c6b5-x2x9k.app");
  // One service.name, replaced, not added.
  CHECK(std::count_if(attributes.begin(), attributes.end(),
                      [](const auto& a) { return a.key == "service.name"; }) == 1);
}

TEST_CASE("service.name precedence: annotation, app.kubernetes.io/name, owner, pod", "[k8s]") {
  std::string error;
  auto pod = *parse_pod(pod_json(), &error);
  const std::vector<OwnerRef> owners = {{"ReplicaSet", "shop-7d9f8c6b5"}, {"Deployment", "shop"}};
  auto service_of = [&](const Pod& p, const std::vector<OwnerRef>& o) {
    ztrace::spans::Attributes attributes;
    add_pod_attributes(p, o, kId, "", attributes);
    return string_of(attributes, "service.name");
  };
  CHECK(service_of(pod, {}) == "shop-7d9f8c6b5-x2x9k");
  CHECK(service_of(pod, owners) == "shop");
  pod.labels["app.kubernetes.io/name"] = "shop-frontend";
  pod.labels["app.kubernetes.io/version"] = "1.4.2";
  CHECK(service_of(pod, owners) == "shop-frontend");
  pod.annotations["resource.opentelemetry.io/service.name"] = "checkout";
  CHECK(service_of(pod, owners) == "checkout");
  ztrace::spans::Attributes attributes;
  add_pod_attributes(pod, owners, kId, "", attributes);
  CHECK(string_of(attributes, "service.version") == "1.4.2");
}

TEST_CASE("attributes from the cgroup alone while the pod is unknown", "[k8s]") {
  ztrace::spans::Attributes attributes;
  add_cgroup_attributes("0f3f8a2c-5a4e-4d8b-9c3a-2f6e1d7b8a90", kId, "node-a", attributes);
  CHECK(attributes.size() == 3);
  CHECK(string_of(attributes, "container.id") == kId);
  CHECK(string_of(attributes, "k8s.pod.uid") == "0f3f8a2c-5a4e-4d8b-9c3a-2f6e1d7b8a90");
  CHECK(string_of(attributes, "k8s.node.name") == "node-a");
}

TEST_CASE("pod selector: labels, namespace globs, empty selects all", "[k8s]") {
  std::string error;
  const auto pod = *parse_pod(pod_json(), &error);
  PodSelector selector;
  CHECK(selector.empty());
  CHECK(selector.matches(pod));
  REQUIRE(selector.add_label("ztrace.io/trace=true", &error));
  CHECK(selector.matches(pod));
  REQUIRE(selector.add_label("tier=web", &error));
  CHECK_FALSE(selector.matches(pod));  // all labels must match
  selector.labels.erase("tier");
  selector.namespaces = {"pr*"};
  CHECK(selector.matches(pod));
  selector.exclude_namespaces = {"prod"};
  CHECK_FALSE(selector.matches(pod));
  selector.exclude_namespaces.clear();
  selector.namespaces = {"staging"};
  CHECK_FALSE(selector.matches(pod));
}

TEST_CASE("pod selector: malformed labels are refused with a reason", "[k8s]") {
  PodSelector selector;
  std::string error;
  CHECK_FALSE(selector.add_label("no-equals", &error));
  CHECK(error == "pod label 'no-equals': must be KEY=VALUE");
  CHECK_FALSE(selector.add_label("=x", &error));
  CHECK(error == "pod label '=x': '' is not a label key");
  CHECK_FALSE(selector.add_label("a b=c", &error));
  CHECK(error == "pod label 'a b=c': 'a b' is not a label key");
  CHECK_FALSE(selector.add_label("Bad.Prefix/name=x", &error));
  CHECK(selector.add_label("example.com/tier=", &error));  // an empty value is a value
  CHECK(selector.labels.at("example.com/tier").empty());
}

TEST_CASE("pod store: changes reach the listener once, deletions at re-list", "[k8s]") {
  std::string error;
  PodStore store;
  std::vector<std::string> seen;
  store.set_listener([&](const PodPtr& before, const PodPtr& after) {
    seen.push_back(std::string(before ? "B" : "-") + (after ? "A" : "-") + ":" +
                   (after ? after->pod.name : before->pod.name));
  });
  PodEntry a{*parse_pod(pod_json(), &error), {}};
  PodEntry b = a;
  b.pod.uid = "11111111-1111-1111-1111-111111111111";
  b.pod.name = "other";
  store.replace_all({a, b});
  CHECK(store.size() == 2);
  PodEntry a2 = a;
  a2.pod.resource_version = "9999";  // a status update that changes nothing we use
  store.upsert(a2);
  a2.pod.labels.erase("ztrace.io/trace");
  store.upsert(a2);
  store.replace_all({a2});  // b was deleted while we were not watching
  CHECK(store.size() == 1);
  CHECK(store.find(b.pod.uid) == nullptr);
  CHECK(seen == std::vector<std::string>{"-A:shop-7d9f8c6b5-x2x9k", "-A:other",
                                         "BA:shop-7d9f8c6b5-x2x9k", "B-:other"});
}
