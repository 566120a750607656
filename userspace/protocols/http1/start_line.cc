#include "userspace/protocols/http1/start_line.h"

#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ztrace::http1 {
namespace {

constexpr std::string_view kVersionPrefix = "HTTP/1.";

// Methods are tokens (RFC 9110 §9.1); every registered method is upper case letters and '-'.
// Accepting only [A-Z][A-Z0-9_-]* keeps JSON, TLS records, and lower-case text out.
bool is_method_char(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// request-target has no whitespace or control characters (RFC 9112 §3.2); bytes >= 0x80 are
// tolerated because some clients send raw UTF-8.
bool is_target_char(uint8_t c) { return c > 0x20 && c != 0x7f; }

// reason-phrase = *( HTAB / SP / VCHAR / obs-text ) (RFC 9112 §4).
bool is_reason_char(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

}  // namespace

StartLineScanner::StartLineScanner(MessageKind kind) : kind_(kind) { reset(); }

void StartLineScanner::reset() {
  step_ = kind_ == MessageKind::kRequest ? Step::kMethodFirst : Step::kVersion;
  count_ = 0;
}

ScanResult StartLineScanner::push(uint8_t c) { return advance(c); }

// Inlined into scan(): a call per byte would cost more than the check.
[[gnu::always_inline]] inline ScanResult StartLineScanner::advance(uint8_t c) {
  switch (step_) {
    case Step::kMethodFirst:
      if (c < 'A' || c > 'Z') return ScanResult::kInvalid;
      step_ = Step::kMethod;
      count_ = 1;
      return ScanResult::kNeedMore;
    case Step::kMethod:
      if (c == ' ') {
        step_ = Step::kTargetFirst;
        return ScanResult::kNeedMore;
      }
      if (!is_method_char(c) || ++count_ > kMaxMethodBytes) return ScanResult::kInvalid;
      return ScanResult::kNeedMore;
    case Step::kTargetFirst:
      if (!is_target_char(c)) return ScanResult::kInvalid;
      step_ = Step::kTarget;
      return ScanResult::kNeedMore;
    case Step::kTarget:
      if (c == ' ') {
        step_ = Step::kVersion;
        count_ = 0;
        return ScanResult::kNeedMore;
      }
      return is_target_char(c) ? ScanResult::kNeedMore : ScanResult::kInvalid;
    case Step::kVersion:
      if (c != static_cast<uint8_t>(kVersionPrefix[count_])) return ScanResult::kInvalid;
      if (++count_ == kVersionPrefix.size()) step_ = Step::kVersionMinor;
      return ScanResult::kNeedMore;
    case Step::kVersionMinor:
      if (c != '0' && c != '1') return ScanResult::kInvalid;
      step_ = Step::kAfterVersion;
      return ScanResult::kNeedMore;
    case Step::kAfterVersion:
      if (kind_ == MessageKind::kResponse) {
        if (c != ' ') return ScanResult::kInvalid;
        step_ = Step::kStatus;
        count_ = 0;
        return ScanResult::kNeedMore;
      }
      if (c == '\r') {
        step_ = Step::kLf;
        return ScanResult::kNeedMore;
      }
      return c == '\n' ? ScanResult::kComplete : ScanResult::kInvalid;
    case Step::kStatus:
      // status-code is 3 digits; only classes 1xx-5xx exist (RFC 9110 §15).
      if (c < '0' || c > '9' || (count_ == 0 && (c < '1' || c > '5'))) {
        return ScanResult::kInvalid;
      }
      if (++count_ == 3) step_ = Step::kAfterStatus;
      return ScanResult::kNeedMore;
    case Step::kAfterStatus:
      // Some servers omit the SP before an empty reason phrase; accept the line end too.
      if (c == ' ') {
        step_ = Step::kReason;
        return ScanResult::kNeedMore;
      }
      if (c == '\r') {
        step_ = Step::kLf;
        return ScanResult::kNeedMore;
      }
      return c == '\n' ? ScanResult::kComplete : ScanResult::kInvalid;
    case Step::kReason:
      if (c == '\r') {
        step_ = Step::kLf;
        return ScanResult::kNeedMore;
      }
      if (c == '\n') return ScanResult::kComplete;
      return is_reason_char(c) ? ScanResult::kNeedMore : ScanResult::kInvalid;
    case Step::kLf:
      return c == '\n' ? ScanResult::kComplete : ScanResult::kInvalid;
  }
  return ScanResult::kInvalid;
}

namespace {

// The index of the first byte from `i` that is not a target byte (or a space), at most `size`.
size_t skip_target_bytes(const uint8_t* bytes, size_t i, size_t size) {
#if defined(__SSE2__)
  // 16 bytes per step: every byte above 0x20 (unsigned) and not DEL.
  const __m128i min_byte = _mm_set1_epi8(0x21);
  const __m128i del = _mm_set1_epi8(0x7f);
  while (size - i >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + i));
    const __m128i above_space = _mm_cmpeq_epi8(_mm_max_epu8(x, min_byte), x);
    const __m128i ok = _mm_andnot_si128(_mm_cmpeq_epi8(x, del), above_space);
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(ok));
    if (mask != 0xffff) return i + static_cast<size_t>(std::countr_one(mask));
    i += 16;
  }
#endif
  while (i < size && bytes[i] != ' ' && is_target_char(bytes[i])) ++i;
  return i;
}

}  // namespace

