#include "userspace/bpf_support/uprobe_links.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace ztrace::bpf_support {

std::string attach_uprobe_sites(const std::map<bpf_program*, std::vector<UprobeSite>>& sites,
                                const std::string& path, bool uprobe_multi, UprobeLinks* out) {
  const auto fail = [&](const std::string& reason) {
    const std::string why = reason + ": " + std::strerror(errno);
    destroy_links(out->links);
    out->links.clear();
    out->uprobes = 0;
    return why;
  };
  for (const auto& [program, program_sites] : sites) {
    out->uprobes += program_sites.size();
    if (uprobe_multi) {
      std::vector<unsigned long> offsets;
      std::vector<__u64> cookies;
      for (const UprobeSite& site : program_sites) {
        offsets.push_back(site.file_offset);
        cookies.push_back(site.cookie);
      }
      LIBBPF_OPTS(bpf_uprobe_multi_opts, multi, .offsets = offsets.data(),
                  .cookies = cookies.data(), .cnt = offsets.size());
      bpf_link* link = bpf_program__attach_uprobe_multi(program, -1, path.c_str(), nullptr, &multi);
      if (!link) return fail("uprobes in " + path);
      out->links.push_back(link);
      continue;
    }
    for (const UprobeSite& site : program_sites) {
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = site.cookie);
      bpf_link* link =
          bpf_program__attach_uprobe_opts(program, -1, path.c_str(), site.file_offset, &opts);
      if (!link) return fail("uprobe at " + path + "+" + std::to_string(site.file_offset));
      out->links.push_back(link);
    }
  }
  return "";
}

std::vector<std::string> host_libraries(const std::function<bool(std::string_view)>& matches) {
  static constexpr const char* kDirs[] = {"/lib/x86_64-linux-gnu",
                                          "/usr/lib/x86_64-linux-gnu",
                                          "/lib64",
                                          "/usr/lib64",
                                          "/lib",
                                          "/usr/lib",
                                          "/usr/local/lib"};
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const char* dir : kDirs) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (!matches(entry.path().filename().string())) continue;
      std::error_code ec2;
      const auto real = std::filesystem::canonical(entry.path(), ec2);
      if (!ec2 && seen.insert(real.string()).second) out.push_back(real.string());
    }
  }
  return out;
}

std::set<std::string> mapped_libraries(int pid,
                                       const std::function<bool(std::string_view)>& matches) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::set<std::string> libraries;
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.find('/');
    if (slash == std::string::npos || line.ends_with(" (deleted)")) continue;
    std::string file = line.substr(slash);
    if (matches(std::filesystem::path(file).filename().string())) libraries.insert(file);
  }
  return libraries;
}

void destroy_links(const std::vector<bpf_link*>& links) {
  constexpr size_t kThreads = 32;
  std::vector<std::thread> threads;
  const size_t n = std::min(kThreads, links.size());
  for (size_t t = 0; t < n; ++t) {
    threads.emplace_back([&links, t, n] {
      for (size_t i = t; i < links.size(); i += n) bpf_link__destroy(links[i]);
    });
  }
  for (auto& thread : threads) thread.join();
}

}  // namespace ztrace::bpf_support
