#include "userspace/protocols/http1/header_fields.h"

#include <array>

namespace ztrace::http1 {
namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

char to_lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// 18 digits cannot overflow uint64_t and exceed any real body (1 EB).
constexpr size_t kMaxContentLengthDigits = 18;

}  // namespace

namespace {

// Every field name byte goes through this: a table, not a search.
constexpr std::array<bool, 256> make_token_table() {
  std::array<bool, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<uint8_t>(c)] = true;
  return table;
}
constexpr std::array<bool, 256> kTokenTable = make_token_table();

}  // namespace

bool is_token_char(uint8_t c) { return kTokenTable[c]; }

std::optional<HeaderField> split_field_line(std::string_view line) {
  const size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) return std::nullopt;
  const std::string_view name = line.substr(0, colon);
  // No whitespace between name and colon (RFC 9112 §5.1): request smuggling vector.
  for (char c : name) {
    if (!is_token_char(static_cast<uint8_t>(c))) return std::nullopt;
  }
  const std::string_view value = trim_ows(line.substr(colon + 1));
  for (char c : value) {
    if (c == '\0' || c == '\r' || c == '\n') return std::nullopt;
  }
  return HeaderField{name, value};
}

bool name_equals(std::string_view name, std::string_view lower_name) {
  if (name.size() != lower_name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (to_lower_ascii(name[i]) != lower_name[i]) return false;
  }
  return true;
}

std::optional<uint64_t> parse_content_length(std::string_view value) {
  std::optional<uint64_t> result;
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view item = trim_ows(value.substr(0, comma));
    if (item.empty() || item.size() > kMaxContentLengthDigits) return std::nullopt;
    uint64_t length = 0;
    for (char c : item) {
      if (c < '0' || c > '9') return std::nullopt;
      length = length * 10 + static_cast<uint64_t>(c - '0');
    }
    if (result && *result != length) return std::nullopt;
    result = length;
    if (comma == std::string_view::npos) return result;
    value.remove_prefix(comma + 1);
  }
}

bool last_coding_is_chunked(std::string_view value) {
  const size_t comma = value.rfind(',');
  std::string_view last = comma == std::string_view::npos ? value : value.substr(comma + 1);
  // Drop transfer-parameters (";q=..." is not valid on chunked, but be tolerant).
  last = trim_ows(last.substr(0, last.find(';')));
  return name_equals(last, "chunked");
}

}  // namespace ztrace::http1
