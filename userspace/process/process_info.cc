#include "userspace/process/process_info.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "userspace/process/secret_scrubber.h"
#include "userspace/spans/semconv.h"

namespace ztrace::process {

namespace {

constexpr std::string_view kUnknownService = "unknown_service";
constexpr std::string_view kDeletedSuffix = " (deleted)";
// Environment and argv are bounded by the kernel's ARG_MAX-ish limits; maps of a large JVM
// can be a few MiB. Beyond that the tail is ignored rather than buffered.
constexpr size_t kMaxEnvironBytes = 1 << 20;
constexpr size_t kMaxCmdlineBytes = 1 << 20;
constexpr size_t kMaxMapsBytes = 8 << 20;

std::string proc_path(std::string_view proc_root, pid_t pid, std::string_view file) {
  std::string path(proc_root);
  path += '/';
  path += std::to_string(pid);
  path += '/';
  path += file;
  return path;
}

std::optional<std::string> read_file(const std::string& path, size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string content;
  char buffer[8192];
  while (content.size() < max_bytes) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(std::min<size_t>(n, max_bytes - content.size())));
  }
  close(fd);
  return content;
}

std::optional<std::string> read_link(const std::string& path) {
  char buffer[4096];
  const ssize_t n = readlink(path.c_str(), buffer, sizeof(buffer));
  if (n <= 0) return std::nullopt;
  std::string target(buffer, static_cast<size_t>(n));
  // The executable was replaced or removed since exec (e.g. a package upgrade).
  if (target.ends_with(kDeletedSuffix)) target.resize(target.size() - kDeletedSuffix.size());
  return target;
}

// /proc/PID/exe reads in the agent's view of the file system: a process with another root (a
// container, a chroot) shows that root's path in front (/run/containerd/.../rootfs/usr/bin/x).
// The path as the process itself sees it is the one its own image and logs name.
std::string in_own_root(const std::string& proc_root, pid_t pid, std::string exe_path) {
  const auto root = read_link(proc_path(proc_root, pid, "root"));
  if (!root || root->empty() || *root == "/") return exe_path;
  if (exe_path.size() > root->size() && exe_path.starts_with(*root) &&
      exe_path[root->size()] == '/') {
    exe_path.erase(0, root->size());
  }
  return exe_path;
}

std::vector<std::string> split_nul(std::string_view data) {
  std::vector<std::string> parts;
  while (!data.empty()) {
    const size_t end = data.find('\0');
    parts.emplace_back(data.substr(0, end));
    if (end == std::string_view::npos) break;
    data.remove_prefix(end + 1);
  }
  return parts;
}

