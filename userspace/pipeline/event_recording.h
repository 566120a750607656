#pragma once

// Raw kernel events saved to a file exactly as the pipeline received them, so a real run can be
// replayed offline: the pipeline benchmark measures events/s on recorded traffic, and a bug
// seen in production can be reproduced without the traffic. Format: the magic "ZTEVREC1", then
// one record per event: [u64 length][bytes][zero padding to 8 bytes]. Host byte order.

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace ztrace::pipeline {

class EventRecordWriter {
 public:
  // Empty `error` when the file is open for writing.
  EventRecordWriter(const std::string& path, std::string* error);
  ~EventRecordWriter();
  EventRecordWriter(const EventRecordWriter&) = delete;
  EventRecordWriter& operator=(const EventRecordWriter&) = delete;

  void write(std::span<const uint8_t> event);
  uint64_t events_written() const { return events_written_; }
  // A write failed (e.g. disk full); later events are not written.
  bool failed() const { return failed_; }

 private:
  std::FILE* file_ = nullptr;
  uint64_t events_written_ = 0;
  bool failed_ = false;
};

// A recording in memory, every event 8-byte aligned (the pipeline reads data events in place).
class EventRecording {
 public:
  // Empty `error` on success; a truncated last record is an error, not silently dropped.
  static EventRecording load(const std::string& path, std::string* error);

  size_t size() const { return offsets_.size(); }
  std::span<const uint8_t> event(size_t i) const { return {bytes() + offsets_[i], lengths_[i]}; }
  // Writable view, for replays that rewrite identities (e.g. connection generations).
  std::span<uint8_t> mutable_event(size_t i) { return {bytes() + offsets_[i], lengths_[i]}; }

 private:
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(words_.data()); }
  const uint8_t* bytes() const { return reinterpret_cast<const uint8_t*>(words_.data()); }

  std::vector<uint64_t> words_;  // the file's records, aligned
  std::vector<size_t> offsets_;
  std::vector<size_t> lengths_;
};

}  // namespace ztrace::pipeline
