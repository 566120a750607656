// Process → container → pod from /proc/PID/cgroup: every cgroup driver, runtime and cgroup
// version the kubelet produces, as the lines appear in /proc/PID/cgroup.

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "k8s/cgroup.h"

using ztrace::k8s::ContainerRef;
using ztrace::k8s::parse_proc_cgroup;

namespace {

const std::string kId = "4b1c0c6bb9e6f4a4ec1a4d1e6d2c0a9a4d3bbf2f1a6f1f36f0b3e1b5a3d8c2e1";
const std::string kUid = "0f3f8a2c-5a4e-4d8b-9c3a-2f6e1d7b8a90";
const std::string kUidUnderscored = "0f3f8a2c_5a4e_4d8b_9c3a_2f6e1d7b8a90";

struct Case {
  const char* name;
  std::string text;
  std::optional<ContainerRef> expected;
};

}  // namespace

TEST_CASE("container id and pod uid from /proc/PID/cgroup", "[k8s]") {
  const Case cases[] = {
      {"cgroup v2, systemd driver, containerd",
       "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscored +
           ".slice/cri-containerd-" + kId + ".scope\n",
       ContainerRef{kId, kUid}},
      {"cgroup v2, systemd driver, guaranteed QoS (no QoS slice), CRI-O",
       "0::/kubepods.slice/kubepods-pod" + kUidUnderscored + ".slice/crio-" + kId + ".scope\n",
       ContainerRef{kId, kUid}},
      {"cgroup v2, systemd driver, Docker (dockershim)",
       "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscored +
           ".slice/docker-" + kId + ".scope\n",
       ContainerRef{kId, kUid}},
      {"cgroup v2, cgroupfs driver, containerd",
       "0::/kubepods/besteffort/pod" + kUid + "/" + kId + "\n", ContainerRef{kId, kUid}},
      {"cgroup v2, cgroupfs driver, guaranteed QoS", "0::/kubepods/pod" + kUid + "/" + kId + "\n",
       ContainerRef{kId, kUid}},
      {"cgroup v1, cgroupfs driver, Docker",
       "12:pids:/kubepods/burstable/pod" + kUid + "/" + kId +
           "\n11:memory:/kubepods/burstable/pod" + kUid + "/" + kId +
           "\n1:name=systemd:/kubepods/burstable/pod" + kUid + "/" + kId + "\n",
       ContainerRef{kId, kUid}},
      {"hybrid: v1 controllers and the unified line agree",
       "12:cpu,cpuacct:/kubepods/burstable/pod" + kUid + "/" + kId +
           "\n1:name=systemd:/kubepods/burstable/pod" + kUid + "/" + kId +
           "\n0::/kubepods/burstable/pod" + kUid + "/" + kId + "\n",
       ContainerRef{kId, kUid}},
      {"hybrid: a v1 line stops at the pod, the unified one names the container",
       "3:freezer:/kubepods/besteffort/pod" + kUid + "\n0::/kubepods/besteffort/pod" + kUid + "/" +
           kId + "\n",
       ContainerRef{kId, kUid}},
      {"the pause container's cgroup under a pod's slice (pod only, no container scope)",
       "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscored +
           ".slice\n",
       ContainerRef{"", kUid}},
      {"CRI-O's monitor (conmon) is not the container",
       "0::/kubepods.slice/kubepods-pod" + kUidUnderscored + ".slice/crio-conmon-" + kId +
           ".scope\n",
       ContainerRef{"", kUid}},
      {"Docker without Kubernetes, systemd driver", "0::/system.slice/docker-" + kId + ".scope\n",
       ContainerRef{kId, ""}},
      {"Docker without Kubernetes, cgroupfs driver", "0::/docker/" + kId + "\n",
       ContainerRef{kId, ""}},
      {"a host process under systemd", "0::/system.slice/ssh.service\n", std::nullopt},
      {"a host process, hybrid",
       "12:pids:/user.slice\n1:name=systemd:/user.slice/session-3.scope\n0::/user.slice\n",
       std::nullopt},
      {"the root cgroup", "0::/\n", std::nullopt},
      {"empty file", "", std::nullopt},
      {"malformed lines are skipped", "garbage\n0:/no-third-field\n", std::nullopt},
      {"a pod-like name that is not a uid", "0::/kubepods/besteffort/podnotauid/" + kId + "\n",
       ContainerRef{kId, ""}},
      {"a 63-digit id is not a container id",
       "0::/kubepods/besteffort/pod" + kUid + "/" + kId.substr(1) + "\n", ContainerRef{"", kUid}},
      {"upper-case hex is not what runtimes write",
       "0::/docker/4B1C0C6BB9E6F4A4EC1A4D1E6D2C0A9A4D3BBF2F1A6F1F36F0B3E1B5A3D8C2E1\n",
       std::nullopt},
      {"no trailing newline", "0::/kubepods/besteffort/pod" + kUid + "/" + kId,
       ContainerRef{kId, kUid}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(parse_proc_cgroup(c.text) == c.expected);
  }
}

TEST_CASE("runtime prefixes of a pod status' containerID", "[k8s]") {
  CHECK(ztrace::k8s::strip_runtime_prefix("containerd://" + kId) == kId);
  CHECK(ztrace::k8s::strip_runtime_prefix("cri-o://" + kId) == kId);
  CHECK(ztrace::k8s::strip_runtime_prefix("docker://" + kId) == kId);
  CHECK(ztrace::k8s::strip_runtime_prefix(kId) == kId);
}

TEST_CASE("a pod's own cgroup, where injection attaches", "[k8s]") {
  using ztrace::k8s::pod_cgroup_of_path;
  using ztrace::k8s::unified_cgroup_path;
  CHECK(pod_cgroup_of_path("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                           kUidUnderscored + ".slice/cri-containerd-" + kId + ".scope") ==
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscored +
            ".slice");
  CHECK(pod_cgroup_of_path("/kubepods/besteffort/pod" + kUid + "/" + kId) ==
        "/kubepods/besteffort/pod" + kUid);
  CHECK(pod_cgroup_of_path("/kubepods/besteffort/pod" + kUid) == "/kubepods/besteffort/pod" + kUid);
  CHECK(pod_cgroup_of_path("/system.slice/docker-" + kId + ".scope") == std::nullopt);
  CHECK(pod_cgroup_of_path("/user.slice/session-3.scope") == std::nullopt);
  // Hybrid hosts: the v2 line among v1 ones.
  CHECK(unified_cgroup_path("12:memory:/kubepods/x\n0::/kubepods/besteffort/pod" + kUid + "/" +
                            kId + "\n1:name=systemd:/\n") ==
        "/kubepods/besteffort/pod" + kUid + "/" + kId);
  CHECK(unified_cgroup_path("12:memory:/a\n") == std::nullopt);
}

TEST_CASE("k8s cgroup: a process's pod cgroup and pod uid from its /proc entry") {
  const std::filesystem::path proc =
      std::filesystem::temp_directory_path() / "ztrace-k8s-cgroup-test-proc";
  std::filesystem::remove_all(proc);
  const auto write = [&](int pid, const std::string& text) {
    std::filesystem::create_directories(proc / std::to_string(pid));
    std::ofstream(proc / std::to_string(pid) / "cgroup") << text;
  };
  write(10, "0::/kubepods/besteffort/pod" + kUid + "/" + kId + "\n");
  write(11, "0::/user.slice/session-3.scope\n");
  const auto pod = ztrace::k8s::read_pod_cgroup(10, proc.string());
  REQUIRE(pod);
  CHECK(pod->path == "/kubepods/besteffort/pod" + kUid);
  CHECK(pod->pod_uid == kUid);
  CHECK_FALSE(ztrace::k8s::read_pod_cgroup(11, proc.string()));  // a host process
  CHECK_FALSE(ztrace::k8s::read_pod_cgroup(12, proc.string()));  // gone
  std::filesystem::remove_all(proc);
}
