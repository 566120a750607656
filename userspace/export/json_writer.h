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

}  // namespace ztrace::exporter::json
