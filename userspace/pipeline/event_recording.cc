#include "userspace/pipeline/event_recording.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace ztrace::pipeline {
namespace {

constexpr char kMagic[8] = {'Z', 'T', 'E', 'V', 'R', 'E', 'C', '1'};
size_t padded(size_t len) { return (len + 7) & ~size_t{7}; }

}  // namespace

EventRecordWriter::EventRecordWriter(const std::string& path, std::string* error) {
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) {
    *error = "cannot create " + path + ": " + std::strerror(errno);
    return;
  }
  if (std::fwrite(kMagic, sizeof(kMagic), 1, file_) != 1) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    return;
  }
  error->clear();
}

EventRecordWriter::~EventRecordWriter() {
  if (file_) std::fclose(file_);
}

void EventRecordWriter::write(std::span<const uint8_t> event) {
  if (!file_ || failed_) return;
  static constexpr uint8_t kZeros[8] = {};
  const uint64_t len = event.size();
  if (std::fwrite(&len, sizeof(len), 1, file_) != 1 ||
      std::fwrite(event.data(), 1, event.size(), file_) != event.size() ||
      std::fwrite(kZeros, 1, padded(len) - len, file_) != padded(len) - len) {
    failed_ = true;
    return;
  }
  ++events_written_;
}

EventRecording EventRecording::load(const std::string& path, std::string* error) {
  EventRecording recording;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    *error = "cannot open " + path;
    return recording;
  }
  const size_t file_bytes = static_cast<size_t>(in.tellg());
  in.seekg(0);
  char magic[sizeof(kMagic)] = {};
  if (file_bytes < sizeof(kMagic) || !in.read(magic, sizeof(magic)) ||
      std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    *error = path + " is not a ztrace event recording";
    return recording;
  }
  const size_t body_bytes = file_bytes - sizeof(kMagic);
  recording.words_.resize(padded(body_bytes) / 8);
  if (!in.read(reinterpret_cast<char*>(recording.words_.data()),
               static_cast<std::streamsize>(body_bytes))) {
    *error = "cannot read " + path;
    return recording;
  }
  size_t pos = 0;
  while (pos < body_bytes) {
    uint64_t len = 0;
    if (body_bytes - pos < sizeof(len)) break;
    std::memcpy(&len, recording.bytes() + pos, sizeof(len));
    pos += sizeof(len);
    if (len > body_bytes - pos) {
      *error = path + ": record " + std::to_string(recording.size()) + " is truncated";
      return recording;
    }
    recording.offsets_.push_back(pos);
    recording.lengths_.push_back(len);
    pos += padded(len);
  }
  if (pos < body_bytes) {
    *error = path + ": trailing bytes after the last record";
    return recording;
  }
  error->clear();
  return recording;
}

}  // namespace ztrace::pipeline
