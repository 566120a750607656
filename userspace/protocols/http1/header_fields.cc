#include "userspace/protocols/http1/header_fields.h"

#include <array>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ztrace::http1 {
namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) {
  const char* begin = s.data();
  const char* end = begin + s.size();
  while (begin < end && is_ows(*begin)) ++begin;
  while (end > begin && is_ows(end[-1])) --end;
  return {begin, static_cast<size_t>(end - begin)};
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

// Without SSE2, or for short lines, 8 bytes per step: a byte is NUL, or equal to CR or LF.
bool has_nul_cr_or_lf(uint64_t word) {
  return zero_byte_bits(word) | zero_byte_bits(word ^ (kOnes * '\r')) |
         zero_byte_bits(word ^ (kOnes * '\n'));
}

bool bytes_are_clean(const char* p, size_t n) {
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

#if defined(__SSE2__)
__m128i load16(const char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// Bit i set: byte i of `x` is a letter, a digit or '-', the bytes of almost every field name.
unsigned common_name_bytes(__m128i x) {
  const __m128i lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
  // Signed compares: bytes >= 0x80 are negative, so never a letter or a digit.
  const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                       _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
  const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                      _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
  const __m128i dash = _mm_cmpeq_epi8(x, _mm_set1_epi8('-'));
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), dash)));
}

// Nonzero when one of the 16 bytes at `p` is NUL, CR or LF.
unsigned nul_cr_or_lf_bytes(const char* p) {
  const __m128i x = load16(p);
  const __m128i bad = _mm_or_si128(
      _mm_or_si128(_mm_cmpeq_epi8(x, _mm_setzero_si128()), _mm_cmpeq_epi8(x, _mm_set1_epi8('\r'))),
      _mm_cmpeq_epi8(x, _mm_set1_epi8('\n')));
  return static_cast<unsigned>(_mm_movemask_epi8(bad));
}
#endif

// The number of tchar bytes that start `line`.
size_t token_prefix_length(std::string_view line) {
  size_t i = 0;
#if defined(__SSE2__)
  // 16 bytes per step while they are common name bytes; the table decides the first other one.
  while (i + 16 <= line.size()) {
    const unsigned common = common_name_bytes(load16(line.data() + i));
    if (common != 0xffff) {
      i += static_cast<size_t>(std::countr_one(common));
      break;
    }
    i += 16;
  }
#endif
  while (i < line.size() && kTokenTable[static_cast<uint8_t>(line[i])]) ++i;
  return i;
}

// No NUL, CR or LF anywhere in `line`.
bool line_is_clean(std::string_view line) {
#if defined(__SSE2__)
  if (line.size() >= 16) {
    // Whole blocks, then one block ending at the line's end (it may overlap the one before).
    const char* p = line.data();
    const char* last = p + line.size() - 16;
    for (; p < last; p += 16) {
      if (nul_cr_or_lf_bytes(p)) return false;
    }
    return nul_cr_or_lf_bytes(last) == 0;
  }
#endif
  return bytes_are_clean(line.data(), line.size());
}

}  // namespace

std::optional<HeaderField> split_field_line(std::string_view line) {
  // The name runs over token bytes up to the colon: no whitespace between name and colon
  // (RFC 9112 §5.1), a request smuggling vector.
  const size_t colon = token_prefix_length(line);
  if (colon == 0 || colon == line.size() || line[colon] != ':') return std::nullopt;
  // The value must hold no NUL, CR or LF. The name and colon hold none either, so the whole
  // line is checked: whole blocks, and no separate pass over the value.
  if (!line_is_clean(line)) return std::nullopt;
  return HeaderField{line.substr(0, colon), trim_ows(line.substr(colon + 1))};
}

bool name_equals(std::string_view name, std::string_view lower_name) {
  if (name.size() != lower_name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (to_lower_ascii(name[i]) != lower_name[i]) return false;
  }
  return true;
}

namespace {

template <typename Word>
Word load_word(const char* p) {
  Word word;
  std::memcpy(&word, p, sizeof word);
  return word;
}

// `name` (tchar only, as split_field_line found it) equals `lower_name` (letters and '-',
// the same size, at least 4 bytes) but for case, compared a word at a time: setting bit 5
// folds A-Z to a-z and changes no other tchar into a letter or '-'.
bool is_name(std::string_view name, std::string_view lower_name) {
  const size_t n = name.size();
  const char* a = name.data();
  const char* b = lower_name.data();
  if (n < 8) {  // two 4-byte words, overlapping
    constexpr uint32_t kFold = 0x20202020;
    return ((load_word<uint32_t>(a) | kFold) == load_word<uint32_t>(b)) &&
           ((load_word<uint32_t>(a + n - 4) | kFold) == load_word<uint32_t>(b + n - 4));
  }
  constexpr uint64_t kFold = kOnes * 0x20;
  for (size_t i = 0; i + 8 < n; i += 8) {
    if ((load_word<uint64_t>(a + i) | kFold) != load_word<uint64_t>(b + i)) return false;
  }
  return (load_word<uint64_t>(a + n - 8) | kFold) == load_word<uint64_t>(b + n - 8);
}

}  // namespace

KnownField classify_field_name(std::string_view name) {
  switch (name.size()) {
    case 4:
      return is_name(name, "host") ? KnownField::kHost : KnownField::kOther;
    case 10:
      if (is_name(name, "user-agent")) return KnownField::kUserAgent;
      return is_name(name, "tracestate") ? KnownField::kTracestate : KnownField::kOther;
    case 11:
      return is_name(name, "traceparent") ? KnownField::kTraceparent : KnownField::kOther;
    case 14:
      return is_name(name, "content-length") ? KnownField::kContentLength : KnownField::kOther;
    case 17:
      return is_name(name, "transfer-encoding") ? KnownField::kTransferEncoding
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
