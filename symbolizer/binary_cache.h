#pragma once

// One parse per executable image: processes are mapped to their binary by the identity of
// /proc/PID/exe (device, inode, mtime, size), and images copied into other containers (other
// inodes) by build id. Thread-safe; entries live as long as the cache.

#include <sys/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "symbolizer/go_binary.h"

namespace ztrace::symbolizer {

class BinaryCache {
 public:
  explicit BinaryCache(std::string proc_root = "/proc") : proc_root_(std::move(proc_root)) {}

  // The Go binary of `pid` via /proc/PID/exe (valid across mount namespaces), or why not.
  // Failures are cached too (a non-Go image is parsed once).
  Result<std::shared_ptr<const GoBinary>> for_pid(pid_t pid);
  // The same for a path (e.g. /proc/PID/root/usr/bin/app).
  Result<std::shared_ptr<const GoBinary>> for_path(const std::string& path);

  size_t parses() const { return parses_; }  // images actually parsed (tests, stats)

 private:
  using Key = std::tuple<dev_t, ino_t, int64_t, int64_t>;
  std::string proc_root_;
  std::mutex mu_;
  std::map<Key, Result<std::shared_ptr<const GoBinary>>> by_identity_;
  std::map<std::string, std::shared_ptr<const GoBinary>> by_build_id_;
  size_t parses_ = 0;
};

}  // namespace ztrace::symbolizer
