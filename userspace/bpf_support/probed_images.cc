#include "userspace/bpf_support/probed_images.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ztrace::bpf_support {

std::optional<std::string> ProbedImages::probe_once(const std::string& path, const Attach& attach) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  std::lock_guard lock(mu_);
  auto [it, fresh] = images_.try_emplace({st.st_dev, st.st_ino});
  if (!fresh) return std::nullopt;
  Image& image = it->second;
  image.failure = attach("/proc/self/fd/" + std::to_string(fd), &image.probes);
  return image.failure;
}

size_t ProbedImages::probed() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, image] : images_) n += image.failure.empty() ? 1 : 0;
  return n;
}

size_t ProbedImages::uprobes() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, image] : images_) n += image.probes.uprobes;
  return n;
}

std::vector<bpf_link*> ProbedImages::links() const {
  std::lock_guard lock(mu_);
  std::vector<bpf_link*> out;
  for (const auto& [key, image] : images_) {
    out.insert(out.end(), image.probes.links.begin(), image.probes.links.end());
  }
  return out;
}

}  // namespace ztrace::bpf_support
