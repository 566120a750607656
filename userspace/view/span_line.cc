#include "userspace/view/span_line.h"

#include <nlohmann/json.hpp>

namespace ztrace::view {
namespace {

using nlohmann::json;

std::string string_at(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A status-like attribute as text (integers and strings alike).
std::string scalar_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  return "";
}

// The protocol's own outcome, first found: HTTP status, gRPC status, SQLSTATE, ...
std::string outcome_of(const json& attributes) {
  for (const char* key : {"http.response.status_code", "rpc.grpc.status_code",
                          "db.response.status_code", "error.type"}) {
    const auto it = attributes.find(key);
    if (it != attributes.end()) return scalar_text(*it);
  }
  return "";
}

// What the name alone does not say: the path of an HTTP span named by its method only, or
// the peer of a client span.
std::string detail_of(const std::string& name, const json& attributes) {
  const auto path = attributes.find("url.path");
  if (path != attributes.end() && path->is_string() && name.find('/') == std::string::npos) {
    return path->get<std::string>();
  }
  return "";
}

}  // namespace

bool parse_span_line(std::string_view line, ViewSpan* span, std::string* error) {
  const json object = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) {
    *error = "not JSON";
    return false;
  }
  if (!object.is_object()) {
    *error = "not a JSON object";
    return false;
  }
  span->trace_id = string_at(object, "trace_id");
  span->span_id = string_at(object, "span_id");
  if (span->trace_id.size() != 32 || span->span_id.size() != 16) {
    *error = "no trace_id (32 hex) or span_id (16 hex)";
    return false;
  }
  span->parent_span_id = string_at(object, "parent_span_id");
  span->name = string_at(object, "name");
  span->kind = string_at(object, "kind");
  const auto start = object.find("start_time_unix_nano");
  const auto end = object.find("end_time_unix_nano");
  if (start == object.end() || end == object.end() || !start->is_number_unsigned() ||
      !end->is_number_unsigned()) {
    *error = "no start_time_unix_nano or end_time_unix_nano";
    return false;
  }
  span->start_ns = start->get<uint64_t>();
  span->end_ns = end->get<uint64_t>();
  if (const auto status = object.find("status"); status != object.end() && status->is_object()) {
    span->error = string_at(*status, "code") == "ERROR";
    span->status_message = string_at(*status, "message");
  }
  static const json kNone = json::object();
  const auto attributes_it = object.find("attributes");
  const json& attributes =
      attributes_it != object.end() && attributes_it->is_object() ? *attributes_it : kNone;
  span->outcome = outcome_of(attributes);
  span->detail = detail_of(span->name, attributes);
  span->attributes_json = attributes.dump();
  if (const auto resource = object.find("resource");
      resource != object.end() && resource->is_object()) {
    span->service = string_at(*resource, "service.name");
  }
  span->links.clear();
  if (const auto links = object.find("links"); links != object.end() && links->is_array()) {
    for (const auto& link : *links) {
      if (link.is_object()) {
        span->links.push_back({string_at(link, "trace_id"), string_at(link, "span_id")});
      }
    }
  }
  return true;
}

}  // namespace ztrace::view
