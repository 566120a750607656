#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "userspace/common/duration.h"
#include "userspace/view/span_line.h"
#include "userspace/view/view_command.h"
#include "userspace/view/waterfall.h"

namespace fs = std::filesystem;
using namespace ztrace::view;

namespace {

const fs::path kTestdata = fs::path(ZTRACE_TESTDATA_DIR) / "view";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct ViewRun {
  int exit_code;
  std::string out;
  std::string notes;
};

ViewRun view(ViewOptions options) {
  std::ostringstream out;
  std::ostringstream notes;
  const int code = run_view(options, out, notes);
  return {code, out.str(), notes.str()};
}

// A span line with the fields the viewer reads.
std::string span_line(const std::string& trace, const std::string& span, const std::string& parent,
                      const std::string& service, uint64_t start_ms, uint64_t end_ms,
                      bool error = false) {
  return R"({"trace_id":")" + trace + R"(","span_id":")" + span + R"(","parent_span_id":")" +
         parent + R"(","name":"GET","kind":"SERVER","start_time_unix_nano":)" +
         std::to_string(1'800'000'000'000'000'000ULL + start_ms * 1'000'000) +
         R"(,"end_time_unix_nano":)" +
         std::to_string(1'800'000'000'000'000'000ULL + end_ms * 1'000'000) +
         R"(,"status":{"code":")" + (error ? "ERROR" : "UNSET") +
         R"(","message":""},"attributes":{"url.path":"/)" + span.substr(0, 2) +
         R"("},"resource":{"service.name":")" + service + R"("}})";
}

const std::string kTrace1 = "11111111111111111111111111111111";
const std::string kTrace2 = "22222222222222222222222222222222";

fs::path write_temp(const std::string& name, const std::string& content) {
  const fs::path path = fs::temp_directory_path() / ("ztrace-view-test-" + name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path;
}

}  // namespace

TEST_CASE(
    "view: a recorded curl -> nginx -> Java -> Go -> Node -> Python chain renders as one "
    "tree per request, exactly as expected") {
  ViewOptions options;
  options.files = {(kTestdata / "chain.jsonl").string()};
  const ViewRun run = view(options);
  CHECK(run.exit_code == 0);
  CHECK(run.out == read_file(kTestdata / "chain.txt"));
  CHECK(run.notes == "2 of 2 traces shown (24 spans read)\n");
}

TEST_CASE(
    "view: spans whose parent is missing hang under a marked row, never dropped; bad lines "
    "and a cut last line are noted") {
  const std::string file =
      span_line(kTrace1, "aaaaaaaaaaaaaaaa", "", "front", 0, 100) + "\n" + "not json\n" +
      span_line(kTrace1, "bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa", "middle", 10, 90) + "\n" +
      R"({"trace_id":"short"})"
      "\n" +
      span_line(kTrace1, "cccccccccccccccc", "ffffffffffffffff", "lost", 20, 30) + "\n" +
      // Parents that form a cycle: reached from no root, still shown.
      span_line(kTrace1, "dddddddddddddddd", "eeeeeeeeeeeeeeee", "loop", 40, 50) + "\n" +
      span_line(kTrace1, "eeeeeeeeeeeeeeee", "dddddddddddddddd", "loop", 40, 50) + "\n" +
      span_line(kTrace1, "9999999999999999", "", "cut", 0, 1).substr(0, 40);  // no line feed
  ViewOptions options;
  options.files = {write_temp("orphans.jsonl", file).string()};
  const ViewRun run = view(options);
  CHECK(run.exit_code == 0);
  INFO(run.out);
  CHECK(run.out.find("? parent not seen (ffffffffffffffff)") != std::string::npos);
  CHECK(run.out.find("└─ GET /cc") != std::string::npos);  // under the marker
  CHECK(run.out.find("└─ GET /bb") != std::string::npos);  // under its parent
  CHECK(run.out.find("↻ GET /dd") != std::string::npos);
  CHECK(run.out.find("5 spans") != std::string::npos);
  CHECK(run.notes.find("skipped 2 line(s) that are not spans (first: ") != std::string::npos);
  CHECK(run.notes.find("orphans.jsonl:2: not JSON)") != std::string::npos);
  CHECK(run.notes.find("1 file(s) end in a partial line") != std::string::npos);
}

TEST_CASE(
    "view: filters by service, errors, duration, trace id and time; --last keeps the latest") {
  const std::string file = span_line(kTrace1, "aaaaaaaaaaaaaaaa", "", "front", 0, 100) + "\n" +
                           span_line(kTrace2, "bbbbbbbbbbbbbbbb", "", "back", 200, 205, true) +
                           "\n";
  ViewOptions options;
  options.files = {write_temp("filters.jsonl", file).string()};
  const auto shows = [&](const ViewOptions& o, const std::string& trace) {
    return view(o).out.find("trace " + trace) != std::string::npos;
  };
  CHECK((shows(options, kTrace1) && shows(options, kTrace2)));
  ViewOptions by_service = options;
  by_service.filter.services = {"back"};
  CHECK((!shows(by_service, kTrace1) && shows(by_service, kTrace2)));
  ViewOptions errors = options;
  errors.filter.errors_only = true;
  CHECK((!shows(errors, kTrace1) && shows(errors, kTrace2)));
  ViewOptions slow = options;
  slow.filter.min_duration_ns = 50'000'000;
  CHECK((shows(slow, kTrace1) && !shows(slow, kTrace2)));
  ViewOptions one = options;
  one.filter.trace_id_prefix = "2222";
  CHECK((!shows(one, kTrace1) && shows(one, kTrace2)));
  ViewOptions later = options;
  later.filter.from_unix_ns = 1'800'000'000'000'000'000ULL + 150'000'000;
  CHECK((!shows(later, kTrace1) && shows(later, kTrace2)));
  ViewOptions last = options;
  last.last = 1;
  CHECK((!shows(last, kTrace1) && shows(last, kTrace2)));
  CHECK(view(errors).out.find("!ERR") != std::string::npos);
}

TEST_CASE("view: a missing file is a clear note and exit 1 when nothing could be read") {
  ViewOptions options;
  options.files = {"/nonexistent/spans.jsonl"};
  const ViewRun run = view(options);
  CHECK(run.exit_code == 1);
  CHECK(run.notes.find("note: cannot read /nonexistent/spans.jsonl: ") != std::string::npos);
}

TEST_CASE("view: durations and times on the command line") {
  CHECK(ztrace::parse_duration_ns("250ms", "ms") == 250'000'000u);
  CHECK(ztrace::parse_duration_ns("1.5s", "ms") == 1'500'000'000u);
  CHECK(ztrace::parse_duration_ns("800us", "ms") == 800'000u);
  CHECK(ztrace::parse_duration_ns("100", "ms") == 100'000'000u);
  CHECK_FALSE(ztrace::parse_duration_ns("fast", "ms").has_value());
  CHECK_FALSE(ztrace::parse_duration_ns("5 parsecs", "ms").has_value());
  CHECK(parse_time_unix_ns("2026-12-05T12:00:00Z") == 1796472000'000'000'000ULL);
  CHECK(parse_time_unix_ns("2026-12-05T12:00:00.25Z") == 1796472000'250'000'000ULL);
  CHECK(parse_time_unix_ns("1796472000") == 1796472000'000'000'000ULL);
  CHECK_FALSE(parse_time_unix_ns("yesterday").has_value());
  CHECK(format_time(1796472000'250'000'000ULL) == "2026-12-05T12:00:00.250Z");
  CHECK(format_duration(1'234'567) == "1.235 ms");
}
