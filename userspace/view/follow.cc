#include "userspace/view/follow.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ostream>
#include <thread>

#include "userspace/view/settling_traces.h"

namespace ztrace::view {
namespace {

class Follower {
 public:
  Follower(const FollowOptions& options, const std::function<void(std::vector<ViewSpan>)>& show,
           std::ostream& notes)
      : options_(options), show_(show), notes_(notes), traces_(options.settle) {
    for (const auto& file : options.files) files_.push_back({file});
  }
  ~Follower() {
    for (auto& file : files_) close_file(file);
  }

  void run(std::stop_token stop) {
    while (!stop.stop_requested()) {
      for (auto& file : files_) poll_file(file);
      traces_.take_settled(SettlingTraces::Clock::now(), &done_);
      show_done();
      std::this_thread::sleep_for(options_.poll);
    }
    for (auto& file : files_) poll_file(file);
    traces_.take_settled(SettlingTraces::Clock::now(), &done_, /*everything=*/true);
    show_done();
  }

 private:
  struct FollowedFile {
    std::string path;
    int fd = -1;
    ino_t inode = 0;
    dev_t device = 0;
    uint64_t position = 0;  // bytes read so far
    std::string partial;    // a line not yet ended
    uint64_t line_number = 0;
  };

  static void close_file(FollowedFile& file) {
    if (file.fd >= 0) ::close(file.fd);
    file.fd = -1;
  }

  void restart(FollowedFile& file) {
    if (!file.partial.empty()) {
      notes_ << "note: " << file.path << ": a partial last line was dropped\n";
    }
    file.partial.clear();
    file.position = 0;
    file.line_number = 0;
  }

  void poll_file(FollowedFile& file) {
    struct stat at_path {};
    const bool exists = ::stat(file.path.c_str(), &at_path) == 0;
    if (file.fd >= 0 && exists && (at_path.st_ino != file.inode || at_path.st_dev != file.device)) {
      read_new_bytes(file);  // what was written to the old file before it was replaced
      notes_ << "note: " << file.path << " was replaced (rotated): reading the new file\n";
      close_file(file);
      restart(file);
    }
    if (file.fd < 0) {
      if (!exists) return;  // not there yet
      file.fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (file.fd < 0) return;
      struct stat opened {};
      ::fstat(file.fd, &opened);
      file.inode = opened.st_ino;
      file.device = opened.st_dev;
    }
    struct stat now {};
    if (::fstat(file.fd, &now) == 0 && static_cast<uint64_t>(now.st_size) < file.position) {
      notes_ << "note: " << file.path << " was truncated: reading it again from the start\n";
      ::lseek(file.fd, 0, SEEK_SET);
      restart(file);
    }
    read_new_bytes(file);
  }

  void read_new_bytes(FollowedFile& file) {
    char buffer[65536];
    ssize_t n;
    while ((n = ::read(file.fd, buffer, sizeof(buffer))) > 0) {
      file.position += static_cast<uint64_t>(n);
      file.partial.append(buffer, static_cast<size_t>(n));
      size_t begin = 0;
      for (size_t end; (end = file.partial.find('\n', begin)) != std::string::npos;
           begin = end + 1) {
        take_line(file, std::string_view(file.partial).substr(begin, end - begin));
      }
      file.partial.erase(0, begin);
    }
  }

  void take_line(FollowedFile& file, std::string_view line) {
    ++file.line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
    ViewSpan span;
    std::string error;
    if (!parse_span_line(line, &span, &error)) {
      notes_ << "note: " << file.path << ":" << file.line_number << ": skipped, " << error << "\n";
      return;
    }
    traces_.add(std::move(span), SettlingTraces::Clock::now(), &done_);
  }

  void show_done() {
    for (auto& trace : done_) {
      TraceSummary summary;
      for (const auto& span : trace) summary.add(span);
      if (passes(options_.filter, summary)) show_(std::move(trace));
    }
    done_.clear();
  }

  const FollowOptions& options_;
  const std::function<void(std::vector<ViewSpan>)>& show_;
  std::ostream& notes_;
  std::vector<FollowedFile> files_;
  SettlingTraces traces_;
  std::vector<SettlingTraces::Trace> done_;
};

}  // namespace

void follow_files(const FollowOptions& options, std::stop_token stop,
                  const std::function<void(std::vector<ViewSpan>)>& show, std::ostream& notes) {
  Follower(options, show, notes).run(stop);
}

}  // namespace ztrace::view