ScanResult StartLineScanner::scan(std::string_view in, size_t* used) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(in.data());
  const size_t size = in.size();
  size_t i = 0;
  while (i < size) {
    // The long runs are skipped in loops of their own; advance() decides each byte that ends
    // one, exactly as it would have byte by byte.
    if (step_ == Step::kMethod) {
      while (i < size && count_ < kMaxMethodBytes && is_method_char(bytes[i])) {
        ++count_;
        ++i;
      }
    } else if (step_ == Step::kVersion && count_ == 0 && size - i >= kVersionPrefix.size() &&
               std::memcmp(bytes + i, kVersionPrefix.data(), kVersionPrefix.size()) == 0) {
      i += kVersionPrefix.size();
      step_ = Step::kVersionMinor;
      continue;
    } else if (step_ == Step::kTarget) {
      i = skip_target_bytes(bytes, i, size);
    } else if (step_ == Step::kReason) {
      while (i < size && bytes[i] != '\r' && bytes[i] != '\n' && is_reason_char(bytes[i])) ++i;
    }
    if (i == size) break;
    const ScanResult result = advance(bytes[i++]);
    if (result != ScanResult::kNeedMore) {
      *used = i;
      return result;
    }
  }
  *used = size;
  return ScanResult::kNeedMore;
}

StartLineFields parse_start_line(MessageKind kind, std::string_view line) {
  StartLineFields fields;
  if (kind == MessageKind::kRequest) {
    const size_t method_end = line.find(' ');
    if (method_end == std::string_view::npos) return fields;
    fields.method = line.substr(0, method_end);
    const size_t target_end = line.find(' ', method_end + 1);
    if (target_end == std::string_view::npos) return fields;
    fields.target = line.substr(method_end + 1, target_end - method_end - 1);
    const std::string_view version = line.substr(target_end + 1);
    if (version.size() > kVersionPrefix.size()) {
      fields.version_minor = version[kVersionPrefix.size()] - '0';
    }
    return fields;
  }
  // "HTTP/1.x SP ddd": the scanner validated every byte present.
  if (line.size() > kVersionPrefix.size()) fields.version_minor = line[kVersionPrefix.size()] - '0';
  constexpr size_t kStatusOffset = 9;
  if (line.size() >= kStatusOffset + 3) {
    fields.status_code = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  }
  return fields;
}

}  // namespace ztrace::http1
