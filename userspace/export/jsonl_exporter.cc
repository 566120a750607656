#include "userspace/export/jsonl_exporter.h"

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <variant>

namespace ztrace::exporter {

namespace {

// Insertion-ordered so lines read in schema order.
using Json = nlohmann::ordered_json;

Json to_json(const spans::Attributes& attributes) {
  Json object = Json::object();
  for (const spans::Attribute& attribute : attributes) {
    std::visit([&](const auto& value) { object[attribute.key] = value; }, attribute.value);
  }
  return object;
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

std::string JsonlExporter::format_line(const spans::Span& span) {
  Json line;
  line["trace_id"] = spans::to_hex(span.trace_id);
  line["span_id"] = spans::to_hex(span.span_id);
  line["parent_span_id"] =
      spans::is_zero(span.parent_span_id) ? std::string() : spans::to_hex(span.parent_span_id);
  line["name"] = span.name;
  line["kind"] = spans::to_string(span.kind);
  line["start_time_unix_nano"] = span.start_time_unix_nano;
  line["end_time_unix_nano"] = span.end_time_unix_nano;
  line["status"] = {{"code", spans::to_string(span.status_code)}, {"message", span.status_message}};
  line["attributes"] = to_json(span.attributes);
  line["resource"] = span.resource ? to_json(span.resource->attributes) : Json::object();
  return line.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool JsonlExporter::export_spans(std::span<const spans::Span> batch) noexcept {
  bool complete = true;
  for (const spans::Span& span : batch) {
    try {
      const std::string line = format_line(span);
      std::fwrite(line.data(), 1, line.size(), out_);
      std::fputc('\n', out_);
    } catch (...) {  // std::bad_alloc: lose this span only
      complete = false;
    }
  }
  const bool written = std::fflush(out_) == 0 && std::ferror(out_) == 0;
  std::clearerr(out_);  // report each failed batch once, not every batch after it
  return complete && written;
}

void JsonlExporter::flush() noexcept { std::fflush(out_); }

}  // namespace ztrace::exporter
