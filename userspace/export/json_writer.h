#pragma once

// Appends JSON text to a string, without building a document first: the JSONL exporter writes
// a line per span at the rate the pipeline builds them. Strings come from captured traffic:
// invalid UTF-8 is replaced by U+FFFD, so every line stays valid JSON.

#include <cstdint>
#include <string>
#include <string_view>

namespace ztrace::exporter::json {

// A JSON string literal of `text`, quotes included.
void append_string(std::string& out, std::string_view text);
void append_int(std::string& out, int64_t value);
void append_uint(std::string& out, uint64_t value);
// Shortest round-trip form, always with a fraction or exponent (so it reads back as a
// float); NaN and infinities, which JSON cannot hold, as null.
void append_double(std::string& out, double value);
inline void append_bool(std::string& out, bool value) { out += value ? "true" : "false"; }

// One JSON object, open while this lives: key() writes the separator and the key and returns
// the string to append the member's value to.
class Object {
 public:
  explicit Object(std::string& out) : out_(out) { out_ += '{'; }
  ~Object() { out_ += '}'; }
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;

  std::string& key(std::string_view name) {
    if (members_++) out_ += ',';
    append_string(out_, name);
    out_ += ':';
    return out_;
  }

 private:
  std::string& out_;
  size_t members_ = 0;
};

}  // namespace ztrace::exporter::json
