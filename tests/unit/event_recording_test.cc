// Raw event recordings (ztrace run --record-events): what is written is read back exactly,
// aligned for in-place reads, and damaged files are refused with a reason.
#include "userspace/pipeline/event_recording.h"

#include <catch2/catch_test_macros.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ztrace::pipeline {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("ztrace_" + name)).string();
}

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

TEST_CASE("event recording: events read back byte for byte and 8-byte aligned", "[recording]") {
  const std::string path = temp_path("recording_roundtrip");
  const std::vector<std::vector<uint8_t>> events = {
      bytes_of("a"), bytes_of("12345678"), bytes_of(std::string(4133, 'x')), {}, bytes_of("tail")};
  {
    std::string error = "unset";
    EventRecordWriter writer(path, &error);
    REQUIRE(error.empty());
    for (const auto& e : events) writer.write(e);
    CHECK(writer.events_written() == events.size());
    CHECK_FALSE(writer.failed());
  }
  std::string error;
  const EventRecording recording = EventRecording::load(path, &error);
  REQUIRE(error.empty());
  REQUIRE(recording.size() == events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const auto event = recording.event(i);
    CHECK(std::vector<uint8_t>(event.begin(), event.end()) == events[i]);
    CHECK(reinterpret_cast<uintptr_t>(event.data()) % 8 == 0);
  }
  std::filesystem::remove(path);
}

TEST_CASE("event recording: a truncated or foreign file is refused with a reason", "[recording]") {
  const std::string path = temp_path("recording_damaged");
  {
    std::string error;
    EventRecordWriter writer(path, &error);
    writer.write(bytes_of(std::string(100, 'y')));
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
  std::string error;
  EventRecording::load(path, &error);
  CHECK(error.find("truncated") != std::string::npos);

  std::ofstream(path, std::ios::trunc) << "GET / HTTP/1.1\r\n\r\n";
  EventRecording::load(path, &error);
  CHECK(error.find("not a ztrace event recording") != std::string::npos);

  EventRecording::load(temp_path("recording_missing"), &error);
  CHECK(error.find("cannot open") != std::string::npos);

  EventRecordWriter unwritable("/proc/version/cannot", &error);
  CHECK(error.find("cannot create") != std::string::npos);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ztrace::pipeline
