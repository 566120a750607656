#include "userspace/protocols/http1/header_fields.h"

#include <array>
#include <cstring>

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

namespace {

constexpr uint64_t kOnes = 0x0101010101010101;

// Nonzero when a byte of `word` is zero (the classic test; exact for "any byte").
uint64_t zero_byte_bits(uint64_t word) { return (word - kOnes) & ~word & (kOnes * 0x80); }

// A field value is checked 8 bytes per step: a byte is NUL, or equal to CR or LF.
bool has_nul_cr_or_lf(uint64_t word) {
  return zero_byte_bits(word) | zero_byte_bits(word ^ (kOnes * '\r')) |
         zero_byte_bits(word ^ (kOnes * '\n'));
}

bool value_is_clean(std::string_view value) {
  const char* p = value.data();
  size_t n = value.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof word);
    if (has_nul_cr_or_lf(word)) return false;
  }
  for (; n > 0; ++p, --n) {
    if (*p == '\0' || *p == '\r' || *p == '\n') return false;
  }
  return true;
}

}  // namespace

std::optional<HeaderField> split_field_line(std::string_view line) {
  // The name runs over token bytes up to the colon: no whitespace between name and colon
  // (RFC 9112 §5.1), a request smuggling vector.
  size_t colon = 0;
  while (colon < line.size() && kTokenTable[static_cast<uint8_t>(line[colon])]) ++colon;
  if (colon == 0 || colon == line.size() || line[colon] != ':') return std::nullopt;
  const std::string_view value = trim_ows(line.substr(colon + 1));
  if (!value_is_clean(value)) return std::nullopt;
  return HeaderField{line.substr(0, colon), value};
}

bool name_equals(std::string_view name, std::string_view lower_name) {
  if (name.size() != lower_name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (to_lower_ascii(name[i]) != lower_name[i]) return false;
  }
  return true;
}

KnownField classify_field_name(std::string_view name) {
  switch (name.size()) {
    case 4:
      return name_equals(name, "host") ? KnownField::kHost : KnownField::kOther;
    case 10:
      if (name_equals(name, "user-agent")) return KnownField::kUserAgent;
      return name_equals(name, "tracestate") ? KnownField::kTracestate : KnownField::kOther;
    case 11:
      return name_equals(name, "traceparent") ? KnownField::kTraceparent : KnownField::kOther;
    case 14:
      return name_equals(name, "content-length") ? KnownField::kContentLength : KnownField::kOther;
    case 17:
      return name_equals(name, "transfer-encoding") ? KnownField::kTransferEncoding
                                                    : KnownField::kOther;
    default:
      return KnownField::kOther;
  }
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
