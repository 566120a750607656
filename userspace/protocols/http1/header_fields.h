#pragma once

// Header field syntax helpers (RFC 9110 §5, RFC 9112 §5): splitting a field line, comparing
// names case-insensitively, and the values that decide message framing.

#include <cstdint>
#include <optional>
#include <string_view>

namespace ztrace::http1 {

struct HeaderField {
  std::string_view name;
  std::string_view value;  // without surrounding optional whitespace
};

// tchar (RFC 9110 §5.6.2).
bool is_token_char(uint8_t c);

// `line` is one field line without its CRLF. nullopt: not "token ':' OWS value OWS", or the
// value holds NUL/CR/LF (RFC 9110 §5.5), which no real peer sends.
std::optional<HeaderField> split_field_line(std::string_view line);

// `lower_name` must be lower case.
bool name_equals(std::string_view name, std::string_view lower_name);

// The fields the parser reads; every other field is only checked for syntax.
enum class KnownField : uint8_t {
  kOther,
  kContentLength,
  kTransferEncoding,
  kHost,
  kUserAgent,
  kTraceparent,
  kTracestate,
};

// Matched by length first, so that most names cost one compare and no case folding.
KnownField classify_field_name(std::string_view name);

// Content-Length (RFC 9110 §8.6): digits, or a list of identical values ("5, 5").
// nullopt: invalid, which makes the framing unknowable (RFC 9112 §6.3 rule 5).
std::optional<uint64_t> parse_content_length(std::string_view value);

// True when the last transfer coding of a Transfer-Encoding value is "chunked"
// (RFC 9112 §6.3 rule 4).
bool last_coding_is_chunked(std::string_view value);

}  // namespace ztrace::http1
