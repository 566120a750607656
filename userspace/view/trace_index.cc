#include "userspace/view/trace_index.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace ztrace::view {
namespace {

constexpr int kOffsetBits = 48;  // files up to 256 TiB; up to 65,536 files
constexpr uint64_t kOffsetMask = (uint64_t{1} << kOffsetBits) - 1;
// A longer line is skipped, not held: a file without line feeds must not fill the memory.
constexpr size_t kMaxLineBytes = 16 << 20;

// Reads a file line by line through a fixed buffer, keeping at most kMaxLineBytes of a line.
class LineReader {
 public:
  explicit LineReader(std::ifstream& in) : in_(in) {}

  enum class Result { kLine, kTooLong, kPartial, kEnd };

  // The next line (without its line feed) and the offset of its first byte.
  Result next(std::string* line, uint64_t* offset) {
    line->clear();
    *offset = position_;
    bool too_long = false;
    for (;;) {
      if (begin_ == end_ && !refill()) {
        if (line->empty() && !too_long) return Result::kEnd;
        return Result::kPartial;
      }
      const char* start = buffer_.data() + begin_;
      const void* feed = std::memchr(start, '\n', end_ - begin_);
      const size_t take = feed ? static_cast<const char*>(feed) - start : end_ - begin_;
      if (!too_long && line->size() + take <= kMaxLineBytes) {
        line->append(start, take);
      } else {
        too_long = true;
        line->clear();
      }
      begin_ += take + (feed ? 1 : 0);
      position_ += take + (feed ? 1 : 0);
      if (feed) return too_long ? Result::kTooLong : Result::kLine;
    }
  }

