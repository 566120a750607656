#include "userspace/agent/on_demand_sampling.h"

#include <charconv>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "probes/go/go_tracer.h"
#include "userspace/agent/socket_tracer.h"
#include "userspace/spans/clock.h"

namespace ztrace::agent {
namespace {

std::string error_json(const std::string& error) {
  return nlohmann::ordered_json{{"error", error}}.dump();
}

std::string rules_array(const std::vector<sampling::Rule>& rules, uint64_t now_ns) {
  std::string out = "[";
  for (const auto& rule : rules) {
    if (out.size() > 1) out += ',';
    out += sampling::rule_json(rule, now_ns);
  }
  return out + "]";
}

// Every process under /proc with its resource (a rule may select one not seen yet).
sampling::RunningProcesses running_processes(process::ProcessTable& processes) {
  sampling::RunningProcesses running;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    uint32_t pid = 0;
    const auto [end, parsed] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (parsed != std::errc() || end != name.data() + name.size() || pid == 0) continue;
    if (running.size() >= sampling::ProcessSampling::kMaxProcesses) break;
    running.emplace_back(pid, processes.get(static_cast<pid_t>(pid)));
  }
  return running;
}

}  // namespace

std::unique_ptr<sampling::ProcessSampling> make_process_sampling(SocketTracer& tracer,
                                                                 probes::go::GoTracer* go_tracer,
                                                                 process::ProcessTable& processes) {
  sampling::ProcessThresholdSink sink;
  sink.set_process_threshold = [&tracer](uint32_t pid, std::optional<uint64_t> threshold) {
    tracer.set_process_sampling_threshold(static_cast<pid_t>(pid), threshold);
  };
  sink.set_in_use = [&tracer, go_tracer](bool in_use) {
    tracer.set_process_thresholds_in_use(in_use);
    if (go_tracer) go_tracer->set_process_thresholds_in_use(in_use);
  };
  sink.running_processes = [&processes] { return running_processes(processes); };
  return std::make_unique<sampling::ProcessSampling>(std::move(sink));
}

int enable_rule(sampling::ProcessSampling& sampling, const std::string& body, std::string* answer) {
  std::string error;
  const auto request = sampling::parse_enable_request(body, &error);
  if (!request) {
    *answer = error_json(error);
    return 400;
  }
  const uint64_t now_ns = spans::KernelClock::monotonic_now_ns();
  const auto rule = sampling.enable(*request, now_ns, &error);
  if (!rule) {
    *answer = error_json(error);
    return 409;
  }
  auto reply = nlohmann::ordered_json::parse(sampling::rule_json(*rule, now_ns));
  reply["applied"] = sampling.active();
  *answer = reply.dump();
  return 200;
}

int disable_rule(sampling::ProcessSampling& sampling, const std::string& body,
                 std::string* answer) {
  std::string error;
  const auto request = sampling::parse_disable_request(body, &error);
  if (!request) {
    *answer = error_json(error);
    return 400;
  }
  const uint64_t now_ns = spans::KernelClock::monotonic_now_ns();
  const auto removed = sampling.disable(*request, now_ns);
  if (removed.empty()) {
    *answer = error_json("no rule matches");
    return 404;
  }
  *answer = R"({"disabled":)" + rules_array(removed, now_ns) + "}";
  return 200;
}

std::string rules_json(const sampling::ProcessSampling& sampling) {
  return rules_array(sampling.rules(), spans::KernelClock::monotonic_now_ns());
}

}  // namespace ztrace::agent
