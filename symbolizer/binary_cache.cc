#include "symbolizer/binary_cache.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace ztrace::symbolizer {

Result<std::shared_ptr<const GoBinary>> BinaryCache::for_pid(pid_t pid) {
  return for_path(proc_root_ + "/" + std::to_string(pid) + "/exe");
}

Result<std::shared_ptr<const GoBinary>> BinaryCache::for_path(const std::string& path) {
  using R = Result<std::shared_ptr<const GoBinary>>;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return R::failure("cannot stat " + path + ": " + strerror(errno));
  Key key{st.st_dev, st.st_ino,
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_size)};
  {
    std::lock_guard lock(mu_);
    if (auto it = by_identity_.find(key); it != by_identity_.end()) return it->second;
  }
  // Mapping and reading the notes is cheap; the full parse (tens of ms for a large binary) runs
  // outside the lock and only for an image not seen under another inode (another container).
  auto elf = ElfFile::open(path);
  if (!elf) return R::failure(elf.reason());  // not cached: the file may appear later
  std::string build_id = GoBinary::build_id_of(**elf);
  if (!build_id.empty()) {
    std::lock_guard lock(mu_);
    if (auto it = by_build_id_.find(build_id); it != by_build_id_.end()) {
      return by_identity_.try_emplace(key, R(it->second)).first->second;
    }
  }
  auto result = GoBinary::analyze(std::move(elf).value(), path);
  std::lock_guard lock(mu_);
  ++parses_;
  if (result && !build_id.empty()) by_build_id_.try_emplace(build_id, *result);
  return by_identity_.try_emplace(key, std::move(result)).first->second;
}

}  // namespace ztrace::symbolizer
