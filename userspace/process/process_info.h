#pragma once

// OpenTelemetry Resource of a traced process, read from /proc: service.name, process.*,
// process.runtime.name and the target's own OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "userspace/spans/span.h"

namespace ztrace::process {

struct ResourceOptions {
  std::string host_name;                 // host.name on every resource; empty: omitted
  bool add_service_instance_id = false;  // random UUIDv4 per build (stable while cached)
  std::string proc_root = "/proc";       // tests point this at a fake tree
  // Adds attributes known elsewhere (Kubernetes pod metadata); applied before the target's own
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which win. Empty: none.
  std::function<void(pid_t, spans::Attributes&)> enrich;
};

// Builds the resource of `pid`. Never fails: a vanished or inaccessible process gets a minimal
// resource (service.name = /proc/PID/comm or "unknown_service", process.pid, host.name).
// Blocking file I/O (~tens of µs): cache through ProcessTable.
// `settled` (optional) is set false when the process may have been caught inside execve():
// the executable is known but argv or the environment read empty, so the resource may be
// incomplete (a process started with an empty environment looks the same).
spans::Resource build_resource(pid_t pid, const ResourceOptions& options, bool* settled = nullptr);

// Process start time, /proc/PID/stat field 22: clock ticks (USER_HZ) since boot. With pid it
// identifies a process instance across pid reuse. nullopt when the process is gone.
// The resource of a process already gone from /proc, from what its exec event carried: the
// path given to execve() and its argv (NUL-separated, possibly cut). No environment, so
// service.name is the executable's name.
spans::Resource resource_from_exec(pid_t pid, std::string_view exe_path, std::string_view argv,
                                   const ResourceOptions& options);

std::optional<uint64_t> read_start_time_ticks(pid_t pid, std::string_view proc_root = "/proc");

// OTEL_RESOURCE_ATTRIBUTES: `key=value` pairs separated by ',', percent-decoded, whitespace
// around keys and values trimmed. nullopt when malformed: the SDK environment variable spec
// says to discard the whole value then.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_resource_attributes(
    std::string_view value);

// "java", "node", "python" from an executable's base name; "" when not recognised.
std::string_view runtime_from_executable_name(std::string_view exe_name);

// True when the ELF open on `fd` is a Go binary: a .go.buildinfo section or a Go build-id
// note. Only reads headers (libelf, mmap).
bool is_go_elf(int fd);

// process.runtime.name of `pid` ("java", "go", "node", "python") or "" when unknown: the
// executable name, then the ELF (through /proc/PID/exe, valid across mount namespaces), then
// the runtime libraries in /proc/PID/maps (libjvm, libpython, libnode: embedded runtimes).
std::string_view detect_runtime(pid_t pid, std::string_view exe_name,
                                std::string_view proc_root = "/proc");

}  // namespace ztrace::process
