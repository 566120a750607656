#include "userspace/export/jsonl_exporter.h"

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
  json::Object line(out);
  json::append_string(line.key("trace_id"), spans::to_hex(span.trace_id));
  json::append_string(line.key("span_id"), spans::to_hex(span.span_id));
  json::append_string(line.key("parent_span_id"), spans::is_zero(span.parent_span_id)
                                                      ? std::string()
                                                      : spans::to_hex(span.parent_span_id));
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

ExportOutcome JsonlExporter::export_spans(std::span<const spans::Span> batch) noexcept {
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
  return complete && written ? ExportOutcome::kSuccess : ExportOutcome::kPermanent;
}

void JsonlExporter::flush() noexcept { std::fflush(out_); }

}  // namespace ztrace::exporter
