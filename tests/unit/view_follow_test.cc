#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "tests/unit/view_test_support.h"
#include "userspace/view/follow.h"

namespace fs = std::filesystem;
using namespace ztrace::view;
using ztrace::view_test::span_line;

namespace {

// What follow_files showed so far, read from the test's thread.
class Shown {
 public:
  void add(std::vector<ViewSpan> spans) {
    std::lock_guard lock(mutex_);
    traces_.push_back(std::move(spans));
  }
  // Waits up to 5 s for a trace with this id; its span count, or -1.
  int wait_for(const std::string& trace_id) {
    for (int i = 0; i < 250; ++i) {
      {
        std::lock_guard lock(mutex_);
        for (const auto& trace : traces_) {
          if (trace.front().trace_id == trace_id) return static_cast<int>(trace.size());
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  size_t count() {
    std::lock_guard lock(mutex_);
    return traces_.size();
  }

 private:
  std::mutex mutex_;
  std::vector<std::vector<ViewSpan>> traces_;
};

// A notes stream written by the follower's thread and read by the test's (xsputn may call
// overflow: the lock is recursive).
class LockedNotes : public std::stringbuf {
 public:
  std::string text() {
    std::lock_guard lock(mutex_);
    return str();
  }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard lock(mutex_);
    return std::stringbuf::xsputn(s, n);
  }
  int_type overflow(int_type c) override {
    std::lock_guard lock(mutex_);
    return std::stringbuf::overflow(c);
  }

 private:
  std::recursive_mutex mutex_;
};

std::string trace_id(char digit) { return std::string(32, digit); }
std::string span_id(char digit) { return std::string(16, digit); }

void append(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::app) << text << std::flush;
}

}  // namespace

TEST_CASE(
    "view --follow: traces appear once settled; a partial line waits for its end; a truncated "
    "file is read again; a rotated file is read to its end, then the new one") {
  const fs::path dir = fs::temp_directory_path() / "ztrace-view-follow-test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path path = dir / "spans.jsonl";
  append(path, span_line(trace_id('1'), span_id('a'), "", "front", 0, 100) + "\n" +
                   span_line(trace_id('1'), span_id('b'), span_id('a'), "back", 10, 90) + "\n");

  FollowOptions options;
  options.files = {path.string(), (dir / "not-yet.jsonl").string()};
  options.settle = std::chrono::milliseconds(150);
  options.poll = std::chrono::milliseconds(20);
  Shown shown;
  LockedNotes notes_buffer;
  std::ostream notes(&notes_buffer);
  const std::function<void(std::vector<ViewSpan>)> show = [&](std::vector<ViewSpan> spans) {
    shown.add(std::move(spans));
  };
  std::jthread follower([&](std::stop_token stop) { follow_files(options, stop, show, notes); });

  CHECK(shown.wait_for(trace_id('1')) == 2);

  // A line written in two pieces, and a line that is not a span.
  const std::string line2 = span_line(trace_id('2'), span_id('c'), "", "front", 200, 300);
  append(path, line2.substr(0, 50));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(shown.count() == 1);
  append(path, line2.substr(50) + "\nnot json\n");
  CHECK(shown.wait_for(trace_id('2')) == 1);
  CHECK(notes_buffer.text().find("spans.jsonl:4: skipped, not JSON") != std::string::npos);

  // Truncated (copytruncate), then written again from the start.
  { std::ofstream(path, std::ios::binary | std::ios::trunc); }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  append(path, span_line(trace_id('3'), span_id('d'), "", "front", 400, 500) + "\n");
  CHECK(shown.wait_for(trace_id('3')) == 1);
  CHECK(notes_buffer.text().find("was truncated: reading it again") != std::string::npos);

  // Rotated: the writer finishes the old file after the rename, the new file appears.
  const fs::path rotated = dir / "spans.jsonl.1";
  fs::rename(path, rotated);
  append(rotated, span_line(trace_id('4'), span_id('e'), "", "front", 600, 700) + "\n");
  append(path, span_line(trace_id('5'), span_id('f'), "", "front", 800, 900) + "\n");
  CHECK(shown.wait_for(trace_id('4')) == 1);
  CHECK(shown.wait_for(trace_id('5')) == 1);
  CHECK(notes_buffer.text().find("was replaced (rotated)") != std::string::npos);

  // A file named before it exists is picked up when it appears.
  append(dir / "not-yet.jsonl", span_line(trace_id('6'), span_id('1'), "", "late", 0, 1) + "\n");
  CHECK(shown.wait_for(trace_id('6')) == 1);

  // On stop, a trace still waiting is shown as it is.
  append(path, span_line(trace_id('7'), span_id('2'), "", "front", 0, 1) + "\n");
  follower.request_stop();
  follower.join();
  CHECK(shown.wait_for(trace_id('7')) == 1);
  CHECK(shown.count() == 7);
  fs::remove_all(dir);
}
