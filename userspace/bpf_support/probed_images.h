#pragma once

// The executable images a tracer has probed, each once by its file (device + inode), whatever
// path or mount namespace it was found through. The OpenSSL and librdkafka tracers keep theirs
// here.

#include <sys/types.h>

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "userspace/bpf_support/uprobe_links.h"

namespace ztrace::bpf_support {

class ProbedImages {
 public:
  // Attaches to `path` unless its file was seen before. `attach` gets a path that names the
  // open file (/proc/self/fd/N: valid across mount namespaces, and when a short-lived process
  // exits meanwhile) and returns "" or why not. Returns what it returned; nullopt when the file
  // was seen before or is not a regular file that can be opened.
  using Attach = std::function<std::string(const std::string& path, UprobeLinks* links)>;
  std::optional<std::string> probe_once(const std::string& path, const Attach& attach);

  size_t probed() const;  // images attached
  size_t uprobes() const;
  std::vector<bpf_link*> links() const;

 private:
  struct Image {
    std::string failure;  // "" when probed
    UprobeLinks probes;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<dev_t, ino_t>, Image> images_;
};

}  // namespace ztrace::bpf_support
