#include "userspace/export/jsonl_exporter.h"

#include <cerrno>
#include <cstring>
#include <variant>

#include "userspace/export/json_writer.h"

namespace ztrace::exporter {

namespace {

void append_key(std::string& out, std::string_view key) {
  json::append_string(out, key);
  out += ':';
}

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
  out += '{';
  bool first = true;
  for (size_t i = 0; i < attributes.size(); ++i) {
    if (set_again_later(attributes, i)) continue;
    if (!first) out += ',';
    first = false;
    append_key(out, attributes[i].key);
    append_value(out, attributes[i].value);
  }
  out += '}';
}

}  // namespace

std::unique_ptr<JsonlExporter> JsonlExporter::open(const std::string& path, std::string* error) {
  if (path == "-") return std::make_unique<JsonlExporter>(stdout, false);
  FILE* out = std::fopen(path.c_str(), "ae");
  if (out == nullptr) {
    if (error != nullptr) *error = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  // Flushed per batch anyway; a large buffer turns a batch into few write(2) calls.
  std::setvbuf(out, nullptr, _IOFBF, 1 << 16);
  return std::make_unique<JsonlExporter>(out, true);
}

JsonlExporter::~JsonlExporter() {
  if (owns_out_) {
    std::fclose(out_);
  } else {
    std::fflush(out_);
  }
}

void JsonlExporter::append_line(std::string& out, const spans::Span& span) {
  out += '{';
  append_key(out, "trace_id");
  json::append_string(out, spans::to_hex(span.trace_id));
  out += ',';
  append_key(out, "span_id");
  json::append_string(out, spans::to_hex(span.span_id));
  out += ',';
  append_key(out, "parent_span_id");
  json::append_string(out, spans::is_zero(span.parent_span_id)
                               ? std::string()
                               : spans::to_hex(span.parent_span_id));
  out += ',';
  append_key(out, "name");
  json::append_string(out, span.name);
  out += ',';
  append_key(out, "kind");
  json::append_string(out, spans::to_string(span.kind));
  out += ',';
  append_key(out, "start_time_unix_nano");
  json::append_uint(out, span.start_time_unix_nano);
  out += ',';
  append_key(out, "end_time_unix_nano");
  json::append_uint(out, span.end_time_unix_nano);
  out += ',';
  append_key(out, "status");
  out += '{';
  append_key(out, "code");
  json::append_string(out, spans::to_string(span.status_code));
  out += ',';
  append_key(out, "message");
  json::append_string(out, span.status_message);
  out += "},";
  append_key(out, "attributes");
  append_attributes(out, span.attributes);
  out += ',';
  append_key(out, "resource");
  if (span.resource) {
    append_attributes(out, span.resource->attributes);
  } else {
    out += "{}";
  }
  out += '}';
}

std::string JsonlExporter::format_line(const spans::Span& span) {
  std::string line;
  append_line(line, span);
  return line;
}

bool JsonlExporter::export_spans(std::span<const spans::Span> batch) noexcept {
  bool complete = true;
  buffer_.clear();
  for (const spans::Span& span : batch) {
    const size_t line_start = buffer_.size();
    try {
      append_line(buffer_, span);
      buffer_ += '\n';
    } catch (...) {  // std::bad_alloc: lose this span only
      buffer_.resize(line_start);
      complete = false;
    }
  }
  std::fwrite(buffer_.data(), 1, buffer_.size(), out_);
  const bool written = std::fflush(out_) == 0 && std::ferror(out_) == 0;
  std::clearerr(out_);  // report each failed batch once, not every batch after it
  return complete && written;
}

void JsonlExporter::flush() noexcept { std::fflush(out_); }

}  // namespace ztrace::exporter
