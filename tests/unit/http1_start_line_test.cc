// Start-line scanner and header-field helpers of the HTTP/1 parser.

#include <catch2/catch_test_macros.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "userspace/protocols/http1/header_fields.h"
#include "userspace/protocols/http1/start_line.h"

namespace ztrace::http1 {
namespace {

// Result of pushing `line` byte by byte; stops at the first non-kNeedMore result.
ScanResult scan(MessageKind kind, std::string_view line) {
  StartLineScanner scanner(kind);
  for (char c : line) {
    const ScanResult r = scanner.push(static_cast<uint8_t>(c));
    if (r != ScanResult::kNeedMore) return r;
  }
  return ScanResult::kNeedMore;
}

TEST_CASE("http1 request lines", "[http1]") {
  for (std::string_view line :
       {"GET / HTTP/1.1\r\n", "POST /a?b=c HTTP/1.0\r\n", "GET / HTTP/1.1\n",
        "OPTIONS * HTTP/1.1\r\n", "CONNECT db:5432 HTTP/1.1\r\n", "M-SEARCH * HTTP/1.1\r\n",
        "BASELINE-CONTROL /x HTTP/1.1\r\n", "GET http://h/p HTTP/1.1\r\n",
        "GET /caf\xc3\xa9 HTTP/1.1\r\n"}) {
    INFO(line);
    CHECK(scan(MessageKind::kRequest, line) == ScanResult::kComplete);
  }
  for (std::string_view line :
       {"get / HTTP/1.1\r\n", "GET  / HTTP/1.1\r\n", "GET / HTTP/1.1 \r\n", "GET / HTTP/2.0\r\n",
        "GET / HTTP/1.2\r\n", "GET / http/1.1\r\n", "GET /a\tb HTTP/1.1\r\n", "GET / HTTP/1.1\rX",
        "1GET / HTTP/1.1\r\n", "GE.T / HTTP/1.1\r\n", "{\"json\": 1}", "\x16\x03\x01",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n", "GET /\x7f HTTP/1.1\r\n"}) {
    INFO(line);
    CHECK(scan(MessageKind::kRequest, line) == ScanResult::kInvalid);
  }
  // Every proper prefix of a valid line needs more data.
  const std::string_view valid = "DELETE /items/7 HTTP/1.1\r\n";
  for (size_t n = 0; n < valid.size(); ++n) {
    CHECK(scan(MessageKind::kRequest, valid.substr(0, n)) == ScanResult::kNeedMore);
  }
}

TEST_CASE("http1 status lines", "[http1]") {
  for (std::string_view line : {"HTTP/1.1 200 OK\r\n", "HTTP/1.0 404 Not Found\r\n",
                                "HTTP/1.1 204 \r\n", "HTTP/1.1 200\r\n", "HTTP/1.1 599 x\n",
                                "HTTP/1.1 100 Continue\r\n", "HTTP/1.1 200 \xc3\x9c\tber\r\n"}) {
    INFO(line);
    CHECK(scan(MessageKind::kResponse, line) == ScanResult::kComplete);
  }
  for (std::string_view line :
       {"HTTP/1.1 600 X\r\n", "HTTP/1.1 099 X\r\n", "HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000 OK\r\n",
        "HTTP/2 200\r\n", "HTTP/1.1  200 OK\r\n", "http/1.1 200 OK\r\n", "HTTP/1.1 200 O\x01K\r\n",
        "GET / HTTP/1.1\r\n"}) {
    INFO(line);
    CHECK(scan(MessageKind::kResponse, line) == ScanResult::kInvalid);
  }
}

// scan() over `line` cut into two pieces at `cut` (the whole line when cut is 0): the result,
// and the bytes used in all, as push() would have given them byte by byte.
std::pair<ScanResult, size_t> scan_in_pieces(MessageKind kind, std::string_view line, size_t cut) {
  StartLineScanner scanner(kind);
  size_t used = 0;
  ScanResult r = scanner.scan(line.substr(0, cut), &used);
  if (r != ScanResult::kNeedMore) return {r, used};
  size_t rest_used = 0;
  r = scanner.scan(line.substr(cut), &rest_used);
  return {r, cut + rest_used};
}

std::pair<ScanResult, size_t> push_bytes(MessageKind kind, std::string_view line) {
  StartLineScanner scanner(kind);
  for (size_t i = 0; i < line.size(); ++i) {
    const ScanResult r = scanner.push(static_cast<uint8_t>(line[i]));
    if (r != ScanResult::kNeedMore) return {r, i + 1};
  }
  return {ScanResult::kNeedMore, line.size()};
}

TEST_CASE("http1 scan() in any two pieces equals push() byte by byte", "[http1]") {
  std::vector<std::pair<MessageKind, std::string>> lines;
  for (std::string_view line :
       {"GET / HTTP/1.1\r\nHost: x\r\n", "BASELINE-CONTROL /x HTTP/1.1\r\n",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n", "ABCDEFGHIJKLMNOPQRSTUVWX / HTTP/1.1\r\n",
        "GET / HTTP/1.0\n", "GET / HTTP/1.2\r\n", "GET / HTTP/1\r\n", "GET / HTTX/1.1\r\n"}) {
    lines.emplace_back(MessageKind::kRequest, line);
  }
  for (std::string_view line : {"HTTP/1.1 200 OK\r\nServer: x\r\n", "HTTP/1.0 404 Not Found\r\n",
                                "HTTP/1.1 200 O\x01K\r\n", "HTTP/1.x 200 OK\r\n", "HTTP/1."}) {
    lines.emplace_back(MessageKind::kResponse, line);
  }
  // Long targets with one byte that ends the target (or does not) at each position.
  for (size_t at = 0; at < 40; ++at) {
    for (const char c : {' ', '\t', '\x7f', '\x80', '\xff', '\0', '\r', '\n', '~', '!'}) {
      std::string target(40, 'a');
      target[at] = c;
      lines.emplace_back(MessageKind::kRequest, "GET /" + target + " HTTP/1.1\r\n");
    }
  }
  for (const auto& [kind, line] : lines) {
    const auto want = push_bytes(kind, line);
    for (size_t cut = 0; cut <= line.size(); ++cut) {
      INFO(line << " cut at " << cut);
      const auto got = scan_in_pieces(kind, line, cut);
      CHECK(got.first == want.first);
      CHECK(got.second == want.second);
    }
  }
}

TEST_CASE("http1 start line fields, whole and cut", "[http1]") {
  StartLineFields f = parse_start_line(MessageKind::kRequest, "PATCH /a/b?c HTTP/1.0");
  CHECK(f.method == "PATCH");
  CHECK(f.target == "/a/b?c");
  CHECK(f.version_minor == 0);
  f = parse_start_line(MessageKind::kRequest, "PATCH /a/b");
  CHECK(f.method == "PATCH");
  CHECK(f.target.empty());
  CHECK(f.version_minor == -1);
  f = parse_start_line(MessageKind::kRequest, "PAT");
  CHECK(f.method.empty());
  f = parse_start_line(MessageKind::kResponse, "HTTP/1.0 503 Busy");
  CHECK(f.status_code == 503);
  CHECK(f.version_minor == 0);
  f = parse_start_line(MessageKind::kResponse, "HTTP/1.1 50");
  CHECK(f.status_code == 0);
  CHECK(f.version_minor == 1);
}

TEST_CASE("http1 header field helpers", "[http1]") {
  auto field = split_field_line("Content-Type: \t text/plain \t");
  REQUIRE(field);
  CHECK(field->name == "Content-Type");
  CHECK(field->value == "text/plain");
  field = split_field_line("X-Empty:");
  REQUIRE(field);
  CHECK(field->value.empty());
  CHECK_FALSE(split_field_line("Host : x"));
  CHECK_FALSE(split_field_line(": x"));
  CHECK_FALSE(split_field_line("no colon"));
  CHECK_FALSE(split_field_line("Bad(Name): x"));
  CHECK_FALSE(split_field_line(std::string_view("X: a\0b", 6)));

  CHECK(name_equals("CoNtEnT-LeNgTh", "content-length"));
  CHECK_FALSE(name_equals("content-lengths", "content-length"));

  CHECK(parse_content_length("0") == 0u);
  CHECK(parse_content_length("12345") == 12345u);
  CHECK(parse_content_length("7, 7 ,7") == 7u);
  CHECK_FALSE(parse_content_length("7, 8"));
  CHECK_FALSE(parse_content_length(""));
  CHECK_FALSE(parse_content_length("-1"));
  CHECK_FALSE(parse_content_length("1 2"));
  CHECK_FALSE(parse_content_length("0x10"));
  CHECK_FALSE(parse_content_length("1234567890123456789"));  // 19 digits: refuse, no overflow

  CHECK(last_coding_is_chunked("chunked"));
  CHECK(last_coding_is_chunked("gzip, Chunked"));
  CHECK(last_coding_is_chunked("gzip,chunked "));
  CHECK_FALSE(last_coding_is_chunked("chunked, gzip"));
  CHECK_FALSE(last_coding_is_chunked("identity"));
}

// The grammar byte by byte (RFC 9110 §5.1, §5.5; RFC 9112 §5.1), to hold the block-wise
// split_field_line to.
std::optional<HeaderField> reference_split(std::string_view line) {
  size_t colon = 0;
  while (colon < line.size() && is_token_char(static_cast<uint8_t>(line[colon]))) ++colon;
  if (colon == 0 || colon == line.size() || line[colon] != ':') return std::nullopt;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  for (char c : value) {
    if (c == '\0' || c == '\r' || c == '\n') return std::nullopt;
  }
  return HeaderField{line.substr(0, colon), value};
}

TEST_CASE("http1 split_field_line equals the byte-by-byte grammar at every length and position",
          "[http1]") {
  // Bytes that end a name, break a value, or sit at a block edge.
  const std::string_view specials(
      "\0\r\n \t:_(~\x80\xff\x7f"
      "Az9-",
      17);
  size_t checked = 0;
  for (size_t name_bytes = 1; name_bytes <= 40; ++name_bytes) {
    for (size_t value_bytes = 0; value_bytes <= 40; value_bytes += 3) {
      std::string line(name_bytes, 'n');
      line[0] = 'X';
      line += ": ";
      line.append(value_bytes, 'v');
      for (size_t at = 0; at < line.size(); ++at) {
        for (char special : specials) {
          std::string changed = line;
          changed[at] = special;
          const auto got = split_field_line(changed);
          const auto want = reference_split(changed);
          REQUIRE(got.has_value() == want.has_value());
          if (got) {
            REQUIRE(got->name == want->name);
            REQUIRE(got->value == want->value);
          }
          ++checked;
        }
      }
    }
  }
  CHECK(checked > 100000);
}

TEST_CASE("http1 classify_field_name matches names in any case and nothing else", "[http1]") {
  const std::pair<std::string_view, KnownField> known[] = {
      {"host", KnownField::kHost},
      {"user-agent", KnownField::kUserAgent},
      {"tracestate", KnownField::kTracestate},
      {"traceparent", KnownField::kTraceparent},
      {"content-length", KnownField::kContentLength},
      {"transfer-encoding", KnownField::kTransferEncoding},
  };
  // Every tchar that is not a letter, and letters of both cases.
  const std::string_view replacements = "!#$%&'*+-.^_`|~09AZaz";
  for (const auto& [name, field] : known) {
    std::string upper(name);
    for (char& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
    CHECK(classify_field_name(name) == field);
    CHECK(classify_field_name(upper) == field);
    for (size_t at = 0; at < name.size(); ++at) {
      for (char replacement : replacements) {
        std::string changed(name);
        changed[at] = replacement;
        const KnownField want = name_equals(changed, name) ? field : KnownField::kOther;
        INFO(changed);
        CHECK(classify_field_name(changed) == want);
      }
    }
  }
  CHECK(classify_field_name("Date") == KnownField::kOther);
  CHECK(classify_field_name("Connection") == KnownField::kOther);
}

}  // namespace
}  // namespace ztrace::http1