std::string_view base_name(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int high = hex_value(s[i + 1]);
    const int low = hex_value(s[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

// Sets `key`, replacing an existing value in place so the attribute order stays stable.
void put(spans::Attributes& attributes, std::string_view key, spans::AttributeValue value) {
  for (spans::Attribute& attribute : attributes) {
    if (attribute.key == key) {
      attribute.value = std::move(value);
      return;
    }
  }
  attributes.push_back({spans::AttributeKey::intern(key), std::move(value)});
}

std::string random_uuid_v4() {
  spans::TraceId bytes = spans::random_trace_id();
  bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  const std::string hex = spans::to_hex(bytes);
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
         hex.substr(16, 4) + '-' + hex.substr(20);
}

bool elf_library_ready() {
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
  return ready;
}

// Go linkers emit an ELF note owned by "Go" of type 4 (NT_GOBUILDID) holding the build id.
constexpr uint32_t kGoBuildIdNoteType = 4;

bool has_go_note(Elf_Data* data) {
  if (data == nullptr || data->d_buf == nullptr) return false;
  size_t offset = 0;
  GElf_Nhdr note;
  size_t name_offset = 0;
  size_t desc_offset = 0;
  while (offset < data->d_size) {
    const size_t next = gelf_getnote(data, offset, &note, &name_offset, &desc_offset);
    if (next == 0) break;
    if (note.n_type == kGoBuildIdNoteType && note.n_namesz == 3 &&
        std::memcmp(static_cast<const char*>(data->d_buf) + name_offset, "Go", 3) == 0) {
      return true;
    }
    offset = next;
  }
  return false;
}

bool scan_go_elf(Elf* elf) {
  size_t section_count = 0;
  size_t names_index = 0;
  if (elf_getshdrnum(elf, &section_count) == 0 && section_count > 0 &&
      elf_getshdrstrndx(elf, &names_index) == 0) {
    for (Elf_Scn* section = elf_nextscn(elf, nullptr); section != nullptr;
         section = elf_nextscn(elf, section)) {
      GElf_Shdr header;
      if (gelf_getshdr(section, &header) == nullptr) continue;
      const char* name = elf_strptr(elf, names_index, header.sh_name);
      if (name != nullptr &&
          (std::strcmp(name, ".go.buildinfo") == 0 || std::strcmp(name, ".note.go.buildid") == 0)) {
        return true;
      }
      if (header.sh_type == SHT_NOTE && has_go_note(elf_getdata(section, nullptr))) return true;
    }
    return false;
  }
  // Section headers stripped: the build-id note is still reachable through PT_NOTE.
  size_t segment_count = 0;
  if (elf_getphdrnum(elf, &segment_count) != 0) return false;
  for (size_t i = 0; i < segment_count; ++i) {
    GElf_Phdr segment;
    if (gelf_getphdr(elf, static_cast<int>(i), &segment) == nullptr) continue;
    if (segment.p_type != PT_NOTE) continue;
    Elf_Data* data = elf_getdata_rawchunk(elf, static_cast<int64_t>(segment.p_offset),
                                          segment.p_filesz, ELF_T_NHDR);
    if (has_go_note(data)) return true;
  }
  return false;
}

spans::Resource minimal_resource(pid_t pid, const ResourceOptions& options) {
  spans::Resource resource;
  std::string service_name(kUnknownService);
  if (auto comm = read_file(proc_path(options.proc_root, pid, "comm"), 64)) {
    while (!comm->empty() && comm->back() == '\n') comm->pop_back();
    if (!comm->empty()) service_name = std::move(*comm);
  }
  resource.attributes.push_back({semconv::service::kServiceName, std::move(service_name)});
  if (!options.host_name.empty()) {
    resource.attributes.push_back({semconv::host::kHostName, options.host_name});
  }
  resource.attributes.push_back({semconv::process::kProcessPid, static_cast<int64_t>(pid)});
  return resource;
}

}  // namespace

std::optional<uint64_t> read_start_time_ticks(pid_t pid, std::string_view proc_root) {
  const auto stat = read_file(proc_path(proc_root, pid, "stat"), 4096);
  if (!stat) return std::nullopt;
  // comm (field 2) may contain spaces and ')': fields restart after the last ')'.
  const size_t comm_end = stat->rfind(')');
  if (comm_end == std::string::npos) return std::nullopt;
  std::string_view rest = std::string_view(*stat).substr(comm_end + 1);
  // rest = " state(3) ppid(4) ... starttime(22) ..."
  constexpr int kStartTimeField = 22;
  int field = 2;
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    ++field;
    const size_t end = std::min(rest.find(' '), rest.size());
    if (field == kStartTimeField) {
      uint64_t ticks = 0;
      for (char c : rest.substr(0, end)) {
        if (c < '0' || c > '9') return std::nullopt;
        ticks = ticks * 10 + static_cast<uint64_t>(c - '0');
      }
      return ticks;
    }
    rest.remove_prefix(end);
  }
  return std::nullopt;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_resource_attributes(
    std::string_view value) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string_view item = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (trim(item).empty()) continue;  // tolerate a trailing or doubled ','
    const size_t equals = item.find('=');
    if (equals == std::string_view::npos) return std::nullopt;
    auto key = percent_decode(trim(item.substr(0, equals)));
    auto decoded = percent_decode(trim(item.substr(equals + 1)));
    if (!key || !decoded || key->empty()) return std::nullopt;
    pairs.emplace_back(std::move(*key), std::move(*decoded));
  }
  return pairs;
}

std::string_view runtime_from_executable_name(std::string_view exe_name) {
  if (exe_name == "java") return "java";
  if (exe_name == "node" || exe_name == "nodejs") return "node";
  if (exe_name.starts_with("python")) return "python";
  return "";
}

bool is_go_elf(int fd) {
  if (fd < 0 || !elf_library_ready()) return false;
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr) return false;
  const bool go = elf_kind(elf) == ELF_K_ELF && scan_go_elf(elf);
  elf_end(elf);
  return go;
}

std::string_view detect_runtime(pid_t pid, std::string_view exe_name, std::string_view proc_root) {
  if (std::string_view by_name = runtime_from_executable_name(exe_name); !by_name.empty()) {
    return by_name;
  }
  // /proc/PID/exe opens the mapped file itself, whatever mount namespace the process is in.
  const int fd = open(proc_path(proc_root, pid, "exe").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    const bool go = is_go_elf(fd);
    close(fd);
    if (go) return "go";
  }
  const auto maps = read_file(proc_path(proc_root, pid, "maps"), kMaxMapsBytes);
  if (!maps) return "";
  if (maps->find("/libjvm.so") != std::string::npos) return "java";
  if (maps->find("/libpython") != std::string::npos) return "python";
  if (maps->find("/libnode.so") != std::string::npos) return "node";
  return "";
}

