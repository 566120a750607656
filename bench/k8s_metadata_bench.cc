// The agent's pod metadata alone (k8s::PodMetadata: the list and watch of this node's pods,
// the pod store, owner lookups), against a real API server: memory and CPU to sync, and in a
// steady state. bench/k8s_metadata.sh sets up the cluster and counts the requests server-side.
//
//   k8s_metadata_bench --kubeconfig FILE --node NAME [--steady-seconds N]
//
// Prints one JSON object: pods known, sync time, RSS (before start, synced, at the end), CPU
// (user+system) to sync and over the steady window.

#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "k8s/api_config.h"
#include "k8s/pod_metadata.h"

namespace {

long rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double cpu_ms() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  std::string kubeconfig, node;
  int steady_seconds = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--kubeconfig"))
      kubeconfig = argv[i + 1];
    else if (!std::strcmp(argv[i], "--node"))
      node = argv[i + 1];
    else if (!std::strcmp(argv[i], "--steady-seconds"))
      steady_seconds = std::stoi(argv[i + 1]);
  }
  if (kubeconfig.empty() || node.empty()) {
    std::cerr << "usage: k8s_metadata_bench --kubeconfig FILE --node NAME [--steady-seconds N]\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);  // a connection the server closed is an error, not an exit
  std::string error;
  auto api = ztrace::k8s::read_kubeconfig(kubeconfig, &error);
  if (!api) {
    std::cerr << error << "\n";
    return 2;
  }
  const long rss_before = rss_kb();
  const double cpu_before = cpu_ms();
  ztrace::k8s::PodMetadata pods({.enabled = true, .node_name = node}, std::move(*api));
  const auto started = std::chrono::steady_clock::now();
  pods.start();
  if (!pods.wait_synced(std::chrono::seconds(120))) {
    std::cerr << "not synced after 120 s\n";
    return 1;
  }
  const double sync_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  // Owner lookups and the watch's first bookmark settle.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long rss_synced = rss_kb();
  const double cpu_synced = cpu_ms();
  const auto steady_from = std::chrono::system_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(steady_seconds));
  const auto steady_to = std::chrono::system_clock::now();
  const double cpu_end = cpu_ms();
  const long rss_end = rss_kb();
  const auto unix_s = [](auto t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
  };
  std::printf(
      "{\"pods_known\":%zu,\"sync_ms\":%.0f,\"rss_before_kb\":%ld,\"rss_synced_kb\":%ld,"
      "\"rss_end_kb\":%ld,\"cpu_sync_ms\":%.1f,\"cpu_steady_ms\":%.1f,\"steady_seconds\":%d,"
      "\"steady_from_unix\":%.3f,\"steady_to_unix\":%.3f,\"lists\":%llu,\"watch_events\":%llu,"
      "\"owner_lookups\":%llu,\"errors\":%llu}\n",
      pods.pod_count(), sync_ms, rss_before, rss_synced, rss_end, cpu_synced - cpu_before,
      cpu_end - cpu_synced, steady_seconds, unix_s(steady_from), unix_s(steady_to),
      static_cast<unsigned long long>(pods.counters().lists.load()),
      static_cast<unsigned long long>(pods.counters().watch_events.load()),
      static_cast<unsigned long long>(pods.counters().owner_lookups.load()),
      static_cast<unsigned long long>(pods.counters().errors.load()));
  pods.stop();
  return 0;
}