 private:
  bool refill() {
    in_.read(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    begin_ = 0;
    end_ = static_cast<size_t>(in_.gcount());
    return end_ > 0;
  }

  std::ifstream& in_;
  std::vector<char> buffer_ = std::vector<char>(1 << 20);
  size_t begin_ = 0;
  size_t end_ = 0;
  uint64_t position_ = 0;
};

}  // namespace

std::string ReadProblems::describe() const {
  std::string text;
  for (const auto& file : unreadable_files) text += "note: cannot read " + file + "\n";
  if (malformed_lines > 0) {
    text += "note: skipped " + std::to_string(malformed_lines) +
            " line(s) that are not spans (first: " + first_malformed + ")\n";
  }
  if (truncated_lines > 0) {
    text += "note: " + std::to_string(truncated_lines) +
            " file(s) end in a partial line (still being written?): it was skipped\n";
  }
  if (too_many_spans > 0) {
    text += "note: " + std::to_string(too_many_spans) +
            " span(s) beyond the index's limit were skipped\n";
  }
  return text;
}

void TraceSummary::add(const ViewSpan& span) {
  if (trace_id.empty()) trace_id = span.trace_id;
  start_ns = std::min(start_ns, span.start_ns);
  end_ns = std::max(end_ns, span.end_ns);
  error = error || span.error;
  if (!span.service.empty() &&
      std::find(services.begin(), services.end(), span.service) == services.end()) {
    services.push_back(span.service);
  }
}

void TraceIndex::build() {
  for (uint32_t file = 0; file < files_.size(); ++file) {
    if (file > (UINT64_MAX >> kOffsetBits)) {
      problems_.unreadable_files.push_back(files_[file] + ": too many files");
      continue;
    }
    std::ifstream in(files_[file], std::ios::binary);
    if (!in) {
      problems_.unreadable_files.push_back(files_[file] + ": " + std::strerror(errno));
      continue;
    }
    LineReader reader(in);
    std::string line;
    uint64_t offset = 0;
    uint64_t number = 0;
    ViewSpan span;
    std::string error;
    for (LineReader::Result result;
         (result = reader.next(&line, &offset)) != LineReader::Result::kEnd;) {
      ++number;
      if (result == LineReader::Result::kPartial) {  // no line feed: the writer may be mid-line
        ++problems_.truncated_lines;
        break;
      }
      if (result == LineReader::Result::kTooLong) {
        error = "longer than " + std::to_string(kMaxLineBytes >> 20) + " MiB";
      } else if (line.find_first_not_of(" \t\r") == std::string::npos) {
        continue;
      } else if (parse_span_line(line, &span, &error)) {
        add(span, file, offset);
        continue;
      }
      if (problems_.malformed_lines++ == 0) {
        problems_.first_malformed = files_[file] + ":" + std::to_string(number) + ": " + error;
      }
    }
  }
}

uint16_t TraceIndex::service_number(const std::string& service) {
  const auto it = service_numbers_.find(service);
  if (it != service_numbers_.end()) return it->second;
  if (services_.size() == UINT16_MAX) return UINT16_MAX;  // more names than a trace shows
  services_.push_back(service);
  return service_numbers_[service] = static_cast<uint16_t>(services_.size() - 1);
}

uint32_t TraceIndex::service_list_with(uint32_t list, uint16_t service) {
  const std::vector<uint16_t>& current = service_lists_[list];
  if (service == UINT16_MAX ||
      std::find(current.begin(), current.end(), service) != current.end()) {
    return list;
  }
  std::vector<uint16_t> extended = current;
  extended.push_back(service);
  const auto [it, added] = service_list_numbers_.try_emplace(
      std::move(extended), static_cast<uint32_t>(service_lists_.size()));
  if (added) service_lists_.push_back(it->first);
  return it->second;
}

void TraceIndex::add(const ViewSpan& span, uint32_t file, uint64_t offset) {
  if (span_locations_.size() >= kNoSpan || offset > kOffsetMask) {
    ++problems_.too_many_spans;
    return;
  }
  const uint32_t number = static_cast<uint32_t>(span_locations_.size());
  span_locations_.push_back(uint64_t{file} << kOffsetBits | offset);
  next_span_.push_back(kNoSpan);

  TraceId id;
  std::copy_n(span.trace_id.begin(), id.size(), id.begin());
  const auto [it, added] = trace_numbers_.try_emplace(id, static_cast<uint32_t>(traces_.size()));
  if (added) {
    traces_.push_back({.id = id, .first_span = number, .last_span = number});
  } else {
    next_span_[traces_[it->second].last_span] = number;
    traces_[it->second].last_span = number;
  }
  IndexedTrace& trace = traces_[it->second];
  trace.start_ns = std::min(trace.start_ns, span.start_ns);
  trace.end_ns = std::max(trace.end_ns, span.end_ns);
  trace.error = trace.error || span.error;
  if (!span.service.empty()) {
    trace.service_list = service_list_with(trace.service_list, service_number(span.service));
  }
}

std::vector<uint32_t> TraceIndex::by_start() const {
  std::vector<uint32_t> ordered(traces_.size());
  for (uint32_t i = 0; i < ordered.size(); ++i) ordered[i] = i;
  std::sort(ordered.begin(), ordered.end(), [&](uint32_t a, uint32_t b) {
    const IndexedTrace& x = traces_[a];
    const IndexedTrace& y = traces_[b];
    return x.start_ns != y.start_ns ? x.start_ns < y.start_ns : x.id < y.id;
  });
  return ordered;
}

TraceSummary TraceIndex::summary(uint32_t number) const {
  const IndexedTrace& trace = traces_[number];
  TraceSummary summary{.trace_id = std::string(trace.id.data(), trace.id.size()),
                       .start_ns = trace.start_ns,
                       .end_ns = trace.end_ns,
                       .error = trace.error};
  for (uint16_t service : service_lists_[trace.service_list]) {
    summary.services.push_back(services_[service]);
  }
  return summary;
}

std::optional<uint32_t> TraceIndex::find(std::string_view trace_id) const {
  TraceId id;
  if (trace_id.size() != id.size()) return std::nullopt;
  std::copy_n(trace_id.begin(), id.size(), id.begin());
  const auto it = trace_numbers_.find(id);
  if (it == trace_numbers_.end()) return std::nullopt;
  return it->second;
}

std::vector<ViewSpan> TraceIndex::load(uint32_t number, ReadProblems* problems) const {
  std::vector<ViewSpan> spans;
  std::ifstream in;
  uint64_t open_file = UINT64_MAX;
  std::string line;
  std::string error;
  for (uint32_t span = traces_[number].first_span; span != kNoSpan; span = next_span_[span]) {
    const uint64_t file = span_locations_[span] >> kOffsetBits;
    if (file != open_file) {
      in = std::ifstream(files_[file], std::ios::binary);
      open_file = file;
    }
    in.clear();
    in.seekg(static_cast<std::streamoff>(span_locations_[span] & kOffsetMask));
    ViewSpan parsed;
    if (std::getline(in, line) && parse_span_line(line, &parsed, &error)) {
      spans.push_back(std::move(parsed));
    } else if (problems->malformed_lines++ == 0) {  // the file changed since it was indexed
      problems->first_malformed = files_[file] + ": changed since it was read";
    }
  }
  return spans;
}

size_t TraceIndex::memory_bytes() const {
  // A hash node: the value, the next pointer and the cached hash, rounded to malloc's 16.
  const auto node = [](size_t value) { return (value + 16 + 15) / 16 * 16 + 8; };
  size_t bytes = traces_.capacity() * sizeof(IndexedTrace) +
                 trace_numbers_.size() * node(sizeof(TraceId) + sizeof(uint32_t)) +
                 trace_numbers_.bucket_count() * sizeof(void*) +
                 span_locations_.capacity() * sizeof(uint64_t) +
                 next_span_.capacity() * sizeof(uint32_t);
  for (const auto& service : services_) bytes += 2 * (sizeof(service) + service.capacity());
  for (const auto& list : service_lists_) bytes += 2 * (sizeof(list) + list.capacity() * 2) + 64;
  return bytes;
}

}  // namespace ztrace::view