spans::Resource resource_from_exec(pid_t pid, std::string_view exe_path, std::string_view argv,
                                   const ResourceOptions& options) {
  if (exe_path.empty()) return minimal_resource(pid, options);
  const std::string exe_name(base_name(exe_path));
  spans::Resource resource;
  spans::Attributes& attributes = resource.attributes;
  attributes.push_back({semconv::service::kServiceName, exe_name});
  if (!options.host_name.empty()) {
    attributes.push_back({semconv::host::kHostName, options.host_name});
  }
  attributes.push_back({semconv::process::kProcessPid, static_cast<int64_t>(pid)});
  attributes.push_back({semconv::process::kProcessExecutableName, exe_name});
  attributes.push_back({semconv::process::kProcessExecutablePath, std::string(exe_path)});
  if (const std::vector<std::string> args = split_nul(argv); !args.empty()) {
    attributes.push_back({semconv::process::kProcessCommandLine, scrub_command_line(args)});
  }
  if (std::string_view runtime = runtime_from_executable_name(exe_name); !runtime.empty()) {
    attributes.push_back({semconv::process::kProcessRuntimeName, std::string(runtime)});
  }
  return resource;
}

spans::Resource build_resource(pid_t pid, const ResourceOptions& options, bool* settled) {
  if (settled != nullptr) *settled = true;
  auto exe_path = read_link(proc_path(options.proc_root, pid, "exe"));
  if (!exe_path) return minimal_resource(pid, options);
  exe_path = in_own_root(options.proc_root, pid, std::move(*exe_path));
  const std::string exe_name(base_name(*exe_path));

  std::string service_name_from_env;
  std::optional<std::vector<std::pair<std::string, std::string>>> env_attributes;
  bool environment_empty = false;
  if (const auto environ =
          read_file(proc_path(options.proc_root, pid, "environ"), kMaxEnvironBytes)) {
    environment_empty = environ->empty();
    constexpr std::string_view kServiceNameVar = "OTEL_SERVICE_NAME=";
    constexpr std::string_view kResourceAttributesVar = "OTEL_RESOURCE_ATTRIBUTES=";
    for (std::string_view entry : split_nul(*environ)) {
      // First definition wins, as with getenv().
      if (entry.starts_with(kServiceNameVar) && service_name_from_env.empty()) {
        service_name_from_env = trim(entry.substr(kServiceNameVar.size()));
      } else if (entry.starts_with(kResourceAttributesVar) && !env_attributes) {
        env_attributes = parse_resource_attributes(entry.substr(kResourceAttributesVar.size()));
      }
    }
  }

  spans::Resource resource;
  spans::Attributes& attributes = resource.attributes;
  attributes.push_back({semconv::service::kServiceName, exe_name});
  if (options.add_service_instance_id) {
    attributes.push_back({semconv::service::kServiceInstanceId, random_uuid_v4()});
  }
  if (!options.host_name.empty()) {
    attributes.push_back({semconv::host::kHostName, options.host_name});
  }
  attributes.push_back({semconv::process::kProcessPid, static_cast<int64_t>(pid)});
  attributes.push_back({semconv::process::kProcessExecutableName, exe_name});
  attributes.push_back({semconv::process::kProcessExecutablePath, *exe_path});
  if (const auto cmdline =
          read_file(proc_path(options.proc_root, pid, "cmdline"), kMaxCmdlineBytes)) {
    const std::vector<std::string> args = split_nul(*cmdline);
    if (!args.empty()) {
      attributes.push_back({semconv::process::kProcessCommandLine, scrub_command_line(args)});
    }
  }
  // The exe link switches early in execve(), argv and then the environment only once the new
  // stack is set up (create_elf_tables): a reader racing an exec sees them empty.
  if (settled != nullptr &&
      (environment_empty || attributes.back().key != semconv::process::kProcessCommandLine)) {
    *settled = false;
  }
  if (std::string_view runtime = detect_runtime(pid, exe_name, options.proc_root);
      !runtime.empty()) {
    attributes.push_back({semconv::process::kProcessRuntimeName, std::string(runtime)});
  }
  if (options.enrich) options.enrich(pid, attributes);
  // The user's own resource attributes override detected ones, except that OTEL_SERVICE_NAME
  // takes precedence over service.name in OTEL_RESOURCE_ATTRIBUTES (SDK configuration spec).
  if (env_attributes) {
    for (auto& [key, value] : *env_attributes) put(attributes, key, std::move(value));
  }
  if (!service_name_from_env.empty()) {
    put(attributes, semconv::service::kServiceName, service_name_from_env);
  }
  return resource;
}

}  // namespace ztrace::process
