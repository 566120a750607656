// Start-line scanner and header-field helpers of the HTTP/1 parser.

#include <catch2/catch_test_macros.hpp>
#include <string>
#include <string_view>

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

}  // namespace
}  // namespace ztrace::http1
