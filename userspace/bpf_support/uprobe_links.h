#pragma once

// Uprobes on the sites of one executable image, for every process that maps it (pid -1; the
// programs decide which processes emit). The Go and OpenSSL tracers attach through this.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

struct bpf_link;
struct bpf_program;

namespace ztrace::bpf_support {

struct UprobeSite {
  uint64_t file_offset = 0;
  uint64_t cookie = 0;  // bpf_get_attach_cookie() in the program
};

struct UprobeLinks {
  std::vector<bpf_link*> links;
  size_t uprobes = 0;  // sites probed (a uprobe_multi link holds several)
};

// Each program's sites in `path`: one uprobe_multi link per program when `uprobe_multi`, else
// one link per site. "" when all are attached; else the reason, and none stays attached.
std::string attach_uprobe_sites(const std::map<bpf_program*, std::vector<UprobeSite>>& sites,
                                const std::string& path, bool uprobe_multi, UprobeLinks* out);

// The files in the dynamic loader's default directories (Debian multiarch first) whose name
// `matches`, each once by its canonical path.
std::vector<std::string> host_libraries(const std::function<bool(std::string_view)>& matches);

// The files process `pid` maps whose name `matches`, as they are named in its mount namespace.
std::set<std::string> mapped_libraries(int pid,
                                       const std::function<bool(std::string_view)>& matches);

// A link's detach waits for an RCU grace period: links are destroyed from several threads.
void destroy_links(const std::vector<bpf_link*>& links);

}  // namespace ztrace::bpf_support
