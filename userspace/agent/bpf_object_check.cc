#include "userspace/agent/bpf_object_check.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "go_probes.skel.h"
#include "inject.skel.h"
#include "openssl_probes.skel.h"
#include "rdkafka_probes.skel.h"
#include "socket_trace.skel.h"
#include "userspace/bpf_support/load_log.h"

namespace ztrace::agent {
namespace {

uint32_t verified_instructions(const bpf_program* prog) {
  bpf_prog_info info{};
  uint32_t length = sizeof(info);
  if (bpf_prog_get_info_by_fd(bpf_program__fd(prog), &info, &length)) return 0;
  return info.verified_insns;
}

// One object: libbpf loads its programs in order and stops at the first rejection, so a
// failed load names that program and marks the ones after it as not reached.
template <typename Skeleton, typename Configure>
void load_object(const char* object, Skeleton* (*open)(), int (*load)(Skeleton*),
                 void (*destroy)(Skeleton*), Configure configure,
                 std::vector<ProgramLoadReport>* reports) {
  Skeleton* skel = open();
  if (!skel) {
    reports->push_back({object, "", false, 0, std::string("cannot open: ") + std::strerror(errno)});
    return;
  }
  configure(skel);
  bpf_support::take_verifier_rejection();  // only this object's verdict counts
  int err = load(skel);
  std::string rejection = err ? bpf_support::take_verifier_rejection() : "";
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    ProgramLoadReport report{object, bpf_program__name(prog)};
    if (!err) {
      report.loaded = true;
      report.verified_instructions = verified_instructions(prog);
    } else if (bpf_program__fd(prog) >= 0) {
      report.error = "loaded, but its object was not";
    } else if (rejection.find("'" + report.program + "'") != std::string::npos) {
      report.error = rejection;
    } else {
      report.error = std::string("not loaded: the object failed (") + std::strerror(-err) + ")";
    }
    reports->push_back(std::move(report));
  }
  destroy(skel);
}

}  // namespace

std::vector<ProgramLoadReport> load_every_bpf_object() {
  std::vector<ProgramLoadReport> reports;
  // The settings `ztrace run` loads with by default (injection on), which verify the most code.
  load_object(
      "socket_trace", socket_trace_bpf__open, socket_trace_bpf__load, socket_trace_bpf__destroy,
      [](socket_trace_bpf* skel) { skel->rodata->inject_enabled = 1; }, &reports);
  load_object(
      "inject", inject_bpf__open, inject_bpf__load, inject_bpf__destroy, [](inject_bpf*) {},
      &reports);
  load_object(
      "go_probes", go_probes_bpf__open, go_probes_bpf__load, go_probes_bpf__destroy,
      [](go_probes_bpf*) {}, &reports);
  load_object(
      "openssl_probes", openssl_probes_bpf__open, openssl_probes_bpf__load,
      openssl_probes_bpf__destroy, [](openssl_probes_bpf*) {}, &reports);
  load_object(
      "rdkafka_probes", rdkafka_probes_bpf__open, rdkafka_probes_bpf__load,
      rdkafka_probes_bpf__destroy, [](rdkafka_probes_bpf*) {}, &reports);
  return reports;
}

}  // namespace ztrace::agent
