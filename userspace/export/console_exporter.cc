#include "userspace/export/console_exporter.h"

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <string_view>
#include <variant>

#include "userspace/spans/semconv.h"

namespace ztrace::exporter {

namespace {

const std::string* find_string(const spans::Attributes& attributes, std::string_view key) {
  for (const spans::Attribute& attribute : attributes) {
    if (attribute.key == key) return std::get_if<std::string>(&attribute.value);
  }
  return nullptr;
}

const int64_t* find_int(const spans::Attributes& attributes, std::string_view key) {
  for (const spans::Attribute& attribute : attributes) {
    if (attribute.key == key) return std::get_if<int64_t>(&attribute.value);
  }
  return nullptr;
}

}  // namespace

std::string ConsoleExporter::format_line(const spans::Span& span) {
  std::string line(spans::to_string(span.kind));
  line += ' ';
  line += span.name;
  // HTTP span names are "METHOD" or "METHOD route"; the concrete path adds what was called.
  if (const std::string* path = find_string(span.attributes, semconv::url::kUrlPath);
      path != nullptr && span.name.find(*path) == std::string::npos) {
    line += ' ';
    line += *path;
  }
  if (const int64_t* status = find_int(span.attributes, semconv::http::kHttpResponseStatusCode)) {
    line += ' ';
    line += std::to_string(*status);
  } else if (const int64_t* grpc_status =
                 find_int(span.attributes, semconv::rpc::kRpcGrpcStatusCode)) {
    line += " grpc=";
    line += std::to_string(*grpc_status);
  }
  if (span.status_code == spans::StatusCode::kError) {
    line += " ERROR";
    if (!span.status_message.empty()) {
      line += " (";
      line += span.status_message;
      line += ')';
    }
  }

  const uint64_t duration_ns = span.end_time_unix_nano > span.start_time_unix_nano
                                   ? span.end_time_unix_nano - span.start_time_unix_nano
                                   : 0;
  char duration[48];
  std::snprintf(duration, sizeof(duration), "  %" PRIu64 ".%03" PRIu64 "ms",
                duration_ns / 1'000'000, (duration_ns / 1'000) % 1'000);
  line += duration;

  line += "  ";
  const std::string* service = nullptr;
  const int64_t* pid = nullptr;
  if (span.resource) {
    service = find_string(span.resource->attributes, semconv::service::kServiceName);
    pid = find_int(span.resource->attributes, semconv::process::kProcessPid);
  }
  line += service != nullptr ? *service : std::string("unknown_service");
  if (pid != nullptr) {
    line += '[';
    line += std::to_string(*pid);
    line += ']';
  }

  line += "  trace=";
  line += spans::to_hex(span.trace_id);
  line += " span=";
  line += spans::to_hex(span.span_id);
  line += " parent=";
  line +=
      spans::is_zero(span.parent_span_id) ? std::string("-") : spans::to_hex(span.parent_span_id);
  return line;
}

ExportResult ConsoleExporter::export_spans(std::span<const spans::Span> batch) noexcept {
  try {
    for (const spans::Span& span : batch) {
      const std::string line = format_line(span);
      std::fwrite(line.data(), 1, line.size(), out_);
      std::fputc('\n', out_);
    }
  } catch (...) {  // std::bad_alloc: the batch is lost, the agent goes on
    return {.refused = batch.size()};
  }
  errno = 0;
  const bool written = std::fflush(out_) == 0 && std::ferror(out_) == 0;
  const int write_errno = errno != 0 ? errno : EIO;
  std::clearerr(out_);  // report each failed batch once, not every batch after it
  if (written) return ExportResult::all_accepted(batch.size());
  try {
    errors_.error(std::strerror(write_errno),
                  "console output: write failed (" + std::string(std::strerror(write_errno)) +
                      "): " + std::to_string(batch.size()) + " spans lost");
  } catch (...) {  // std::bad_alloc: the loss is counted all the same
  }
  return {.write_failed = batch.size()};
}

void ConsoleExporter::flush() noexcept { std::fflush(out_); }

}  // namespace ztrace::exporter
