#include "userspace/export/jsonl_exporter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <variant>

#include "userspace/export/json_writer.h"

namespace ztrace::exporter {

namespace {

void append_value(std::string& out, const spans::AttributeValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          json::append_string(out, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          json::append_bool(out, v);
        } else if constexpr (std::is_same_v<T, double>) {
          json::append_double(out, v);
        } else {
          json::append_int(out, v);
        }
      },
      value);
}

bool set_again_later(const spans::Attributes& attributes, size_t i) {
  const std::string_view key = attributes[i].key;
  for (size_t j = i + 1; j < attributes.size(); ++j) {
    if (std::string_view(attributes[j].key) == key) return true;
  }
  return false;
}

// {key: value, ...}; a key set twice has its last value (a JSON object holds one).
void append_attributes(std::string& out, const spans::Attributes& attributes) {
  json::Object object(out);
  for (size_t i = 0; i < attributes.size(); ++i) {
    if (!set_again_later(attributes, i))
      append_value(object.key(attributes[i].key), attributes[i].value);
  }
}

}  // namespace

std::unique_ptr<JsonlExporter> JsonlExporter::open(const std::string& path, std::string* error) {
  if (path == "-") return std::make_unique<JsonlExporter>(STDOUT_FILENO, false, "stdout");
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (error != nullptr) *error = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::make_unique<JsonlExporter>(fd, true, path);
}

JsonlExporter::~JsonlExporter() {
  if (owns_fd_) ::close(fd_);
}

void JsonlExporter::append_line(std::string& out, const spans::Span& span) {
  json::Object line(out);
  json::append_string(line.key("trace_id"), spans::to_hex(span.trace_id));
  json::append_string(line.key("span_id"), spans::to_hex(span.span_id));
  json::append_string(line.key("parent_span_id"), spans::is_zero(span.parent_span_id)
                                                      ? std::string()
                                                      : spans::to_hex(span.parent_span_id));
  if (!span.trace_state.empty()) json::append_string(line.key("trace_state"), span.trace_state);
  json::append_string(line.key("name"), span.name);
  json::append_string(line.key("kind"), spans::to_string(span.kind));
  json::append_uint(line.key("start_time_unix_nano"), span.start_time_unix_nano);
  json::append_uint(line.key("end_time_unix_nano"), span.end_time_unix_nano);
  {
    json::Object status(line.key("status"));
    json::append_string(status.key("code"), spans::to_string(span.status_code));
    json::append_string(status.key("message"), span.status_message);
  }
  append_attributes(line.key("attributes"), span.attributes);
  if (!span.links.empty()) {  // most spans have none: the key is left out
    std::string& links = line.key("links");
    links += '[';
    for (size_t i = 0; i < span.links.size(); ++i) {
      if (i) links += ',';
      json::Object link(links);
      json::append_string(link.key("trace_id"), spans::to_hex(span.links[i].trace_id));
      json::append_string(link.key("span_id"), spans::to_hex(span.links[i].span_id));
    }
    links += ']';
  }
  if (span.resource) {
    append_attributes(line.key("resource"), span.resource->attributes);
  } else {
    line.key("resource") += "{}";
  }
}

std::string JsonlExporter::format_line(const spans::Span& span) {
  std::string line;
  append_line(line, span);
  return line;
}

size_t JsonlExporter::format_batch(std::span<const spans::Span> batch) {
  size_t unformatted = 0;
  buffer_.clear();
  line_ends_.clear();
  // A fragment left by an earlier failure ends here, so that the first line stands alone
  // (no allocation: the buffer kept the capacity of the batch that failed).
  if (ends_in_fragment_) buffer_ += '\n';
  const size_t lines_start = buffer_.size();
  for (const spans::Span& span : batch) {
    const size_t line_start = buffer_.size();
    try {
      append_line(buffer_, span);
      buffer_ += '\n';
      line_ends_.push_back(buffer_.size());
    } catch (...) {  // std::bad_alloc: lose this span only
      buffer_.resize(line_start);
      ++unformatted;
    }
  }
  if (buffer_.size() == lines_start) buffer_.clear();  // nothing to end the fragment with
  return unformatted;
}

size_t JsonlExporter::write_buffer() {
  size_t written = 0;
  while (written < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + written, buffer_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      break;
    }
    written += static_cast<size_t>(n);
  }
  return written;
}

void JsonlExporter::drop_fragment(size_t written) {
  size_t whole = 0;  // bytes of the buffer that form whole lines
  if (ends_in_fragment_ && written > 0) whole = 1;
  for (size_t end : line_ends_) {
    if (end <= written) whole = end;
  }
  const size_t fragment = written - whole;
  if (whole > 0) ends_in_fragment_ = false;
  if (fragment == 0) return;
  // The fragment is the file's last bytes (appends go to the end): cut it off.
  struct stat st {};
  const bool cut = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) &&
                   static_cast<size_t>(st.st_size) >= fragment &&
                   ::ftruncate(fd_, st.st_size - static_cast<off_t>(fragment)) == 0;
  ends_in_fragment_ = !cut;
}

ExportResult JsonlExporter::export_spans(std::span<const spans::Span> batch) noexcept {
  ExportResult result;
  result.refused = format_batch(batch);
  const size_t written = write_buffer();
  if (written == buffer_.size()) {
    ends_in_fragment_ = ends_in_fragment_ && buffer_.empty();
    result.accepted = line_ends_.size();
    return result;
  }
  const int write_errno = errno;
  for (size_t end : line_ends_) {
    if (end <= written) ++result.accepted;
  }
  result.write_failed = line_ends_.size() - result.accepted;
  drop_fragment(written);
  try {
    errors_.error(std::strerror(write_errno),
                  "JSONL output " + path_ + ": write failed (" + std::strerror(write_errno) +
                      "): " + std::to_string(result.write_failed) + " spans lost" +
                      (ends_in_fragment_ ? "; the next line starts on a fresh line"
                                         : "; the file ends with a whole line"));
  } catch (...) {  // std::bad_alloc: the loss is counted all the same
  }
  return result;
}

}  // namespace ztrace::exporter
