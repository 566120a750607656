// The pod watcher's protocol handling against a scripted HTTP server: a stand-in for the API
// server, because a real one cannot be made to answer 410 Gone, a malformed event or a
// bookmark on cue. (tests/e2e/k8s_test.cc runs the watcher against the real kube-apiserver.)

#include <httplib.h>

#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "k8s/pod_watcher.h"

using namespace ztrace::k8s;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json pod(const std::string& name, const std::string& uid, const std::string& rv,
         json labels = json::object(), const std::string& node = "node-a") {
  json p = {{"metadata",
             {{"name", name},
              {"namespace", "ns"},
              {"uid", uid},
              {"resourceVersion", rv},
              {"labels", labels}}},
            {"spec", {{"nodeName", node}}}};
  return p;
}

std::string event(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return predicate();
}

}  // namespace

TEST_CASE("pod watcher: list, watch, bookmark, malformed event, 410 re-list, owners", "[k8s]") {
  const std::string uid_a = "aaaaaaaa-0000-0000-0000-000000000001";
  const std::string uid_b = "bbbbbbbb-0000-0000-0000-000000000002";
  json b = pod("b-7f9c", uid_b, "11");
  b["metadata"]["ownerReferences"] =
      json::array({{{"kind", "ReplicaSet"}, {"name", "b-rs"}, {"controller", true}, {"uid", "x"}}});

  httplib::Server server;
  std::mutex mutex;
  std::vector<std::string> requests;  // path?query of each pods request
  std::atomic<int> lists{0}, watches{0};
  std::atomic<bool> closing{false};
  server.Get("/api/v1/pods", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mutex);
      std::string query;
      for (const auto& [k, v] : req.params) query += k + "=" + v + "&";
      requests.push_back(query);
    }
    if (!req.has_param("watch")) {
      const int n = ++lists;
      json list = {{"kind", "PodList"}, {"metadata", {{"resourceVersion", n == 1 ? "10" : "20"}}}};
      list["items"] = n == 1 ? json::array({pod("a", uid_a, "10")}) : json::array({b});
      res.set_content(list.dump(), "application/json");
      return;
    }
    const int n = ++watches;
    std::string body;
    if (n == 1) {
      body = event("ADDED", b) + "this is not json\n" +
             event("BOOKMARK", {{"metadata", {{"resourceVersion", "12"}}}}) +
             event("ADDED", json{{"metadata", {{"name", "no-uid"}}}}) +
             event("ERROR", {{"kind", "Status"}, {"code", 410}, {"reason", "Expired"}});
    } else {
      json b2 = b;
      b2["metadata"]["resourceVersion"] = "21";
      b2["metadata"]["labels"] = {{"ztrace.io/trace", "true"}};
      body = event("MODIFIED", b2);
    }
    res.set_chunked_content_provider("application/json",
                                     [body, n, &closing](size_t offset, httplib::DataSink& sink) {
                                       if (offset == 0) {
                                         sink.write(body.data(), body.size());
                                         if (n == 1) sink.done();
                                         return true;
                                       }
                                       // The second watch stays open, as a real one does, until the
                                       // test ends.
                                       while (!closing && sink.is_writable())
                                         std::this_thread::sleep_for(20ms);
                                       sink.done();
                                       return true;
                                     });
  });
  server.Get("/apis/apps/v1/namespaces/ns/replicasets/b-rs", [&](const httplib::Request&,
                                                                 httplib::Response& res) {
    json rs = {{"metadata",
                {{"name", "b-rs"},
                 {"ownerReferences",
                  json::array({{{"kind", "Deployment"}, {"name", "b"}, {"controller", true}}})}}}};
    res.set_content(rs.dump(), "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });

  PodStore store;
  WatcherOptions options;
  options.api.server = "http://127.0.0.1:" + std::to_string(port);
  options.api.source = "test";
  options.node_name = "node-a";
  options.min_backoff = 50ms;
  PodWatcher watcher(options, store);
  watcher.start();
  REQUIRE(watcher.wait_synced(5s));
  const bool settled = eventually([&] {
    auto entry = store.find(uid_b);
    return watches >= 2 && entry && entry->pod.labels.count("ztrace.io/trace") && store.size() == 1;
  });
  CHECK(settled);
  const auto& c = watcher.counters();
  CHECK(c.lists == 2);
  CHECK(c.relists_gone == 1);
  CHECK(c.bookmarks == 1);
  CHECK(c.malformed == 2);  // the line that is not JSON, the pod without a uid
  CHECK(c.errors == 0);
  CHECK(c.connected);
  CHECK(store.find(uid_a) == nullptr);  // gone by the second list
  auto entry = store.find(uid_b);
  REQUIRE(entry);
  CHECK(entry->owners == std::vector<OwnerRef>{{"ReplicaSet", "b-rs"}, {"Deployment", "b"}});
  CHECK(c.owner_lookups == 1);  // cached for the later events of the same ReplicaSet
  closing = true;
  watcher.stop();
  server.stop();
  serving.join();
  std::lock_guard lock(mutex);
  REQUIRE(requests.size() >= 4);
  // Only this node's pods; the first watch starts at the first list's version, the second at
  // the second's, with bookmarks asked for.
  CHECK(requests[0].find("fieldSelector=spec.nodeName=node-a&") != std::string::npos);
  CHECK(requests[0].find("watch") == std::string::npos);
  CHECK(requests[1].find("resourceVersion=10&") != std::string::npos);
  CHECK(requests[1].find("allowWatchBookmarks=true&") != std::string::npos);
  CHECK(requests[2].find("watch") == std::string::npos);
  CHECK(requests[3].find("resourceVersion=20&") != std::string::npos);
}

TEST_CASE("pod watcher: an unreachable API server is counted and retried, not fatal", "[k8s]") {
  // Port 1 (tcpmux): nothing listens there on a test machine; connecting is refused at once.
  const int port = 1;
  PodStore store;
  WatcherOptions options;
  options.api.server = "http://127.0.0.1:" + std::to_string(port);
  options.node_name = "node-a";
  options.min_backoff = 20ms;
  options.max_backoff = 40ms;
  PodWatcher watcher(options, store);
  watcher.start();
  CHECK_FALSE(watcher.wait_synced(300ms));
  CHECK(eventually([&] { return watcher.counters().errors >= 3; }));
  CHECK_FALSE(watcher.counters().connected);
  watcher.stop();  // prompt, though it is backing off
}
